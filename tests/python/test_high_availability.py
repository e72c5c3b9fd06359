"""Three control planes behind one endpoint, on a lab of its own
(`lab up --control-planes 3 --workers 2`): every client reaches the API at
the endpoint, losing any control-plane host (hard) keeps the cluster
working, a dead worker's pods move, and etcd goes back to a snapshot.
Times are measured and reported, not asserted tightly."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest
import yaml

from conftest import measured, purge_lab, require_lab_and_artifacts, run_k8sfs, wait_for

pytestmark = pytest.mark.lab
# make test keeps the endpoint and the loss of a control plane; the rest,
# minutes each on five hosts, runs in make test-long.
long = pytest.mark.long

NAME, SUBNET, VIP = "k8sfsh", "192.168.84.0/24", "192.168.84.9"
LAB = ["--lab", NAME]
PLANES = ["k8s-master-1", "k8s-master-2", "k8s-master-3"]


@pytest.fixture(scope="module")
def lab():
    require_lab_and_artifacts()
    from k8sfs.lab import Lab

    try:
        run_k8sfs("lab", "up", *LAB, "--subnet", SUBNET, "--control-planes", "3", "--workers", "2")
        started = time.monotonic()
        run_k8sfs("apply", *LAB, timeout=900)
        measured("3+2 HA cluster: apply from new hosts to the smoke test", f"{time.monotonic() - started:.1f} s")
        yield Lab(name=NAME, progress=print)
    finally:
        purge_lab(NAME)


def kubectl(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    return run_k8sfs("kubectl", *LAB, "--", "--request-timeout=5s", *args, check=check, timeout=timeout)


def on_host(lab, host: str, argv, timeout: float = 60):
    with lab.session(host) as s:
        return s.exec(argv, timeout=timeout)


def etcd_healthy(lab, via: str) -> int:
    from k8sfs import _core

    result = on_host(lab, via, ["etcdctl", *_core.etcdctl_tls_args(), "endpoint", "health", "--cluster"])
    return (result.stdout + result.stderr).count("is healthy")


def vip_holder(lab) -> str:
    import k8sfs

    for host in PLANES:
        try:
            if on_host(lab, host, ["sh", "-c", f"ip -4 -o addr show | grep -qw {VIP}"]).exit_code == 0:
                return host
        except k8sfs.ConnectError:
            continue  # a host that is down holds nothing
    raise AssertionError(f"no control plane holds {VIP}")


def hello_nodes() -> list[str]:
    """The nodes the smoke test's running replicas are on (terminating ones left out)."""
    pods = json.loads(kubectl("-n", "k8sfs-smoke", "get", "pods", "-l", "app=hello", "-o", "json").stdout)
    return sorted(
        p["spec"]["nodeName"]
        for p in pods["items"]
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    )


def plan_is_empty() -> None:
    plan = run_k8sfs("plan", *LAB, "--detailed-exitcode", check=False)
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr


def test_every_client_reaches_the_api_through_the_endpoint(lab):
    admin = yaml.safe_load((lab.cluster_state_dir / "pki" / "admin.conf").read_text())
    assert admin["clusters"][0]["cluster"]["server"] == f"https://{VIP}:6443"
    kubelet = on_host(lab, "node-1", ["cat", "/etc/kubernetes/kubelet.conf"]).stdout
    proxy = on_host(lab, "node-2", ["cat", "/etc/kubernetes/kube-proxy.conf"]).stdout
    assert f"server: https://{VIP}:6443" in kubelet and f"server: https://{VIP}:6443" in proxy
    assert kubectl("get", "--raw", "/readyz").stdout == "ok"
    assert etcd_healthy(lab, "k8s-master-2") == 3
    # The apiserver's certificate names the endpoint; each scheduler and controller manager runs, one leads.
    san = on_host(
        lab,
        "k8s-master-3",
        ["openssl", "x509", "-in", "/etc/kubernetes/pki/apiserver.crt", "-noout", "-ext", "subjectAltName"],
    ).stdout
    assert f"IP Address:{VIP}" in san
    for component in ("kube-scheduler", "kube-controller-manager"):
        assert all(on_host(lab, h, ["systemctl", "is-active", component]).stdout.strip() == "active" for h in PLANES)
        holder = kubectl("-n", "kube-system", "get", "lease", component, "-o", "jsonpath={.spec.holderIdentity}").stdout
        assert any(holder.startswith(h) for h in PLANES), holder
    endpoints = kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=kubernetes", "-o", "json").stdout
    addresses = {a for s in json.loads(endpoints)["items"] for e in s["endpoints"] for a in e["addresses"]}
    assert addresses == {"192.168.84.10", "192.168.84.11", "192.168.84.12"}


