"""The lab's safety rules, enforced in code (see docs/lab.md).

Traffic may only go to lab hosts through the lab's own bridge. Before any
connection to a lab address, the kernel's route for it is checked; without
the bridge, a 192.168.x address would be routed out of the machine.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess


class LabSafetyError(ConnectionError):
    """A lab operation would send traffic somewhere other than the lab (a
    connection refused before it is tried, hence a ConnectionError)."""


def route_device(address: str) -> str | None:
    """The interface the kernel would use to reach `address`, or None."""
    proc = subprocess.run(["ip", "-j", "route", "get", address], capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    routes = json.loads(proc.stdout or "[]")
    return routes[0].get("dev") if routes else None


def check_route(address: str, bridge: str) -> None:
    """Raises LabSafetyError unless `address` is reached through `bridge`."""
    dev = route_device(address)
    if dev != bridge:
        where = f"through {dev}" if dev else "nowhere (no route)"
        raise LabSafetyError(
            f"refusing to connect to {address}: it is routed {where}, not through the lab bridge {bridge}. "
            f"Is the lab up? (k8sfs lab status)"
        )


def check_subnet(subnet: str) -> ipaddress.IPv4Network:
    """A lab subnet must be a private IPv4 network with room for the
    controller and hosts (Lab.up also refuses one another interface uses)."""
    try:
        net = ipaddress.IPv4Network(subnet, strict=True)
    except ValueError as error:
        raise LabSafetyError(f"lab subnet {subnet!r} is not an IPv4 network: {error}") from None
    if not net.is_private:
        raise LabSafetyError(f"lab subnet {subnet} is not a private range")
    if net.prefixlen > 28:
        raise LabSafetyError(f"lab subnet {subnet} is too small (needs room for the controller and hosts)")
    return net
