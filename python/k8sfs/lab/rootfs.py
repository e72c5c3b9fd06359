"""The lab hosts' root filesystem: Debian bookworm built with debootstrap,
cached on the controller and shared read-only by every host (each host
writes to an overlay of its own).

The cache key is a hash of everything that goes into the image, so changing
the package list or the boot-time setup builds a new image instead of
reusing a stale one. A build happens in a temporary directory that is
renamed into place only when complete: an interrupted build leaves nothing
that looks finished.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

SUITE = "bookworm"

# debootstrap's minimal set plus what a walkthrough host needs to boot and be
# reached: systemd as PID 1 and sshd.
BASE_PACKAGES = ["systemd", "systemd-sysv", "openssh-server", "iproute2", "dbus", "procps"]

# Installed with apt inside the image afterwards (debootstrap's --include
# resolves dependencies poorly): the runtime and tools later chapters use.
EXTRA_PACKAGES = [
    "ca-certificates",
    "containerd",
    "runc",
    "containernetworking-plugins",
    "iptables",
    "conntrack",
    "socat",
    "ipset",
    "kmod",
    "less",
    "busybox-static",
    "sudo",
    # The control-plane endpoint of a cluster with several control planes.
    "keepalived",
    # CRI-O's companions (CRI-O itself is built from its Go module).
    "conmon",
    "crun",
    "skopeo",
    # Not needed by k8sfs itself; lets Ansible (bench/) run its modules here.
    "python3",
    # The checks a person types in the walkthrough (curl --cacert ... /healthz).
    "curl",
]

# Early in boot: give the host writable cgroup controllers (the controller
# binds the machine's v1 hierarchies at /run/hostcg) and shared mount
# propagation, which container runtimes need (see docs/lab.md).
EARLY_UNIT = """\
# Written by k8sfs lab: lab-only setup, not something real hosts get.
[Unit]
Description=k8sfs lab: writable cgroups and shared mounts
DefaultDependencies=no
Before=sysinit.target
ConditionPathIsDirectory=/run/hostcg

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/k8sfs-lab-early

[Install]
WantedBy=sysinit.target
"""

EARLY_SCRIPT = """\
#!/bin/sh
# Written by k8sfs lab. Replaces the read-only cgroup controller mounts that
# systemd-nspawn provides with the writable binds the controller passed in.
set -e
for src in /run/hostcg/*; do
  c=$(basename "$src")
  [ -d "/sys/fs/cgroup/$c" ] || mkdir -p "/sys/fs/cgroup/$c" 2>/dev/null || continue
  umount "/sys/fs/cgroup/$c" 2>/dev/null || true
  mount --bind "$src" "/sys/fs/cgroup/$c"
done
mount --make-rshared /
"""

SSHD_CONFIG = """\
# Written by k8sfs lab.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
"""


def cache_key() -> str:
    """Hash of everything that shapes the image."""
    h = hashlib.sha256()
    for part in (SUITE, *BASE_PACKAGES, "|", *EXTRA_PACKAGES, EARLY_UNIT, EARLY_SCRIPT, SSHD_CONFIG):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


def debian_mirror() -> str:
    """The Debian mirror the controller's own apt uses."""
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            text = path.read_text()
        except OSError:
            continue
        for match in re.finditer(r"(https?://\S+/debian)/?(\s|$)", text):
            return match.group(1)
    return "http://deb.debian.org/debian"


def _run(argv: list[str], log: IO[str], **kwargs: Any) -> None:
    log.write(f"$ {' '.join(argv)}\n")
    log.flush()
    proc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(
            f"rootfs build: `{' '.join(argv[:3])} ...` failed with exit code {proc.returncode}; see {log.name}"
        )


def ensure_rootfs(cache_dir: Path, progress: Callable[[str], None] = print) -> Path:
    """Returns the cached root filesystem, building it first when missing."""
    root = cache_dir / "rootfs" / f"{SUITE}-{cache_key()}"
    if (root / ".k8sfs-complete").exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    building = root.with_name(root.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    log_path = root.with_name(root.name + ".log")
    mirror = debian_mirror()
    progress(f"building the lab's root filesystem ({SUITE}, cached in {root}); log: {log_path}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    with open(log_path, "w") as log:
        _run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, str(building), mirror],
            log,
            env=env,
        )
        progress("  base system done; installing runtime packages")
        # Keep services from starting inside the chroot during installation.
        policy = building / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        _run(
            ["chroot", str(building), "apt-get", "install", "-y", "--no-install-recommends", *EXTRA_PACKAGES],
            log,
            env=env,
        )
        _run(["chroot", str(building), "apt-get", "clean"], log, env=env)
        policy.unlink()

    # Per-host identity must not be baked into the shared image.
    for key in (building / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (building / "etc/machine-id").write_text("")
    (building / "etc/ssh/sshd_config.d").mkdir(parents=True, exist_ok=True)
    (building / "etc/ssh/sshd_config.d/k8sfs-lab.conf").write_text(SSHD_CONFIG)
    script = building / "usr/local/sbin/k8sfs-lab-early"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(EARLY_SCRIPT)
    script.chmod(0o755)
    unit = building / "etc/systemd/system/k8sfs-lab-early.service"
    unit.write_text(EARLY_UNIT)
    wants = building / "etc/systemd/system/sysinit.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / "k8sfs-lab-early.service"
    if not link.is_symlink():
        link.symlink_to("/etc/systemd/system/k8sfs-lab-early.service")
    # Services a container host does not need and that slow its boot down.
    for unit_name in (
        "systemd-networkd-wait-online.service",
        "apt-daily.timer",
        "apt-daily-upgrade.timer",
        "e2scrub_reap.service",
        "containerd.service",
    ):
        mask = building / "etc/systemd/system" / unit_name
        if not mask.exists():
            mask.symlink_to("/dev/null")
    (building / ".k8sfs-complete").write_text(cache_key() + "\n")
    building.rename(root)
    progress(f"  root filesystem ready: {root}")
    _prune_old_images(root)
    return root


def _prune_old_images(keep: Path) -> None:
    """Removes images of earlier package lists that no running lab uses."""
    mounts = Path("/proc/self/mountinfo").read_text()
    for old in keep.parent.glob(f"{SUITE}-*"):
        if old == keep or not old.is_dir() or f"lowerdir={old}" in mounts:
            continue
        shutil.rmtree(old, ignore_errors=True)
        old.with_name(old.name + ".log").unlink(missing_ok=True)


if __name__ == "__main__":  # pragma: no cover - manual use
    print(ensure_rootfs(Path(sys.argv[1])))
