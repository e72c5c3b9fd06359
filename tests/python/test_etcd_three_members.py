"""etcd with three members (one per lab host), the topology a spec gets by
giving the etcd role to three hosts: they form one cluster over TLS, every
member is healthy, and kube-apiserver uses all three. On a lab of its own,
so the shared test lab keeps its one-member etcd."""

from __future__ import annotations

import json

import pytest

from conftest import lab_unavailable_reason
from k8sfs import _core
from k8sfs.cluster import Cluster
from k8sfs.spec import HostSpec

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def etcd_lab():
    reason = lab_unavailable_reason()
    if reason:
        pytest.skip(reason)
    from k8sfs.artifacts import ArtifactCache, versions_for
    from k8sfs.lab import Lab
    from k8sfs.versions import LAB_KUBERNETES_VERSION

    wanted = versions_for(LAB_KUBERNETES_VERSION)
    missing = [
        n
        for n in ("etcd", "etcdctl", "kube-apiserver", "kubectl", "kubelet", "crictl")
        if ArtifactCache().lookup(n, wanted[n]) is None
    ]
    if missing:
        pytest.skip(f"{', '.join(missing)} not in the artifact cache; `make test` builds them")
    lab = Lab(name="k8sfse", subnet="192.168.97.0/24", progress=lambda m: print(f"[lab] {m}"))
    try:
        lab.up()
        yield lab
    finally:
        lab.down(purge=True)


def test_three_etcd_members_form_one_healthy_cluster(etcd_lab):
    hosts = [
        HostSpec(h.name, h.address, ["control-plane", "etcd"] if h.role == "control-plane" else ["worker", "etcd"])
        for h in etcd_lab.hosts
    ]
    with Cluster.for_lab(etcd_lab, hosts=hosts) as cluster:
        cluster.apply(until="apiserver")
        members = json.loads(
            cluster.runner.run(
                "node-2", "test", ["etcdctl", *_core.etcdctl_tls_args(), "member", "list", "-w", "json"]
            ).stdout
        )["members"]
        health = cluster.runner.run(
            "node-1", "test", ["etcdctl", *_core.etcdctl_tls_args(), "endpoint", "health", "--cluster"], check=False
        )
        ready = cluster.runner.run(
            "k8s-master",
            "test",
            ["kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", "get", "--raw", "/readyz?verbose"],
        )
        unit = cluster.runner.run("k8s-master", "test", ["systemctl", "cat", "kube-apiserver"]).stdout
    by_name = {m["name"]: m for m in members}
    assert set(by_name) == {"k8s-master", "node-1", "node-2"}
    for h in etcd_lab.hosts:
        assert by_name[h.name]["peerURLs"] == [f"https://{h.address}:2380"]
        assert by_name[h.name]["clientURLs"] == [f"https://{h.address}:2379"]
    assert health.exit_code == 0 and health.stdout.count("is healthy") == 3, health.stdout + health.stderr
    assert "[+]etcd ok" in ready.stdout
    assert "--etcd-servers=" + ",".join(f"https://{h.address}:2379" for h in etcd_lab.hosts) in unit
