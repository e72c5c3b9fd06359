"""The add-ons on a lab of their own (`addons: [local-path, metrics]`).

Storage: a claim without a class binds through the default StorageClass, a
pod writes to it, a new pod on the same node reads it back, and deleting
the claim removes the directory from the node's disk. Metrics: kubectl top
answers for nodes and pods, and a HorizontalPodAutoscaler scales a
CPU-burning Deployment up, then back down when the burning stops. Helm:
a local chart with a claim installs, upgrades and rolls back."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest

from conftest import measured, purge_lab, require_lab_and_artifacts, run_k8sfs, wait_for

pytestmark = pytest.mark.lab

NAME, SUBNET = "k8sfss", "192.168.73.0/24"
LAB = ["--lab", NAME]
NS = "k8sfs-storage"
ADDONS = ("local-path", "metrics")


@pytest.fixture(scope="module")
def lab():
    require_lab_and_artifacts(addons=ADDONS)
    from k8sfs.lab import Lab

    try:
        run_k8sfs("lab", "up", *LAB, "--subnet", SUBNET, "--addons", ",".join(ADDONS))
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


def test_the_add_on_chapters_explain_their_files_and_leave_nothing_to_do(lab):
    shown = run_k8sfs("explain", *LAB, "storage", "metrics").stdout
    assert "/etc/kubernetes/addons/local-path-storage.yaml" in shown
    assert "is-default-class" in shown  # the file in full
    assert "--kubelet-certificate-authority=" in shown
    unchanged = run_k8sfs("plan", *LAB, "--detailed-exitcode", check=False)
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr


def test_kubectl_top_answers_for_nodes_and_pods(lab):
    def top_nodes() -> list[str]:
        return kubectl("top", "nodes", "--no-headers", check=False).split()

    wait_for("kubectl top nodes answers", lambda: {"node-1", "node-2"} <= set(top_nodes()), 90)
    pods = kubectl("top", "pods", "-A", "--no-headers")
    assert "coredns" in pods and "metrics-server" in pods
    log = kubectl("-n", "kube-system", "logs", "deploy/metrics-server")
    assert "x509:" not in log and "tls:" not in log, log[-2000:]  # kubelets verified, no TLS errors


BURNER = "k8sfs-burner"


def test_an_autoscaler_scales_a_cpu_burning_deployment_up_and_back_down(lab):
    burn = "while [ ! -e /tmp/stop ]; do :; done; exec sleep 3600"
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "burner", "namespace": BURNER},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "burner"}},
            "template": {
                "metadata": {"labels": {"app": "burner"}},
                "spec": {
                    "containers": [
                        {
                            "name": "burn",
                            "image": "k8sfs.local/busybox:1.0",
                            "imagePullPolicy": "Never",
                            "command": ["sh", "-c", burn],
                            "resources": {"requests": {"cpu": "20m"}, "limits": {"cpu": "100m"}},
                        }
                    ]
                },
            },
        },
    }
    autoscaler = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "burner", "namespace": BURNER},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "burner"},
            "minReplicas": 1,
            "maxReplicas": 3,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                }
            ],
            # The default waits 5 minutes before scaling down; the test does not.
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
        },
    }
    kubectl("create", "namespace", BURNER)
    try:
        kubectl("apply", "-f", "-", input=json.dumps(deployment))
        kubectl("apply", "-f", "-", input=json.dumps(autoscaler))

        def replicas() -> int:
            out = kubectl("-n", BURNER, "get", "hpa", "burner", "-o", "jsonpath={.status.desiredReplicas}")
            return int(out or 0)

        up = wait_for("the autoscaler scales the burner up to 3", lambda: replicas() == 3, 240, interval=3)
        measured("metrics: a CPU-burning Deployment scaled 1 -> 3 by its HPA", f"{up:.0f} s")
        wait_for(
            "the three burners run",
            lambda: (
                kubectl("-n", BURNER, "get", "deployment", "burner", "-o", "jsonpath={.status.readyReplicas}") == "3"
            ),
            120,
        )
        names = kubectl("-n", BURNER, "get", "pods", "-l", "app=burner", "-o", "jsonpath={.items[*].metadata.name}")
        for name in names.split():
            kubectl("-n", BURNER, "exec", name, "--", "touch", "/tmp/stop")
        down = wait_for("the autoscaler scales back down to 1", lambda: replicas() == 1, 240, interval=3)
        measured("metrics: the burning stopped, the HPA back to 1 replica", f"{down:.0f} s")
    finally:
        kubectl("delete", "namespace", BURNER, "--wait=false", check=False)


CHART = Path(__file__).parent / "fixtures" / "charts" / "k8sfs-web"


def helm(*args: str, env: dict | None = None) -> str:
    return run_k8sfs("helm", *LAB, "--", *args, env=env, timeout=300).stdout


def test_a_helm_release_with_a_claim_installs_upgrades_and_rolls_back(lab, tmp_path):
    from k8sfs.artifacts import ArtifactCache, versions_for
    from k8sfs.versions import LAB_KUBERNETES_VERSION

    if ArtifactCache().lookup("helm", versions_for(LAB_KUBERNETES_VERSION)["helm"]) is None:
        pytest.skip("helm is not in the artifact cache; `make test` builds it (k8sfs artifacts build helm)")
    ns = ["--namespace", "k8sfs-helm", "--create-namespace"]

    def page() -> str:
        return kubectl("-n", "k8sfs-helm", "exec", "deploy/web", "--", "wget", "-qO-", "http://127.0.0.1:8080/")

    def volume() -> str:
        return kubectl("-n", "k8sfs-helm", "get", "pvc", "web-data", "-o", "jsonpath={.spec.volumeName}")

    helm("install", "web", str(CHART), *ns, "--set", "message=first", "--wait", "--timeout", "3m")
    assert page().strip() == "first"
    first_volume = volume()
    helm("upgrade", "web", str(CHART), *ns, "--set", "message=second", "--wait", "--timeout", "3m")
    assert page().strip() == "second"
    helm("rollback", "web", "1", "--namespace", "k8sfs-helm", "--wait", "--timeout", "3m")
    assert page().strip() == "first"
    assert volume() == first_volume  # one claim through every revision
    history = json.loads(helm("history", "web", "--namespace", "k8sfs-helm", "-o", "json"))
    assert [h["revision"] for h in history] == [1, 2, 3]
    policy = kubectl("-n", "k8sfs-helm", "get", "networkpolicy", "web", "-o", "jsonpath={.spec.podSelector}")
    assert "web" in policy  # made by the chart (not enforced yet: no policy engine)

    # After `k8sfs kubeconfig --merge`, helm finds the cluster in ~/.kube/config by itself.
    home = {"HOME": str(tmp_path)}
    run_k8sfs("kubeconfig", *LAB, "--merge", env=home)
    found = ArtifactCache().require("helm", versions_for(LAB_KUBERNETES_VERSION)["helm"]).path
    listed = subprocess.run(
        [str(found), "list", "--all-namespaces", "-o", "json"],
        capture_output=True,
        text=True,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert [r["name"] for r in json.loads(listed.stdout)] == ["web"]
    helm("uninstall", "web", "--namespace", "k8sfs-helm", "--wait")
