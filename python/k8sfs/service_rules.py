"""The path of a request to a Service, read from kube-proxy's own rules.

kube-proxy (iptables mode) turns a Service into NAT chains on every node:
KUBE-SERVICES sends the Service's address and port to a KUBE-SVC-… chain,
which picks one KUBE-SEP-… chain per endpoint at random, and each of those
rewrites the destination to a pod's address (DNAT). `parse` reads that from
`iptables-save -t nat`; `gather` does it on each worker of a live cluster
and names the pods behind the addresses (pictures.service_path draws it)."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from k8sfs.cluster import Cluster


@dataclass
class Endpoint:
    chain: str  # KUBE-SEP-…
    share: float  # the part of new connections it gets (the rules' probabilities, in order)
    destination: str  # pod address:port the DNAT rewrites to


@dataclass
class ServiceChain:
    service_chain: str  # KUBE-SVC-…
    endpoints: list[Endpoint] = field(default_factory=list)


def _rules(text: str) -> list[list[str]]:
    return [shlex.split(line) for line in text.splitlines() if line.startswith("-A ")]


def _option(rule: list[str], name: str) -> str | None:
    return rule[rule.index(name) + 1] if name in rule and rule.index(name) + 1 < len(rule) else None


def parse(iptables_save: str, cluster_ip: str, port: int) -> ServiceChain | None:
    """The Service chain for `cluster_ip:port` and its endpoints, or None
    when this node has no rule for it (kube-proxy has not synced it)."""
    rules = _rules(iptables_save)
    target = None
    for r in rules:
        if r[1] == "KUBE-SERVICES" and _option(r, "-d") in (cluster_ip, f"{cluster_ip}/32"):
            if _option(r, "--dport") == str(port) and (_option(r, "-j") or "").startswith("KUBE-SVC-"):
                target = _option(r, "-j")
    if target is None:
        return None
    chain = ServiceChain(target)
    left = 1.0  # what the earlier rules did not take
    for r in rules:
        jump = _option(r, "-j") or ""
        if r[1] != target or not jump.startswith("KUBE-SEP-"):
            continue
        probability = float(_option(r, "--probability") or 1.0)
        share = left * probability
        left -= share
        dnat = next((_option(x, "--to-destination") for x in rules if x[1] == jump and "DNAT" in x), None)
        chain.endpoints.append(Endpoint(jump, share, dnat or "?"))
    return chain


@dataclass
class ServicePath:
    namespace: str
    name: str
    cluster_ip: str
    port: int
    per_node: dict[str, ServiceChain | None]  # worker -> its rules for the Service
    pods: dict[str, tuple[str, str]]  # pod address -> (pod name, node)


_ADDRESS = re.compile(r"^[0-9a-f.:]+$")


def gather(cluster: Cluster, namespace: str, name: str) -> ServicePath:
    """Reads the Service, its pods and each worker's NAT rules."""
    svc = json.loads(cluster.kubectl("get", "service", name, "-n", namespace, "-o", "json").stdout)
    ip = svc["spec"]["clusterIP"]
    port = int(svc["spec"]["ports"][0]["port"])
    if not _ADDRESS.match(ip):
        raise ValueError(f"service {namespace}/{name} has no cluster address ({ip!r})")
    pods = {}
    for p in json.loads(cluster.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]:
        address = p.get("status", {}).get("podIP")
        if address:
            pods[address] = (p["metadata"]["name"], p["spec"].get("nodeName", "?"))
    per_node = {}
    for h in cluster.spec.hosts:
        if h.worker:
            saved = cluster.exec(h.name, ["iptables-save", "-t", "nat"], timeout=30).stdout
            per_node[h.name] = parse(saved, ip, port)
    return ServicePath(namespace, name, ip, port, per_node, pods)
