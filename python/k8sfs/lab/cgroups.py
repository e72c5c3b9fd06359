"""The cgroups a lab host's systemd-nspawn starts in.

On this machine (cgroup v1 with systemd's named hierarchy and a cgroup2
mount beside it) systemd-nspawn --keep-unit makes `supervisor` and
`payload` under the cgroup of the process that starts it, and the host's
systemd runs in `payload`. Started from one shell, notebook kernel or test
run, every host would share them; started from a cgroup of its own, each
host's systemd has its own tree. The lab removes these with its other
cgroups (`k8sfs-<lab>-*`) when it goes down."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _hierarchies() -> list[Path]:
    """The hierarchies systemd-nspawn places its container in: systemd's named
    one and the cgroup2 one (hybrid), or the root on a cgroup2-only machine."""
    if (CGROUP_ROOT / "cgroup.procs").exists():  # cgroup2 only
        return [CGROUP_ROOT]
    return [CGROUP_ROOT / name for name in ("systemd", "unified") if (CGROUP_ROOT / name / "cgroup.procs").exists()]


def supervisor_cgroups(name: str) -> Callable[[], None]:
    """Makes the cgroup `name` in each hierarchy and returns what moves the
    calling process into them (for Popen's preexec_fn, run in the child)."""
    procs = []
    for hierarchy in _hierarchies():
        directory = hierarchy / name
        directory.mkdir(exist_ok=True)
        procs.append(str(directory / "cgroup.procs"))

    def enter() -> None:
        pid = str(os.getpid())
        for path in procs:
            with open(path, "w") as f:
                f.write(pid)

    return enter


def cpu_seconds(name: str) -> float | None:
    """CPU time used so far by everything in the cgroup `name` (a lab host:
    its systemd, services and the commands run over SSH), from cgroup2's
    cpu.stat; None where there is no cgroup2 hierarchy to read."""
    for hierarchy in _hierarchies():
        stat = hierarchy / name / "cpu.stat"
        if stat.exists():
            for line in stat.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
    return None


def rss_bytes(name: str) -> int | None:
    """Resident memory of every process in the cgroup `name` and below (a
    lab host: its systemd, kubelet, runtime and pods), summed from
    /proc/PID/status; pages two processes share count twice. None where
    the cgroup is missing."""
    for hierarchy in _hierarchies():
        root = hierarchy / name
        if not root.is_dir():
            continue
        pids = {pid for procs in root.rglob("cgroup.procs") for pid in procs.read_text().split()}
        total = 0
        for pid in pids:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:  # gone meanwhile
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        return total
    return None