class Prober:
    """Asks the API for /readyz through the endpoint from the controller, one
    request after the other with 0.2 s between them; each is a `k8sfs
    kubectl` process, so the real rate is lower (`rate` says what it was).
    A request that times out counts as failed, and so does anything else
    that goes wrong in a probe: nothing can shorten the list."""

    def __init__(self) -> None:
        self.results: list[bool] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = self._ended = 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                answer = kubectl("get", "--raw", "/readyz", check=False, timeout=10)
                self.results.append(answer.returncode == 0 and answer.stdout == "ok")
            except Exception as error:  # a timeout is a failed request
                self.results.append(False)
                self.errors.append(f"{type(error).__name__}: {error}")
            time.sleep(0.2)

    def __enter__(self) -> Prober:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._ended = time.monotonic()

    @property
    def rate(self) -> float:
        """Requests per second over the probed time."""
        return len(self.results) / max(self._ended - self._started, 1e-9)

    def assert_enough(self) -> None:
        """At least one request every 3 s of what was probed."""
        took = self._ended - self._started
        assert len(self.results) >= took / 3, f"only {len(self.results)} requests in {took:.0f} s: {self.errors[-3:]}"


def starts_since(lab, host: str, unit: str, since: str) -> int:
    log = on_host(lab, host, ["journalctl", "-u", unit, "--since", since, "-o", "cat"]).stdout
    return sum(1 for line in log.splitlines() if line.startswith("Started "))


@long
def test_renewed_certificates_roll_host_by_host_and_the_api_stays_up(lab):
    run_k8sfs("pki", "renew", *LAB, "--all")
    plan = run_k8sfs("plan", *LAB).stdout
    assert "rollout (one host at a time, services running): k8s-master-1, then k8s-master-2, then k8s-master-3" in plan
    assert "hand-over-endpoint [before k8s-master-1]" in plan
    since = on_host(lab, "k8s-master-1", ["date", "+%Y-%m-%d %H:%M:%S"]).stdout.strip()
    with Prober() as probe:
        run_k8sfs("apply", *LAB, timeout=900)
    failed = probe.results.count(False)
    measured(
        "certificate roll on 3+2 (pki renew --all, apply): API requests through the endpoint",
        f"{failed} of {len(probe.results)} failed ({probe.rate:.1f} requests/s)",
    )
    probe.assert_enough()
    assert failed <= 2, f"{failed} of {len(probe.results)} requests failed during the roll"
    for host in PLANES:
        for unit in ("kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler"):
            assert starts_since(lab, host, unit, since) == 1, (host, unit)
    for host in ("node-1", "node-2"):
        for unit in ("kubelet", "kube-proxy"):
            assert starts_since(lab, host, unit, since) == 1, (host, unit)
    plan_is_empty()


