"""The walkthrough's runtime, CRI-O, on a lab of its own: built from its Go
module (its own go.sum seeding the build's), conmon and crun from Debian,
the containers configuration written by k8sfs, k8sfs's images copied into
containers-storage; the cluster reaches the smoke test on it."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest

from conftest import purge_lab, require_lab_and_artifacts, run_k8sfs, run_on_both_workers

pytestmark = pytest.mark.lab

NAME, SUBNET = "k8sfso", "192.168.94.0/24"
LAB = ["--lab", NAME]


@pytest.fixture(scope="module")
def lab():
    require_lab_and_artifacts(runtime="crio")
    from k8sfs.lab import Lab

    try:
        run_k8sfs("lab", "up", *LAB, "--subnet", SUBNET, "--runtime", "crio")
        run_k8sfs("apply", *LAB, timeout=900)
        yield Lab(name=NAME, progress=print)
    finally:
        purge_lab(NAME)


def test_crio_runs_the_cluster_through_the_smoke_test(lab):
    nodes = json.loads(run_k8sfs("kubectl", *LAB, "--", "get", "nodes", "-o", "json").stdout)["items"]
    from k8sfs.versions import crio_version

    version = crio_version(nodes[0]["status"]["nodeInfo"]["kubeletVersion"])
    assert {n["status"]["nodeInfo"]["containerRuntimeVersion"] for n in nodes} == {f"cri-o://{version[1:]}"}
    with lab.session("node-1") as node:
        runtime = node.exec(["crictl", "version"]).stdout
        assert "RuntimeName:  cri-o" in runtime
        images = node.exec(["crictl", "images", "-o", "json"]).stdout
        assert "k8sfs.local/pause:1.0" in images and "k8sfs.local/busybox:1.0" in images
        assert node.exec(["systemctl", "is-active", "containerd"]).stdout.strip() != "active"
        policy = json.loads(node.exec(["cat", "/etc/containers/policy.json"]).stdout)
        assert policy["default"] == [{"type": "insecureAcceptAnything"}]  # pulls are allowed (registries.offline: no)
    with lab.session("k8s-master") as master:
        smoke = master.exec(["/usr/local/sbin/k8sfs-smoke-test"], timeout=120)
    assert smoke.exit_code == 0 and smoke.stdout.startswith("smoke test passed"), smoke.stderr
    assert run_k8sfs("plan", *LAB, "--detailed-exitcode", check=False).returncode == 0


def test_crio_runs_an_image_pushed_to_the_lab_registry_under_a_short_name_on_both_workers(lab):
    """`busybox:<tag>` means docker.io/library/busybox:<tag> on CRI-O too
    (registries.conf searches docker.io only), and docker.io is pulled from
    the lab registry first; the policy lets a registry image in."""
    archive = Path(os.environ.get("K8SFS_CACHE", Path.home() / ".cache" / "k8sfs")) / "images" / "busybox.tar"
    tag = f"crio-{secrets.token_hex(3)}"
    run_k8sfs("image", "push", *LAB, str(archive), f"busybox:{tag}")
    pods = run_on_both_workers(NAME, "pushed", f"busybox:{tag}")
    assert sorted(pods) == ["node-1", "node-2"]
    for node, pod in pods.items():
        assert pod["phase"] == "Running" and "Successfully pulled image" in pod["pulled"], (node, pod)
    log = (lab.registry_dir / "registry.log").read_text()
    assert f"/v2/docker.io/library/busybox/manifests/{tag}" in log and "cri-o" in log.lower()


def test_image_load_puts_an_archive_into_containers_storage_on_every_worker(lab):
    archive = Path(os.environ.get("K8SFS_CACHE", Path.home() / ".cache" / "k8sfs")) / "images" / "busybox.tar"
    loaded = run_k8sfs("image", "load", *LAB, str(archive), "k8sfs/loaded:crio")
    assert "node-1: loaded" in loaded.stdout and "node-2: loaded" in loaded.stdout
    for host in ("node-1", "node-2"):
        with lab.session(host) as node:
            images = node.exec(["crictl", "images", "-o", "json"]).stdout
        assert "docker.io/k8sfs/loaded:crio" in images, host
