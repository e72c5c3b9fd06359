"""The lab's SSH material: the controller's key, each host's identity
(hostname, /etc/hosts, its own host key, the key authorized for root),
and the known_hosts and ssh_config files that OpenSSH and k8sfs use."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from k8sfs.lab.layout import LabHost
from k8sfs.lab.processes import run


def make_key(key_path: Path, lab_name: str) -> None:
    if not key_path.exists():
        run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"k8sfs-lab-{lab_name}", "-f", str(key_path)],
            "generating the lab's SSH key",
        )
    os.chmod(key_path, 0o600)


def write_host_identity(
    host: LabHost, root: Path, hosts: list[LabHost], controller_address: str, key_path: Path
) -> None:
    """Per-host files in its root filesystem; an existing host key is kept
    (a restarted host is the same host)."""
    (root / "etc/hostname").write_text(host.name + "\n")
    lines = ["127.0.0.1 localhost", f"{controller_address} controller"]
    lines += [f"{h.address} {h.name}" for h in hosts]
    (root / "etc/hosts").write_text("# Written by k8sfs lab.\n" + "\n".join(lines) + "\n")
    key = root / "etc/ssh/ssh_host_ed25519_key"
    if not key.exists():
        run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name, "-f", str(key)],
            f"lab host {host.name}: generating its host key",
        )
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    auth = ssh_dir / "authorized_keys"
    auth.write_text(Path(str(key_path) + ".pub").read_text())
    os.chmod(auth, 0o600)


def write_known_hosts(path: Path, hosts: list[LabHost], disk_of: Callable[[LabHost], Path]) -> None:
    """Every host's key, stopped hosts' too (read from their disks)."""
    lines = []
    for host in hosts:
        pub = (disk_of(host) / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
        lines.append(f"{host.address} {pub[0]} {pub[1]}")
    path.write_text("\n".join(lines) + "\n")


def write_ssh_config(path: Path, hosts: list[LabHost], key_path: Path, known_hosts: Path) -> None:
    blocks = []
    for host in hosts:
        blocks.append(
            f"Host {host.name}\n  HostName {host.address}\n  User root\n"
            f"  IdentityFile {key_path}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {known_hosts}\n  StrictHostKeyChecking yes\n"
        )
    path.write_text("# Written by k8sfs lab.\n" + "\n".join(blocks))
