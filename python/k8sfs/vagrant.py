"""Vagrant hosts as a k8sfs spec: read `vagrant ssh-config`, write an
ssh_config that k8sfs (and ssh -F) can use with host keys checked, record
each host's key on first use and show it, and find each host's address on
the cluster network.

Vagrant's own output turns host key checking off (UserKnownHostsFile
/dev/null, StrictHostKeyChecking no); the file written here keeps the
identity, user and port Vagrant reports and checks keys against a
known_hosts file of its own next to it instead.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from k8sfs.spec import ClusterSpec, HostSpec, SpecError, spec_from_dict, spec_to_dict


class VagrantError(ValueError):
    """`vagrant ssh-config` failed or printed something that is not an ssh_config."""


@dataclass
class VagrantHost:
    name: str
    hostname: str = ""
    user: str = "vagrant"
    port: int = 22
    identity_files: list[str] = field(default_factory=list)


# Options whose values k8sfs keeps; the others Vagrant prints (key checking
# off, LogLevel, key algorithms) are left out on purpose.
_KEPT = {"hostname", "user", "port", "identityfile"}


def parse_ssh_config(text: str) -> list[VagrantHost]:
    """The hosts of `vagrant ssh-config` output, in order."""
    hosts: list[VagrantHost] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        key, value = key.lower(), value.strip().strip('"')
        if key == "host":
            hosts.append(VagrantHost(value))
            continue
        if not hosts:
            raise VagrantError(f"line {number}: {raw.strip()!r} before any Host line")
        host = hosts[-1]
        if key not in _KEPT:
            continue
        if not value:
            raise VagrantError(f"line {number}: {key} has no value")
        if key == "hostname":
            host.hostname = value
        elif key == "user":
            host.user = value
        elif key == "port":
            if not value.isdigit() or not 0 < int(value) < 65536:
                raise VagrantError(f"line {number}: Port {value!r} is not a port number")
            host.port = int(value)
        else:
            host.identity_files.append(value)
    for h in hosts:
        if not h.hostname:
            raise VagrantError(f"host {h.name}: no HostName (is the machine running? vagrant status)")
    if not hosts:
        raise VagrantError("no Host entries (no machine is running? vagrant up first)")
    return hosts


def render_ssh_config(hosts: list[VagrantHost], known_hosts: Path) -> str:
    out = [
        "# Written by k8sfs spec from-vagrant from `vagrant ssh-config`.",
        "# Host keys are checked against the known_hosts file below (Vagrant's",
        "# own output turns checking off); k8sfs recorded them on first use.",
    ]
    for h in hosts:
        out += ["", f"Host {h.name}", f"  HostName {h.hostname}", f"  User {h.user}", f"  Port {h.port}"]
        out += [f'  IdentityFile "{f}"' for f in h.identity_files]
        out += ["  IdentitiesOnly yes", f'  UserKnownHostsFile "{known_hosts}"']
    return "\n".join(out) + "\n"


def roles_for(name: str) -> list[str]:
    """The walkthrough's naming: k8s-master (or *master*, *control*) is a
    control plane with etcd; every other machine is a worker."""
    if "master" in name or "control" in name:
        return ["control-plane", "etcd"]
    return ["worker"]


def pick_address(addresses: list[str], subnet: str, fallback: str) -> str:
    """The host's address inside `subnet` (the cluster network); else the
    one Vagrant connects to."""
    network = ipaddress.ip_network(subnet, strict=False)
    inside = [a for a in addresses if ipaddress.ip_address(a) in network]
    return inside[0] if inside else fallback


@dataclass
class Probe:
    """What connecting to one host found."""

    fingerprint: str
    addresses: list[str]


def probe_host(ssh_config: Path, host: VagrantHost) -> Probe:
    """Connect once (trusting and recording a key not seen before), return
    the key's fingerprint and the host's IPv4 addresses."""
    import k8sfs

    with k8sfs.Session(host.name, ssh_config=str(ssh_config), host_key_policy="accept-new") as session:
        result = session.exec(["ip", "-4", "-o", "addr", "show", "scope", "global"], check=True)
        addresses = [line.split()[3].split("/")[0] for line in result.stdout.splitlines() if len(line.split()) > 3]
        return Probe(session.host_key_fingerprint, addresses)


def spec_from_vagrant(
    directory: Path,
    subnet: str = "192.168.50.0/24",
    vagrant: str = "vagrant",
    probe: Callable[[Path, VagrantHost], Probe] = probe_host,
    progress: Callable[[str], None] = print,
    base: ClusterSpec | None = None,
) -> ClusterSpec:
    """Run `vagrant ssh-config` in `directory` and build the spec: the
    ssh_config and known_hosts go to <directory>/.k8sfs/."""
    try:
        proc = subprocess.run([vagrant, "ssh-config"], cwd=directory, capture_output=True, text=True, timeout=300)
    except FileNotFoundError:
        raise VagrantError(f"{vagrant}: not found (install Vagrant, or pass --vagrant PATH)") from None
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise VagrantError(f"`{vagrant} ssh-config` in {directory} failed (exit {proc.returncode}):\n{tail}")
    hosts = parse_ssh_config(proc.stdout)
    state = directory / ".k8sfs"
    state.mkdir(mode=0o700, exist_ok=True)
    ssh_config = state / "ssh_config"
    known_hosts = state / "known_hosts"
    ssh_config.write_text(render_ssh_config(hosts, known_hosts))
    specs = []
    for h in hosts:
        found = probe(ssh_config, h)
        address = pick_address(found.addresses, subnet, h.hostname)
        where = "" if address != h.hostname or h.hostname in found.addresses else " (none inside the subnet)"
        progress(f"{h.name}: {h.user}@{h.hostname}:{h.port}, key {found.fingerprint}, address {address}{where}")
        specs.append(HostSpec(h.name, address, roles_for(h.name), user=h.user, port=h.port))
    spec = dataclasses.replace(base or ClusterSpec(), hosts=specs, ssh_config=str(ssh_config))
    try:
        return spec_from_dict(spec_to_dict(spec))  # every check a file gets
    except SpecError as error:
        raise VagrantError(f"the spec from {directory}: {error}") from None
