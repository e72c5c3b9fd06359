"""Where a spec's hosts go in a lab: one lab host per spec host, same name
and roles. The address rule (docs/lab.md): a host keeps the address it
already has in the lab; a new host takes its spec address when that lies
in the lab subnet and is free, otherwise the lowest free address from .10
up, and the lab says so. The controller is .1."""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field

from k8sfs.lab.processes import LabError

FIRST_HOST_OFFSET = 10


@dataclass
class LabHost:
    name: str
    address: str
    roles: list[str]
    netns: str
    veth: str
    pid: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def role(self) -> str:
        """For tables: the roles without etcd when it sits with the control plane."""
        shown = [r for r in self.roles if not (r == "etcd" and "control-plane" in self.roles)]
        return ",".join(shown) or "-"

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("extra")
        return data

    @classmethod
    def from_dict(cls, data: dict) -> LabHost:
        roles = data.get("roles") or [data.get("role", "worker")]
        return cls(data["name"], data["address"], list(roles), data["netns"], data["veth"], data.get("pid"))


def place(
    lab_name: str, network: ipaddress.IPv4Network, wanted: list[tuple[str, str, list[str]]], existing: list[LabHost]
) -> tuple[list[LabHost], list[str]]:
    """Lab hosts for `wanted` (name, spec address, roles), keeping `existing`
    ones as they are; returns them (existing hosts not wanted stay, last)
    and notes on every address that differs from the spec."""
    by_name = {h.name: h for h in existing}
    taken = {h.address for h in existing}
    veths = {h.veth for h in existing}
    controller = str(network.network_address + 1)
    notes: list[str] = []
    placed: list[LabHost] = []
    candidates = (str(a) for a in network.hosts() if int(a) - int(network.network_address) >= FIRST_HOST_OFFSET)
    for name, address, roles in wanted:
        if name in by_name:
            host = by_name[name]
            host.roles = list(roles)
            if address != host.address:
                notes.append(f"{name}: keeps its lab address {host.address} (the spec says {address})")
            placed.append(host)
            continue
        usable = False
        try:
            ip = ipaddress.IPv4Address(address)
            usable = (
                ip in network
                and ip not in (network.network_address, network.broadcast_address)
                and address != controller
                and address not in taken
            )
        except ValueError:
            pass
        if not usable:
            chosen = next((a for a in candidates if a not in taken), None)
            if chosen is None:
                raise LabError(f"lab subnet {network} has no free address for {name}")
            why = "is outside the lab subnet" if not _in(address, network) else "is taken"
            notes.append(f"{name}: {address} {why}; the lab gives it {chosen}")
            address = chosen
        taken.add(address)
        index = next(i for i in range(1000) if f"{lab_name}-v{i}" not in veths)
        veths.add(f"{lab_name}-v{index}")
        placed.append(LabHost(name, address, list(roles), f"{lab_name}-{name}", f"{lab_name}-v{index}"))
    wanted_names = {name for name, _a, _r in wanted}
    placed += [h for h in existing if h.name not in wanted_names]
    return placed, notes


def _in(address: str, network: ipaddress.IPv4Network) -> bool:
    try:
        return ipaddress.IPv4Address(address) in network
    except ValueError:
        return False
