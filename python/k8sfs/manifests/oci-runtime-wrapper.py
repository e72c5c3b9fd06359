#!/usr/bin/python3
# Written by k8sfs for cluster {{ cluster }}: CRI-O's OCI runtime, crun,
# behind adjustments to a container's spec, made on `create` only.
# - Spec version: crun before 1.9 (Debian bookworm's 1.8.1) refuses a spec
#   whose ociVersion is newer than its own ("unknown version specified"),
#   and CRI-O 1.3x writes 1.2.x. The fields such a spec holds are ones crun
#   reads or ignores, so the version is set to the one crun reports. Such a
#   crun also writes a pids limit of -1 ("no limit" since OCI 1.1) to
#   pids.max as is, which the kernel refuses: no limit is left unset.
# - On hosts that are containers (host_profile: container): such a host
#   cannot lower oom_score_adj below its own (no CAP_SYS_RESOURCE), so a
#   container whose spec asks for less starts at the host's value instead,
#   as containerd's restrict_oom_score_adj does. And a hugetlb limit is
#   dropped where the host has no hugetlb controller mounted (crun would
#   fail to open its cgroup); the host's own cgroup still bounds it.
import json
import os
import subprocess
import sys

RUNTIME = "{{ runtime }}"
CONTAINER_HOST = "{{ container_host }}" == "True"


def runtime_spec_version() -> str:
    out = subprocess.run([RUNTIME, "--version"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("spec:"):
            return line.split(":", 1)[1].strip()
    return ""


args = sys.argv[1:]
bundle = None
for i, arg in enumerate(args):
    if arg in ("--bundle", "-b") and i + 1 < len(args):
        bundle = args[i + 1]
    elif arg.startswith("--bundle="):
        bundle = arg.split("=", 1)[1]
if "create" in args and bundle:
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        spec = json.load(f)
    changed = False
    own = runtime_spec_version()
    if own.startswith("1.0.") and not str(spec.get("ociVersion", "")).startswith("1.0."):
        spec["ociVersion"] = own
        changed = True
        resources = (spec.get("linux") or {}).get("resources") or {}
        if (resources.get("pids") or {}).get("limit", 1) < 0:
            del resources["pids"]
    if CONTAINER_HOST:
        with open("/proc/self/oom_score_adj") as f:
            floor = int(f.read())
        process = spec.get("process") or {}
        if process.get("oomScoreAdj", floor) < floor:
            process["oomScoreAdj"] = floor
            changed = True
        resources = (spec.get("linux") or {}).get("resources") or {}
        if resources.get("hugepageLimits") and not os.path.isdir("/sys/fs/cgroup/hugetlb"):
            del resources["hugepageLimits"]
            changed = True
    if changed:
        with open(path + ".k8sfs", "w") as f:
            json.dump(spec, f)
        os.replace(path + ".k8sfs", path)
os.execv(RUNTIME, [RUNTIME, *args])
