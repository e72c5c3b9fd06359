"""The storage add-on on a lab of its own (`addons: [local-path]`): a claim
without a class binds through the default StorageClass, a pod writes to
it, a new pod on the same node reads it back, and deleting the claim
removes the directory from the node's disk."""

from __future__ import annotations

import json
import secrets

import pytest

from conftest import measured, purge_lab, require_lab_and_artifacts, run_k8sfs, wait_for

pytestmark = pytest.mark.lab

NAME, SUBNET = "k8sfss", "192.168.73.0/24"
LAB = ["--lab", NAME]
NS = "k8sfs-storage"


@pytest.fixture(scope="module")
def lab():
    require_lab_and_artifacts(addons=("local-path",))
    from k8sfs.lab import Lab

    try:
        run_k8sfs("lab", "up", *LAB, "--subnet", SUBNET, "--addons", "local-path")
        run_k8sfs("apply", *LAB, timeout=900)
        yield Lab(name=NAME, progress=print)
    finally:
        purge_lab(NAME)


def kubectl(*args: str, input: str | None = None, check: bool = True) -> str:
    return run_k8sfs("kubectl", *LAB, "--", *args, input=input, check=check).stdout


def pod(name: str, command: str) -> str:
    """A busybox pod on node-1 with the claim at /data."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "nodeSelector": {"kubernetes.io/hostname": "node-1"},
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "c",
                        "image": "k8sfs.local/busybox:1.0",
                        "imagePullPolicy": "Never",
                        "command": ["sh", "-c", command],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }
                ],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
            },
        }
    )


def phase(kind: str, name: str) -> str:
    return kubectl("-n", NS, "get", kind, name, "-o", "jsonpath={.status.phase}", check=False)


def test_a_claim_binds_keeps_its_data_across_pods_and_goes_with_its_claim(lab):
    classes = json.loads(kubectl("get", "storageclass", "-o", "json"))["items"]
    defaults = [
        c["metadata"]["name"]
        for c in classes
        if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"
    ]
    assert defaults == ["local-path"]

    kubectl("create", "namespace", NS)
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": NS},  # no storageClassName: the default class
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}},
    }
    kubectl("apply", "-f", "-", input=json.dumps(claim))
    assert phase("pvc", "data") == "Pending"  # WaitForFirstConsumer: no volume before a pod
    word = secrets.token_hex(8)
    kubectl("apply", "-f", "-", input=pod("writer", f"echo {word} > /data/word && sync"))
    took = wait_for("the writer pod succeeds", lambda: phase("pod", "writer") == "Succeeded", 120)
    measured("storage: claim to a written volume (first pod, provisioning included)", f"{took:.1f} s")
    assert phase("pvc", "data") == "Bound"
    volume = kubectl("-n", NS, "get", "pvc", "data", "-o", "jsonpath={.spec.volumeName}")
    spec = json.loads(kubectl("get", "pv", volume, "-o", "json"))["spec"]
    path = (spec.get("hostPath") or spec.get("local"))["path"]
    assert path.startswith("/opt/local-path-provisioner/")
    with lab.session("node-1") as node:  # the bytes are on the node's own disk
        assert node.exec(["cat", f"{path}/word"]).stdout.strip() == word

    kubectl("-n", NS, "delete", "pod", "writer")
    kubectl("apply", "-f", "-", input=pod("reader", "cat /data/word"))
    wait_for("the reader pod succeeds", lambda: phase("pod", "reader") == "Succeeded", 120)
    assert kubectl("-n", NS, "logs", "reader").strip() == word

    kubectl("-n", NS, "delete", "pod", "reader")
    kubectl("-n", NS, "delete", "pvc", "data")
    wait_for(
        "the volume is deleted with its claim",
        lambda: volume not in kubectl("get", "pv", "-o", "jsonpath={.items[*].metadata.name}"),
        120,
    )
    with lab.session("node-1") as node:

        def gone() -> bool:
            return node.exec(["test", "-e", path]).exit_code != 0

        wait_for(f"{path} is removed from node-1", gone, 60)


def test_the_storage_chapter_explains_its_file_and_leaves_nothing_to_do(lab):
    shown = run_k8sfs("explain", *LAB, "storage").stdout
    assert "/etc/kubernetes/addons/local-path-storage.yaml" in shown
    assert "is-default-class" in shown  # the file in full
    unchanged = run_k8sfs("plan", *LAB, "--detailed-exitcode", check=False)
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