def test_losing_a_control_plane_host_keeps_the_cluster_working(lab):
    victim = vip_holder(lab)
    run_k8sfs("lab", "stop", *LAB, "--kill", victim)
    took = wait_for(
        "the API through the endpoint after a control plane died",
        lambda: kubectl("get", "nodes", check=False).returncode == 0,
        60,
        0.2,
    )
    measured(f"API endpoint answers again after {victim} was killed", f"{took:.1f} s")
    assert vip_holder(lab) != victim
    kubectl(
        "create",
        "deployment",
        "after-loss",
        "--image=k8sfs.local/busybox:1.0",
        "--replicas=2",
        "--",
        "httpd",
        "-f",
        "-p",
        "8080",
        "-h",
        "/var/www",
    )
    kubectl(
        "patch",
        "deployment",
        "after-loss",
        "--type=json",
        "-p",
        '[{"op": "add", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "Never"}]',
    )
    kubectl("rollout", "status", "deployment/after-loss", "--timeout=120s", timeout=150)
    ip = kubectl("-n", "k8sfs-smoke", "get", "service", "hello", "-o", "jsonpath={.spec.clusterIP}").stdout
    pod = kubectl("-n", "k8sfs-smoke", "get", "pods", "-o", "jsonpath={.items[0].metadata.name}").stdout

    def service_answers() -> bool:
        answer = kubectl(
            "-n", "k8sfs-smoke", "exec", pod, "--", "timeout", "3", "wget", "-qO-", f"http://{ip}/", check=False
        )
        return answer.stdout == "hello from k8sfs\n"

    took = wait_for("the smoke test's Service from a pod", service_answers, 60, 0.5)
    measured(f"kubectl exec into a pod, wget to the Service: first success after {victim} was killed", f"{took:.1f} s")
    survivor = next(h for h in PLANES if h != victim)
    assert etcd_healthy(lab, survivor) == 2

    run_k8sfs("lab", "start", *LAB, victim)
    wait_for("three healthy etcd members", lambda: etcd_healthy(lab, survivor) == 3, 120)
    wait_for(
        f"{victim}'s own kube-apiserver ready",
        lambda: (
            on_host(
                lab,
                victim,
                [
                    "kubectl",
                    "--kubeconfig",
                    "/etc/kubernetes/admin.conf",
                    "--server",
                    "https://127.0.0.1:6443",
                    "get",
                    "--raw",
                    "/readyz",
                ],
            ).exit_code
            == 0
        ),
        120,
    )
    kubectl("delete", "deployment", "after-loss")
    plan_is_empty()


CLIENT = """
apiVersion: v1
kind: Pod
metadata: {name: prober, namespace: k8sfs-smoke}
spec:
  nodeName: NODE
  containers:
  - name: probe
    image: k8sfs.local/busybox:1.0
    imagePullPolicy: Never
    command:
    - sh
    - -c
    - >-
      while true; do
      if timeout 1 wget -qO- http://hello/ >/dev/null 2>&1; then echo ok; else echo fail; fi;
      sleep 0.2; done
"""


