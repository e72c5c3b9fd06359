#!/usr/bin/python3
# Written by k8sfs for cluster {{ cluster }}, for hosts that are containers
# (host_profile: container): CRI-O's OCI runtime, crun, behind one change.
# A container host cannot lower oom_score_adj below its own (no
# CAP_SYS_RESOURCE), so a container whose spec asks for less starts at the
# host's value instead, as containerd's restrict_oom_score_adj does.
import json
import os
import sys

RUNTIME = "{{ runtime }}"
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
    with open("/proc/self/oom_score_adj") as f:
        floor = int(f.read())
    process = spec.get("process") or {}
    if process.get("oomScoreAdj", floor) < floor:
        process["oomScoreAdj"] = floor
        with open(path + ".k8sfs", "w") as f:
            json.dump(spec, f)
        os.replace(path + ".k8sfs", path)
os.execv(RUNTIME, [RUNTIME, *args])
