"""A lab cluster that loses hosts, on a lab of its own, through the CLI as
a user runs it: one apply at a time (the lock, --wait, two controllers
with state of their own), --limit, a dead worker that does not stop plan
or a limited apply, hosts that crash and come back with their disks, the
cluster rebuilt with the same CA after `lab down` (after an apply that
left a host out), and a host whose disk is lost rebuilt from the spec
alone."""

from __future__ import annotations

import calendar
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import measured, purge_lab, require_lab_and_artifacts, run_k8sfs, wait_for

pytestmark = pytest.mark.lab

NAME, SUBNET = "k8sfsr", "192.168.81.0/24"
LAB = ["--lab", NAME]
SMOKE = "/usr/local/sbin/k8sfs-smoke-test"


@pytest.fixture(scope="module")
def lab():
    require_lab_and_artifacts()
    from k8sfs.lab import Lab

    try:
        run_k8sfs("lab", "up", *LAB, "--subnet", SUBNET)
        run_k8sfs("apply", *LAB)
        yield Lab(name=NAME, progress=lambda m: print(f"[lab] {m}"))
    finally:
        purge_lab(NAME)


def kubectl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run_k8sfs("kubectl", *LAB, "--", *args, check=check, timeout=60)


def on_host(lab, host: str, argv, timeout: float = 120):
    with lab.session(host) as s:
        return s.exec(argv, timeout=timeout)


def smoke_passes(lab) -> bool:
    return on_host(lab, "k8s-master", [SMOKE]).exit_code == 0


def plan_is_empty() -> bool:
    plan = run_k8sfs("plan", *LAB, "--detailed-exitcode", check=False)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    return True


def ready_since(node: str, since: float) -> bool:
    """Ready, as posted by a kubelet heartbeat after `since` (epoch seconds)."""
    doc = json.loads(kubectl("get", "node", node, "-o", "json").stdout)
    ready = next(c for c in doc["status"]["conditions"] if c["type"] == "Ready")
    beat = calendar.timegm(time.strptime(ready["lastHeartbeatTime"], "%Y-%m-%dT%H:%M:%SZ"))
    return ready["status"] == "True" and beat >= since


def nspawn_pids(lab) -> dict[str, int]:
    return {row["host"]: row["pid"] for row in lab.status()}


def holder_pid(lab) -> int | None:
    from k8sfs.engine.lock import ClusterLock

    record = ClusterLock(lab.cluster_state_dir, "kubernetes", "test").holder()
    return record["pid"] if record else None


def start_apply() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "k8sfs.cli", "apply", *LAB], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


# ----- one apply at a time ------------------------------------------------------------


def test_two_concurrent_applies_one_runs_and_the_other_names_the_holder(lab):
    run_k8sfs("pki", "renew", *LAB, "apiserver")  # work for an apply: kube-apiserver restarts
    first = start_apply()
    try:
        wait_for("the first apply holds the lock", lambda: holder_pid(lab) == first.pid, 30, 0.1)
        second = run_k8sfs("apply", *LAB, check=False)
        assert second.returncode == 1
        assert "holds the lock for cluster kubernetes" in second.stderr
        assert f"k8sfs apply (pid {first.pid}" in second.stderr and "--wait" in second.stderr
        during = run_k8sfs("plan", *LAB, check=False)
        assert f"an apply is in progress: k8sfs apply (pid {first.pid}" in during.stdout
    finally:
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert plan_is_empty()


def test_a_killed_apply_leaves_a_lock_the_next_apply_takes_over(lab):
    run_k8sfs("pki", "renew", *LAB, "apiserver")
    killed = start_apply()
    wait_for("the apply holds the lock", lambda: holder_pid(lab) == killed.pid, 30, 0.1)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    again = run_k8sfs("apply", *LAB)
    assert f"left by k8sfs apply (pid {killed.pid}" in again.stderr and "which is gone" in again.stderr
    assert plan_is_empty()


def test_apply_wait_waits_for_the_holder_and_then_applies(lab):
    run_k8sfs("pki", "renew", *LAB, "apiserver")
    first = start_apply()
    try:
        wait_for("the first apply holds the lock", lambda: holder_pid(lab) == first.pid, 30, 0.1)
        second = run_k8sfs("apply", *LAB, "--wait", "300")
    finally:
        first.communicate(timeout=300)
    assert first.returncode == 0
    assert f"waiting for the lock of cluster kubernetes, held by k8sfs apply (pid {first.pid}" in second.stderr
    assert "0 of " in second.stderr  # the first apply had done the work by then
    assert plan_is_empty()