@long
def test_a_dead_workers_pods_move_and_the_service_keeps_answering(lab):
    # The smoke test's pods tolerate an unreachable node for 10 s instead of 300 s.
    kubectl(
        "-n",
        "k8sfs-smoke",
        "patch",
        "deployment",
        "hello",
        "--type=json",
        "-p",
        json.dumps(
            [
                {
                    "op": "add",
                    "path": "/spec/template/spec/tolerations",
                    "value": [
                        {
                            "key": "node.kubernetes.io/unreachable",
                            "operator": "Exists",
                            "effect": "NoExecute",
                            "tolerationSeconds": 10,
                        },
                        {
                            "key": "node.kubernetes.io/not-ready",
                            "operator": "Exists",
                            "effect": "NoExecute",
                            "tolerationSeconds": 10,
                        },
                    ],
                },
                {
                    "op": "replace",
                    "path": "/spec/template/spec/topologySpreadConstraints/0/whenUnsatisfiable",
                    "value": "ScheduleAnyway",
                },
            ]
        ),
    )
    kubectl("-n", "k8sfs-smoke", "rollout", "status", "deployment/hello", "--timeout=120s", timeout=150)
    run_k8sfs("kubectl", *LAB, "--", "apply", "-f", "-", input=CLIENT.replace("NODE", "node-1"))
    kubectl("-n", "k8sfs-smoke", "wait", "--for=condition=Ready", "pod/prober", "--timeout=60s", timeout=90)
    time.sleep(3)
    before = kubectl("-n", "k8sfs-smoke", "logs", "prober").stdout.split()
    run_k8sfs("lab", "stop", *LAB, "--kill", "node-2")
    killed = time.monotonic()

    wait_for("both replicas running on node-1", lambda: hello_nodes() == ["node-1", "node-1"], 240, 2)
    rescheduled = time.monotonic() - killed
    time.sleep(5)
    during = kubectl("-n", "k8sfs-smoke", "logs", "prober").stdout.split()[len(before) :]
    failed = during.count("fail")
    assert during and during[-5:] == ["ok"] * 5, during[-10:]
    measured("worker killed: replicas running on the other worker after", f"{rescheduled:.1f} s")
    measured("worker killed: requests to the Service (every 0.2 s, 1 s timeout)", f"{failed} of {len(during)} failed")
    run_k8sfs("lab", "start", *LAB, "node-2")
    kubectl("-n", "k8sfs-smoke", "delete", "pod", "prober", "--wait=false")
    wait_for(
        "node-2 Ready again",
        lambda: (
            "True"
            in kubectl("get", "node", "node-2", "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}").stdout
        ),
        180,
    )
    # The smoke test's own Deployment again, spread over both workers as its
    # manifest says. Neither re-applying the manifest (kubectl apply leaves
    # the tolerations alone, which the manifest never set) nor a rollout
    # does it: the spread counts the old replicas on node-1, so both new
    # ones land on node-2. A fresh Deployment places both anew.
    kubectl("-n", "k8sfs-smoke", "delete", "deployment", "hello", "--wait=true", timeout=120)
    on_host(
        lab,
        PLANES[0],
        [
            "kubectl",
            "--kubeconfig",
            "/etc/kubernetes/admin.conf",
            "apply",
            "-f",
            "/etc/kubernetes/addons/smoke-test.yaml",
        ],
    )
    kubectl("-n", "k8sfs-smoke", "rollout", "status", "deployment/hello", "--timeout=180s", timeout=200)
    wait_for("a replica on each worker", lambda: hello_nodes() == ["node-1", "node-2"], 60)


@long
def test_etcd_restore_brings_a_deleted_configmap_back_on_every_member(lab, tmp_path):
    kubectl("create", "configmap", "before-snapshot", "--from-literal=kept=yes")
    snapshot = tmp_path / "snap.db"
    run_k8sfs("etcd", "snapshot", *LAB, "-o", str(snapshot))
    kubectl("delete", "configmap", "before-snapshot")
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a snapshot" * 100)
    refused = run_k8sfs("etcd", "restore", *LAB, str(bad), "--yes", check=False)
    assert (
        refused.returncode == 1 and "not an etcd snapshot" in refused.stderr and "nothing was changed" in refused.stderr
    )
    assert kubectl("get", "--raw", "/readyz").stdout == "ok"  # untouched
    started = time.monotonic()
    run_k8sfs("etcd", "restore", *LAB, str(snapshot), "--yes", timeout=900)
    measured("etcd restore of 3 members (snapshot checked, apiservers back)", f"{time.monotonic() - started:.1f} s")
    assert kubectl("get", "configmap", "before-snapshot", "-o", "jsonpath={.data.kept}").stdout == "yes"
    assert etcd_healthy(lab, "k8s-master-1") == 3
    plan_is_empty()


@long
def test_every_host_restarted_the_ha_cluster_comes_back_by_itself(lab):
    hosts = [r["host"] for r in lab.status()]
    run_k8sfs("lab", "stop", *LAB, "--kill", *hosts)
    run_k8sfs("lab", "up", *LAB)
    took = wait_for(
        "the API through the endpoint after every host restarted",
        lambda: kubectl("get", "--raw", "/readyz", check=False).stdout == "ok",
        240,
        1,
    )
    measured("every HA host restarted (lab up) to the endpoint ready", f"{took:.1f} s")
    wait_for("three healthy etcd members", lambda: etcd_healthy(lab, "k8s-master-1") == 3, 180)
    with lab.session(PLANES[0]) as s:
        wait_for(
            "the smoke test", lambda: s.exec(["/usr/local/sbin/k8sfs-smoke-test"], timeout=120).exit_code == 0, 240, 3
        )
    plan_is_empty()
