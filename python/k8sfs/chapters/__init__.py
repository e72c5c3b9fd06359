"""The walkthrough's chapters, in order. Each chapter module turns the spec
(and the facts of each host) into steps; nothing here talks SSH: the
engine's runner does. The engine stamps each chapter's name on its steps."""

from __future__ import annotations

from k8sfs.chapters import addons, cluster_services, control_plane, node
from k8sfs.chapters.context import Context
from k8sfs.engine.chapter import Chapter, Rollout
from k8sfs.engine.chapter import select as _select
from k8sfs.engine.step import Step

# Services that hold the cluster up restart one host at a time when they are
# already running (a renewed certificate, an upgrade): etcd keeps its
# quorum, the API stays behind the other control planes.
ONE_AT_A_TIME = Rollout(serial=1)

# `after` (engine/lanes.py): what a chapter needs from other hosts. The
# node chapters, etcd and the pod network (static routes, a CNI file) need
# only their own host's earlier chapters, so the control plane comes up
# while the workers install their runtime; the API's users need every
# apiserver and the endpoint; kube-proxy also waits for the nodes to be
# registered (it reads its Node for its address), then runs alongside the
# controllers; the rest (no `after`) wait for every earlier chapter.
ON_ITS_OWN: tuple[str, ...] = ()
THE_API = ("etcd", "apiserver", "api-endpoint")

CHAPTERS: tuple[Chapter[Context], ...] = (
    Chapter(
        "certificates",
        "each host's keys, certificates and kubeconfigs",
        control_plane.certificates_steps,
        after=ON_ITS_OWN,
        upgrade_turn=0,
    ),
    Chapter("swap", "swap off now and in /etc/fstab (workers)", node.swap_steps, after=ON_ITS_OWN, upgrade_turn=1),
    Chapter(
        "runtime",
        "container runtime with the sandbox and test images (workers)",
        node.runtime_steps,
        after=ON_ITS_OWN,
        upgrade_turn=8,
    ),
    Chapter(
        "kubelet",
        "kubelet binary, KubeletConfiguration, systemd unit (workers; drained for a new binary)",
        node.kubelet_steps,
        ONE_AT_A_TIME,
        after=ON_ITS_OWN,
        upgrade_turn=9,
    ),
    Chapter("crictl", "crictl and /etc/crictl.yaml (workers)", node.crictl_steps, after=ON_ITS_OWN, upgrade_turn=10),
    Chapter(
        "static-pod",
        "the walkthrough's test pod as a static pod on the first worker",
        node.static_pod_steps,
        after=ON_ITS_OWN,
        upgrade_turn=11,
    ),
    Chapter(
        "etcd",
        "etcd with TLS on the etcd hosts",
        control_plane.etcd_steps,
        ONE_AT_A_TIME,
        after=("certificates",),
        upgrade_turn=2,
    ),
    Chapter(
        "apiserver",
        "kube-apiserver: TLS, etcd over TLS, encryption at rest, audit",
        control_plane.apiserver_steps,
        ONE_AT_A_TIME,
        after=("certificates", "etcd"),
        upgrade_turn=3,
    ),
    Chapter(
        "api-endpoint",
        "keepalived: the control-plane endpoint on a host whose apiserver is ready",
        control_plane.api_endpoint_steps,
        after=("certificates", "etcd", "apiserver"),
        upgrade_turn=4,
    ),
    Chapter(
        "authorization",
        "Node,RBAC: apiserver-to-kubelet role, admin group binding",
        control_plane.authorization_steps,
        after=THE_API,
        upgrade_turn=5,
    ),
    Chapter("kubectl", "kubectl with the admin identity", control_plane.kubectl_steps, after=THE_API, upgrade_turn=6),
    Chapter("nodes", "the kubelets registered with the apiserver", control_plane.nodes_steps, upgrade_turn=12),
    Chapter(
        "controllers",
        "kube-controller-manager and kube-scheduler",
        cluster_services.controllers_steps,
        ONE_AT_A_TIME,
        # each waits only for its own lease: both start, then both are waited for
        together=True,
        upgrade_turn=7,
    ),
    Chapter(
        "pod-network",
        "CNI bridge per node, routes between nodes",
        cluster_services.pod_network_steps,
        after=ON_ITS_OWN,
        upgrade_turn=13,
    ),
    Chapter(
        "kube-proxy",
        "kube-proxy in iptables mode (workers)",
        cluster_services.kube_proxy_steps,
        after=(*THE_API, "nodes"),
        upgrade_turn=14,
    ),
    Chapter("dns", "CoreDNS behind the kube-dns Service", cluster_services.dns_steps, upgrade_turn=15),
    Chapter(
        "smoke-test",
        "Deployment over both nodes, pod to pod, Service, DNS, logs, exec",
        cluster_services.smoke_test_steps,
        upgrade_turn=16,
    ),
    # The add-ons the spec lists (spec.addons); a chapter without its add-on has no steps.
    Chapter(
        "storage",
        "local-path-provisioner: the default StorageClass, volumes on the nodes' disks (addons: local-path)",
        addons.storage_steps,
        upgrade_turn=17,
    ),
    Chapter(
        "metrics",
        "metrics-server: the Metrics API for kubectl top and autoscaling (addons: metrics)",
        addons.metrics_steps,
        upgrade_turn=18,
    ),
)
ORDER = [c.name for c in CHAPTERS]


def select(only: list[str] | None = None, until: str | None = None) -> list[Chapter[Context]]:
    return _select(CHAPTERS, only, until)


def build_steps(context: Context, chapters: list[Chapter[Context]]) -> list[Step]:
    steps = []
    for chapter in chapters:
        steps.extend(chapter.steps(context))
    return steps


__all__ = ["CHAPTERS", "ORDER", "Chapter", "Context", "Rollout", "build_steps", "select"]
