"""Where a spec's hosts go in a lab (the rule in docs/lab.md), and the
host lists the size shorthands produce."""

from __future__ import annotations

import ipaddress

import pytest

from k8sfs.lab.layout import LabHost, place
from k8sfs.lab.processes import LabError
from k8sfs.spec import ClusterSpec, SpecError, sized_hosts, spec_from_dict, spec_to_dict

NET = ipaddress.IPv4Network("192.168.77.0/24")


def test_spec_addresses_in_the_subnet_are_kept_and_others_assigned_from_dot_ten():
    hosts, notes = place(
        "t",
        NET,
        [
            ("a", "192.168.77.20", ["control-plane"]),
            ("b", "10.1.1.1", ["worker"]),
            ("c", "192.168.77.1", ["worker"]),
            ("d", "192.168.77.20", ["worker"]),
        ],
        [],
    )
    assert [(h.name, h.address) for h in hosts] == [
        ("a", "192.168.77.20"),
        ("b", "192.168.77.10"),
        ("c", "192.168.77.11"),
        ("d", "192.168.77.12"),
    ]
    assert notes == [
        "b: 10.1.1.1 is outside the lab subnet; the lab gives it 192.168.77.10",
        "c: 192.168.77.1 is taken; the lab gives it 192.168.77.11",
        "d: 192.168.77.20 is taken; the lab gives it 192.168.77.12",
    ]
    assert len({h.veth for h in hosts}) == 4 and all(len(h.veth) <= 15 for h in hosts)


def test_hosts_already_in_the_lab_keep_their_address_and_link():
    old = LabHost("node-1", "192.168.77.11", ["worker"], "t-node-1", "t-v1")
    hosts, notes = place(
        "t", NET, [("node-1", "192.168.77.40", ["worker"]), ("node-2", "192.168.77.11", ["worker"])], [old]
    )
    assert hosts[0] is old and old.address == "192.168.77.11"
    assert hosts[1].address == "192.168.77.10" and hosts[1].veth == "t-v0"
    assert notes[0] == "node-1: keeps its lab address 192.168.77.11 (the spec says 192.168.77.40)"


def test_a_subnet_without_room_is_refused_before_anything_is_made():
    small = ipaddress.IPv4Network("192.168.77.0/28")  # .10 to .14 usable for hosts
    with pytest.raises(LabError, match="has no free address for h5"):
        place("t", small, [(f"h{i}", "10.0.0.1", ["worker"]) for i in range(6)], [])


def test_size_shorthands_name_hosts_as_the_walkthrough_does():
    assert [(h.name, h.address, h.roles) for h in sized_hosts(1, 2)] == [
        ("k8s-master", "192.168.50.10", ["control-plane", "etcd"]),
        ("node-1", "192.168.50.11", ["worker"]),
        ("node-2", "192.168.50.12", ["worker"]),
    ]
    ha = sized_hosts(3, 2, "192.168.77.0/24")
    assert [h.name for h in ha] == ["k8s-master-1", "k8s-master-2", "k8s-master-3", "node-1", "node-2"]
    assert ha[-1].address == "192.168.77.14"
    spec = ClusterSpec(hosts=sized_hosts(2, 1))
    with pytest.raises(SpecError, match="2 etcd members; use an odd number"):
        spec_from_dict(spec_to_dict(spec))
