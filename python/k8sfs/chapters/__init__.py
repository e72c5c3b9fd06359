"""The walkthrough's chapters as steps, in order. Each chapter module
turns the spec (and the facts of each host) into steps; nothing here talks
SSH: the engine's runner does."""
from __future__ import annotations

from k8sfs.chapters.context import Context
from k8sfs.chapters import cluster_services, control_plane, node

# name -> (function building its steps, one-line description)
CHAPTERS = {
    "certificates": (control_plane.certificates_steps, "each host's keys, certificates and kubeconfigs"),
    "swap": (node.swap_steps, "swap off now and in /etc/fstab (workers)"),
    "runtime": (node.runtime_steps, "container runtime with the sandbox and test images (workers)"),
    "kubelet": (node.kubelet_steps, "kubelet binary, KubeletConfiguration, systemd unit (workers)"),
    "crictl": (node.crictl_steps, "crictl and /etc/crictl.yaml (workers)"),
    "static-pod": (node.static_pod_steps, "the walkthrough's test pod as a static pod on the first worker"),
    "etcd": (control_plane.etcd_steps, "etcd with TLS on the etcd hosts"),
    "apiserver": (control_plane.apiserver_steps, "kube-apiserver: TLS, etcd over TLS, encryption at rest, audit"),
    "authorization": (control_plane.authorization_steps, "Node,RBAC: apiserver-to-kubelet role, admin group binding"),
    "kubectl": (control_plane.kubectl_steps, "kubectl with the admin identity"),
    "nodes": (control_plane.nodes_steps, "the kubelets registered with the apiserver"),
    "controllers": (cluster_services.controllers_steps, "kube-controller-manager and kube-scheduler"),
    "pod-network": (cluster_services.pod_network_steps, "CNI bridge per node, routes between nodes"),
    "kube-proxy": (cluster_services.kube_proxy_steps, "kube-proxy in iptables mode (workers)"),
    "dns": (cluster_services.dns_steps, "CoreDNS behind the kube-dns Service"),
    "smoke-test": (cluster_services.smoke_test_steps,
                   "Deployment over both nodes, pod to pod, Service, DNS, logs, exec"),
}
ORDER = list(CHAPTERS)


def select(only: list[str] | None = None, until: str | None = None) -> list[str]:
    for name in [*(only or []), *([until] if until else [])]:
        if name not in CHAPTERS:
            raise ValueError(f"unknown chapter {name!r}; chapters: {', '.join(ORDER)}")
    chosen = ORDER[: ORDER.index(until) + 1] if until else list(ORDER)
    return [c for c in chosen if not only or c in only]


def build_steps(context: Context, chapters: list[str]):
    steps = []
    for name in chapters:
        steps.extend(CHAPTERS[name][0](context))
    return steps


__all__ = ["CHAPTERS", "ORDER", "Context", "build_steps", "select"]