def test_two_controllers_with_their_own_state_and_different_hosts_meet_on_one_lock(lab, tmp_path):
    """The lock on the hosts does not depend on --limit or --exclude: a
    controller applying to node-1 only keeps out another, with a copy of
    the state of its own, that applies to node-2 only."""
    from k8sfs.cluster import Cluster
    from k8sfs.engine.lock import LockHeldError

    other_state = tmp_path / "other-controller"
    subprocess.run(["cp", "-a", str(lab.cluster_state_dir), str(other_state)], check=True)
    (other_state / "lock").unlink(missing_ok=True)
    holder = Cluster.for_lab(lab)
    try:
        with holder.writing(holder.hosts_left_out(limit=["node-1"])):  # as `apply --limit node-1` holds it
            refused = run_k8sfs(
                "apply", *LAB, "--state", str(other_state), "--only", "kubelet", "--limit", "node-2", check=False
            )
            assert refused.returncode == 1, refused.stderr
            assert f"pid {os.getpid()}, state {lab.cluster_state_dir}" in refused.stderr
            assert "is applying to cluster kubernetes's hosts" in refused.stderr
            # and the other way round: this process cannot take it while the CLI holds it
            again = Cluster.for_lab(lab, state_dir=other_state)
            with pytest.raises(LockHeldError):
                with again.writing(again.hosts_left_out(limit=["node-2"])):
                    pass
            again.close()
    finally:
        holder.close()
    took = run_k8sfs("apply", *LAB, "--state", str(other_state), "--only", "kubelet", "--limit", "node-2")
    assert "0 of " in took.stderr


def test_apply_limit_changes_only_the_chosen_hosts(lab):
    run_k8sfs("pki", "renew", *LAB, "kubelet.conf@node-1", "kubelet.conf@node-2")

    def digest(host: str) -> str:
        return on_host(lab, host, ["sha256sum", "/etc/kubernetes/kubelet.conf"]).stdout.split()[0]

    def renewed(host: str) -> str:
        return hashlib.sha256(
            (lab.cluster_state_dir / "pki" / "hosts" / host / "kubelet.conf").read_bytes()
        ).hexdigest()

    node2_before = digest("node-2")
    alone = run_k8sfs("apply", *LAB, "--limit", "node-1", check=False)
    assert alone.returncode == 1 and "acts on the whole cluster from k8s-master, which is left out" in alone.stderr
    assert digest("node-1") != renewed("node-1")  # refused before anything changed
    limited = run_k8sfs("apply", *LAB, "--limit", "node-1,control-plane")
    assert digest("node-1") == renewed("node-1") and digest("node-2") == node2_before
    assert any(line.split()[:1] == ["node-2"] and "not in --limit" in line for line in limited.stdout.splitlines())
    run_k8sfs("apply", *LAB)  # the full apply catches node-2 up
    assert digest("node-2") == renewed("node-2")
    assert plan_is_empty()


# ----- a dead worker ----------------------------------------------------------------------


def test_a_dead_worker_leaves_plan_and_a_limited_apply_working(lab):
    run_k8sfs("lab", "stop", *LAB, "--kill", "node-2")
    run_k8sfs("pki", "renew", *LAB, "kubelet.conf@node-1")
    renewed = (lab.cluster_state_dir / "pki" / "hosts" / "node-1" / "kubelet.conf").read_bytes()

    plan = run_k8sfs("plan", *LAB, "--detailed-exitcode", check=False)
    assert plan.returncode == 1, plan.stdout
    assert "!! node-2: unreachable: " in plan.stdout and "Connection refused" in plan.stdout
    assert "/etc/kubernetes/kubelet.conf" in plan.stdout  # node-1's change is planned
    assert "host(s) unreachable: node-2" in plan.stdout

    def kubelet_conf_digest() -> str:
        return on_host(lab, "node-1", ["sha256sum", "/etc/kubernetes/kubelet.conf"]).stdout.split()[0]

    before = kubelet_conf_digest()
    refused = run_k8sfs("apply", *LAB, check=False)
    assert refused.returncode == 1
    assert "unreachable: node-2:" in refused.stderr and "--exclude node-2" in refused.stderr
    assert "nothing was changed" in refused.stderr and kubelet_conf_digest() == before

    kubelet = ["systemctl", "show", "-p", "ExecMainPID", "--value", "kubelet"]
    pid_before = on_host(lab, "node-1", kubelet).stdout.strip()
    limited = run_k8sfs("apply", *LAB, "--exclude", "node-2")
    assert kubelet_conf_digest() == hashlib.sha256(renewed).hexdigest()
    assert on_host(lab, "node-1", kubelet).stdout.strip() != pid_before  # restarted with the new certificate
    skipped = [line for line in limited.stdout.splitlines() if "skipped" in line]
    assert any(line.split()[0] == "node-2" for line in skipped)
    assert any("smoke-test" in line and "needs node-2" in line for line in skipped)
    assert "skipped (a full apply picks them up)" in limited.stderr
    status = run_k8sfs("status", *LAB, check=False)
    assert status.returncode == 1 and "node-2: unreachable" in status.stderr

    run_k8sfs("lab", "start", *LAB, "node-2")
    full = run_k8sfs("apply", *LAB)
    assert "skipped" not in full.stdout
    assert plan_is_empty()


# ----- crashes: hosts come back with their disks -------------------------------------


