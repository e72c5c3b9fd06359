"""The lab's network on the controller: one bridge, and per host a network
namespace with eth0 on the bridge and no default route (docs/lab.md)."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from pathlib import Path

from k8sfs.lab.layout import LabHost
from k8sfs.lab.processes import run
from k8sfs.lab.safety import LabSafetyError


def link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def netns_exists(name: str) -> bool:
    return Path(f"/run/netns/{name}").exists()


def check_subnet_free(network: ipaddress.IPv4Network, bridge: str) -> None:
    """The subnet must not already be used by something that is not this lab."""
    proc = run(["ip", "-j", "-4", "addr", "show"], "listing addresses")
    for iface in json.loads(proc.stdout or "[]"):
        for addr in iface.get("addr_info", []):
            net = ipaddress.IPv4Interface(f"{addr['local']}/{addr['prefixlen']}").network
            if net.overlaps(network) and iface["ifname"] != bridge:
                raise LabSafetyError(
                    f"lab subnet {network} overlaps {net} on {iface['ifname']}; choose another subnet (--subnet)"
                )


def make_bridge(bridge: str, controller_address: str, prefixlen: int) -> None:
    if not link_exists(bridge):
        run(["ip", "link", "add", bridge, "type", "bridge"], f"creating bridge {bridge}")
    run(["ip", "addr", "replace", f"{controller_address}/{prefixlen}", "dev", bridge], f"addressing bridge {bridge}")
    run(["ip", "link", "set", bridge, "up"], f"bringing up bridge {bridge}")


def make_host_network(host: LabHost, bridge: str, prefixlen: int) -> None:
    """The host's namespace and link; what exists already is kept."""
    where = f"lab host {host.name}"
    if not netns_exists(host.netns):
        run(["ip", "netns", "add", host.netns], f"{where}: creating network namespace")
    if not link_exists(host.veth):
        run(
            ["ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns],
            f"{where}: creating its link",
        )
    run(["ip", "link", "set", host.veth, "master", bridge, "up"], f"{where}: attaching to the bridge")
    run(
        ["ip", "-n", host.netns, "addr", "replace", f"{host.address}/{prefixlen}", "dev", "eth0"],
        f"{where}: addressing eth0",
    )
    run(["ip", "-n", host.netns, "link", "set", "eth0", "up"], f"{where}: bringing up eth0")
    run(["ip", "-n", host.netns, "link", "set", "lo", "up"], f"{where}: bringing up lo")


def remove_host_network(host: LabHost) -> None:
    if netns_exists(host.netns):
        run(["ip", "netns", "del", host.netns], f"lab host {host.name}: removing network namespace")
    if link_exists(host.veth):
        subprocess.run(["ip", "link", "del", host.veth], capture_output=True)


def remove_bridge(bridge: str) -> None:
    if link_exists(bridge):
        run(["ip", "link", "del", bridge], f"removing bridge {bridge}")
