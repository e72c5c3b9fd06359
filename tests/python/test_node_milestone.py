"""The walkthrough's first milestone on the lab, through k8sfs over SSH:
container runtime, kubelet and crictl on the workers, the test pod as a
static pod on node-1. Asserted with crictl on the node, not with k8sfs's
own verification. Also: the walkthrough's cgroup-driver mismatch, caught
before kubelet starts."""

from __future__ import annotations

import json

import pytest

from k8sfs.cluster import Cluster
from k8sfs.engine.errors import StepError
from k8sfs.spec import KubeletOptions, RuntimeOptions

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def artifacts_ready():
    from k8sfs.artifacts import ArtifactCache, versions_for
    from k8sfs.versions import LAB_KUBERNETES_VERSION

    cache = ArtifactCache()
    wanted = versions_for(LAB_KUBERNETES_VERSION)
    missing = [n for n in ("kubelet", "crictl") if cache.lookup(n, wanted[n]) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not in the artifact cache; `make test` builds them (k8sfs artifacts build)")


def test_cgroup_driver_mismatch_is_caught_before_kubelet_starts(lab, artifacts_ready, tmp_path):
    # The walkthrough's error: the runtime on systemd cgroups, kubelet on cgroupfs.
    spec_overrides = {"runtime": RuntimeOptions("containerd", "systemd"), "kubelet": KubeletOptions("cgroupfs")}
    with Cluster.for_lab(lab, **spec_overrides) as cluster:
        with pytest.raises(StepError) as caught:
            cluster.apply(until="kubelet")
    message = str(caught.value)
    assert "node-" in message and "kubelet" in message
    assert "containerd uses systemd" in message and "cgroupDriver: cgroupfs" in message
    assert "set cgroupDriver: systemd" in message
    with lab.session(caught.value.host) as node:
        assert node.exec(["systemctl", "is-active", "kubelet"]).stdout.strip() != "active"


SYSCTLS = {"vm/overcommit_memory": "1", "kernel/panic": "10", "kernel/panic_on_oops": "1"}


def machine_sysctls() -> dict[str, str]:
    return {k: open(f"/proc/sys/{k}").read().strip() for k in SYSCTLS}


def test_static_pod_runs_and_answers_crictl_exec(lab, artifacts_ready, tmp_path):
    before = machine_sysctls()
    with Cluster.for_lab(lab) as cluster:
        cluster.apply(until="static-pod")
        again = cluster.plan(until="static-pod")
    assert again.changes == 0, again.render()

    with lab.session("node-1") as node:
        assert node.exec(["kubelet", "--version"]).stdout.strip() == "Kubernetes v1.34.4"
        assert node.exec(["systemctl", "is-active", "kubelet"]).stdout.strip() == "active"
        listing = json.loads(node.exec(["crictl", "ps", "-o", "json"], check=True).stdout)
        hello = [c for c in listing["containers"] if c["metadata"]["name"] == "hello"]
        assert hello and hello[0]["state"] == "CONTAINER_RUNNING"
        answer = node.exec(["crictl", "exec", hello[0]["id"], "wget", "-qO-", "http://127.0.0.1:8081/"], timeout=30)
        assert answer.exit_code == 0 and answer.stdout == "hello from k8sfs\n"
        inside = node.exec(["crictl", "exec", hello[0]["id"], "cat", "/proc/1/cmdline"], timeout=30).stdout
        assert inside.split("\0")[0] == "httpd"
        pods = json.loads(node.exec(["crictl", "pods", "-o", "json"], check=True).stdout)["items"]
        assert any(p["metadata"]["name"] == "k8sfs-hello-node-1" and p["state"] == "SANDBOX_READY" for p in pods)
        # Swap: nothing active in fstab; nothing was pulled: only k8sfs's images exist.
        images = json.loads(node.exec(["crictl", "images", "-o", "json"], check=True).stdout)["images"]
        tags = {t for i in images for t in i["repoTags"]}
        assert {"k8sfs.local/pause:1.0", "k8sfs.local/busybox:1.0"} <= tags
        assert all(t.startswith("k8sfs.local/") for t in tags)  # k8sfs's own images (CoreDNS when cached)
        # kubelet sees the sysctls it insists on inside its host; the machine keeps its own.
        for key, value in SYSCTLS.items():
            assert node.exec(["cat", f"/proc/sys/{key}"]).stdout.strip() == value
    assert machine_sysctls() == before
    with lab.session("node-2") as node:
        assert node.exec(["systemctl", "is-active", "kubelet"]).stdout.strip() == "active"
        assert json.loads(node.exec(["crictl", "pods", "-o", "json"], check=True).stdout)["items"] == []