def test_a_crashed_worker_comes_back_by_itself(lab):
    before = nspawn_pids(lab)
    run_k8sfs("lab", "stop", *LAB, "--kill", "node-1")
    assert {r["host"]: r["state"] for r in lab.status()}["node-1"] == "stopped"
    started = time.time()
    up = run_k8sfs("lab", "up", *LAB)
    assert "starting node-1 with their disks" in up.stderr
    after = nspawn_pids(lab)
    assert after["k8s-master"] == before["k8s-master"] and after["node-2"] == before["node-2"]
    took = wait_for("node-1 Ready after its restart", lambda: ready_since("node-1", started), 180)
    measured("worker restart (lab up) to node Ready", f"{took:.1f} s")
    took = wait_for("the smoke test after node-1's restart", lambda: smoke_passes(lab), 180, 3)
    measured("worker restart to smoke test passing", f"{took:.1f} s")
    assert plan_is_empty()


def test_a_crashed_control_plane_comes_back_with_etcd_intact(lab):
    name = f"k8sfs-crash-{int(time.time())}"
    kubectl("create", "configmap", name, "--from-literal=kept=yes")
    run_k8sfs("lab", "stop", *LAB, "--kill", "k8s-master")
    run_k8sfs("lab", "up", *LAB)
    took = wait_for(
        "/readyz after the control plane's restart",
        lambda: kubectl("get", "--raw", "/readyz", check=False).stdout == "ok",
        180,
    )
    measured("control-plane restart (lab up) to /readyz ok", f"{took:.1f} s")
    assert kubectl("get", "configmap", name, "-o", "jsonpath={.data.kept}").stdout == "yes"
    wait_for("the smoke test after the control plane's restart", lambda: smoke_passes(lab), 180, 3)
    assert plan_is_empty()


def test_every_host_crashed_the_cluster_comes_back(lab):
    run_k8sfs("lab", "stop", *LAB, "--kill", "k8s-master", "node-1", "node-2")
    assert all(r["state"] == "stopped" for r in lab.status())
    started = time.time()
    run_k8sfs("lab", "up", *LAB)
    took = wait_for(
        "both nodes Ready after every host restarted",
        lambda: ready_since("node-1", started) and ready_since("node-2", started),
        240,
    )
    measured("every host restarted (lab up) to both nodes Ready", f"{took:.1f} s")
    wait_for("the smoke test after every host restarted", lambda: smoke_passes(lab), 180, 3)
    assert plan_is_empty()


def test_a_host_whose_disk_is_lost_is_rebuilt_from_the_spec(lab):
    run_k8sfs("lab", "stop", *LAB, "node-2")
    host = lab.host("node-2")
    for part in ("upper", "work", "containerd"):
        subprocess.run(["rm", "-rf", str(lab.host_dir(host) / part)], check=True)
    run_k8sfs("lab", "start", *LAB, "node-2")
    assert on_host(lab, "node-2", ["test", "-e", "/usr/local/bin/kubelet"]).exit_code != 0  # a new machine
    plan = run_k8sfs("plan", *LAB, "--detailed-exitcode", check=False)
    assert plan.returncode == 2 and "node-2: kubelet" in plan.stdout
    run_k8sfs("apply", *LAB)
    wait_for("the smoke test after node-2 was rebuilt", lambda: smoke_passes(lab), 180, 3)
    assert plan_is_empty()


def test_after_an_apply_that_left_a_host_out_down_and_up_rebuild_with_the_same_ca(lab):
    """Issue 26's wedge, as a new user met it: an apply that leaves a dead
    host out journals that host's steps as owed; `lab down` keeps the
    journal with the cluster's state; the hosts `lab up` makes are new
    machines, so what the journal owed them is dropped and the apply
    builds the cluster again (it used to replay node-2's uncordon on a
    k8s-master with no kubectl yet, and fail on every retry)."""
    ca = lab.cluster_state_dir / "pki" / "pki" / "ca.crt"
    fingerprint = hashlib.sha256(ca.read_bytes()).hexdigest()
    run_k8sfs("lab", "stop", *LAB, "--kill", "node-2")
    run_k8sfs("pki", "renew", *LAB, "kubelet.conf@node-1")
    run_k8sfs("apply", *LAB, "--exclude", "node-2")
    owed = [line for line in (lab.cluster_state_dir / "journal.jsonl").read_text().splitlines() if "node-2" in line]
    assert any('"uncordon@node-2"' in line and '"skipped"' in line for line in owed)
    down = run_k8sfs("lab", "down", *LAB)
    assert f"kept the cluster's state in {lab.cluster_state_dir}" in down.stderr
    assert ca.exists() and (lab.cluster_state_dir / "secrets" / "encryption-key").exists()
    up = run_k8sfs("lab", "up", *LAB, "--subnet", SUBNET)
    assert "made with a new disk: dropped what the journal owed for them" in up.stderr
    assert "k8s-master/kubelet/uncordon@node-2" in up.stderr
    run_k8sfs("apply", *LAB)
    assert hashlib.sha256(ca.read_bytes()).hexdigest() == fingerprint
    assert smoke_passes(lab)
    purge = run_k8sfs("lab", "down", *LAB, "--purge")
    assert f"--purge also removes: {lab.cluster_state_dir}" in purge.stderr
    assert not lab.cluster_state_dir.exists()
