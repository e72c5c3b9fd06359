"""Faults during apply, on a lab of its own, as they happen to users:
kill -9 of `k8sfs apply` in every chapter (points from a seeded generator;
the seed is printed and K8SFS_FAULT_SEED repeats a run), sshd dying on a host
mid-chapter, the network to a host cut during an upload, and a full disk
under the controller's state. Afterwards the cluster is exactly what an
uninterrupted apply makes, and nothing half-written is left or trusted."""

from __future__ import annotations

import hashlib
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import measured, purge_lab, require_lab_and_artifacts, run_k8sfs, wait_for

pytestmark = pytest.mark.lab

NAME, SUBNET = "k8sfsf", "192.168.95.0/24"
LAB = ["--lab", NAME]
SMOKE = "/usr/local/sbin/k8sfs-smoke-test"


@pytest.fixture(scope="module")
def lab():
    require_lab_and_artifacts()
    from k8sfs.lab import Lab

    try:
        run_k8sfs("lab", "up", *LAB, "--subnet", SUBNET)
        run_k8sfs("apply", *LAB, timeout=900)  # each test starts from a working cluster
        yield Lab(name=NAME, progress=print)
    finally:
        purge_lab(NAME)


def start_apply(*extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "k8sfs.cli", "apply", *LAB, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def expected_digests(lab) -> dict[str, dict[str, str]]:
    """Every managed file's sha256 per host, as the spec renders it now:
    what an uninterrupted apply writes (rendering is deterministic)."""
    from k8sfs import chapters
    from k8sfs.cluster import Cluster

    with Cluster.for_lab(lab) as cluster:
        steps = cluster.steps(list(chapters.CHAPTERS))
    out: dict[str, dict[str, str]] = {}
    for s in steps:
        for f in s.files:
            out.setdefault(s.host, {})[f.path] = hashlib.sha256(f.data).hexdigest()
        for u in s.uploads:
            out.setdefault(s.host, {})[u.path] = u.sha256
    return out


def on_hosts(lab, host: str, argv, timeout: float = 120):
    with lab.session(host) as s:
        return s.exec(argv, timeout=timeout)


def chapters_with_work() -> list[str]:
    """The chapters a plan says would change something (after a reset: a cold apply's)."""
    plan = run_k8sfs("plan", *LAB).stdout
    found = re.findall(r"^== ([a-z-]+): (\d+) of \d+ steps would change", plan, re.MULTILINE)
    return [name for name, count in found if int(count) > 0]


def assert_nothing_half_written(lab, expected: dict[str, dict[str, str]], where: str) -> None:
    """Every managed file on every host is absent or whole (the digest the
    spec renders: a reset left nothing older), and no temporary file of an
    upload is trusted under the real name."""
    for host, files in expected.items():
        listing = on_hosts(
            lab, host, ["sh", "-c", 'for f; do [ -e "$f" ] && sha256sum "$f"; done; true', "sh", *sorted(files)]
        )
        have = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in listing.stdout.splitlines()}
        wrong = {path: digest for path, digest in have.items() if digest != files[path]}
        assert wrong == {}, f"{where}: {host}: files neither absent nor whole: {sorted(wrong)}"


@pytest.mark.long  # one killed apply per chapter, each resumed; make test keeps one (test_control_plane.py)
def test_apply_killed_in_every_chapter_ends_as_an_uninterrupted_apply_would(lab, tmp_path):
    """Each kill lands at a point the seed names (the Nth remote action from
    a chapter on, engine/fault.py), so a seed repeats the run; each kill is
    checked at once (nothing half-written, plan owes the interrupted step),
    and the points cover every chapter a cold apply has work in."""
    from k8sfs.engine.fault import KILL_AT, RECORD

    seed = int(os.environ.get("K8SFS_FAULT_SEED", str(time.time_ns() % 1_000_000)))
    print(f"kill -9 points: seed {seed} (K8SFS_FAULT_SEED={seed} repeats this run)")
    rng = random.Random(seed)
    run_k8sfs("reset", *LAB, "--yes")  # from scratch: every kill lands in real work
    wanted = chapters_with_work()
    expected = expected_digests(lab)
    record = tmp_path / "kill-point"
    landed: list[str] = []
    covered: set[str] = set()
    for chain in range(3):
        if chain:
            run_k8sfs("reset", *LAB, "--yes")  # a new cold apply for the chapters the last chain missed
        for chapter in [c for c in wanted if c not in covered]:
            n = rng.randint(1, 4)
            record.unlink(missing_ok=True)
            proc = run_k8sfs(
                "apply", *LAB, check=False, env={KILL_AT: f"{chapter}:{n}", RECORD: str(record)}, timeout=900
            )
            if proc.returncode == 0:
                break  # the apply ran to its end before the point: this chain is over
            assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
            host, label = record.read_text().split()
            landed.append(f"{chapter}:{n} -> {host} {label}")
            covered.add(label.partition("/")[0])
            assert_nothing_half_written(lab, expected, f"killed at {host} {label}")
            plan = run_k8sfs("plan", *LAB)
            step = label.partition("/")[2]
            assert any(line.startswith(f"  {host}: {step}") for line in plan.stdout.splitlines()), (
                f"the plan after a kill in {host} {label} does not owe that step"
            )
        if covered >= set(wanted):
            break
    measured("kill -9 of apply: seed", str(seed))
    measured("kill -9 of apply: points survived", f"{len(landed)} ({'; '.join(landed)})")
    assert sorted(set(wanted) - covered) == [], f"no kill landed in {sorted(set(wanted) - covered)}"
    run_k8sfs("apply", *LAB, timeout=900)
    with lab.session("k8s-master") as master:
        assert master.exec([SMOKE], timeout=120).exit_code == 0
    assert run_k8sfs("plan", *LAB, "--detailed-exitcode", check=False).returncode == 0
    for host, files in expected_digests(lab).items():
        listing = on_hosts(lab, host, ["sha256sum", *sorted(files)]).stdout
        have = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in listing.splitlines()}
        assert have == files, host
        leftovers = on_hosts(lab, host, ["sh", "-c", "find / -xdev -name '.*.k8sfs-*' 2>/dev/null"]).stdout
        assert leftovers.strip() == "", f"{host}: {leftovers}"


def test_sshd_dying_mid_chapter_fails_naming_the_host_and_step_and_apply_then_completes(lab):
    with lab.session("node-2") as node:
        node.exec(["sh", "-c", "systemctl stop kubelet; rm -f /usr/local/bin/kubelet /var/lib/k8sfs/digests"])
    journal = lab.cluster_state_dir / "journal.jsonl"
    seen = len(journal.read_text().splitlines())
    proc = start_apply()
    wait_for(
        "the apply starts on node-2",
        lambda: '"host": "node-2"' in "".join(journal.read_text().splitlines()[seen:]),
        60,
        0.1,
    )
    # sshd dies (from inside the host, not over SSH, which would die with it)
    on_hosts_via_nsenter(lab, "node-2", "systemctl stop ssh.socket ssh; pkill -9 -x sshd; true")
    started = time.monotonic()
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("apply did not fail within 300 s with sshd gone on node-2") from None
    measured("sshd killed on a host mid-apply: apply failed after", f"{time.monotonic() - started:.1f} s")
    assert proc.returncode == 1
    assert "node-2" in err and "step " in err, err[-2000:]
    run_k8sfs("lab", "stop", *LAB, "node-2")
    run_k8sfs("lab", "start", *LAB, "node-2")
    run_k8sfs("apply", *LAB, timeout=900)
    assert run_k8sfs("plan", *LAB, "--detailed-exitcode", check=False).returncode == 0


def test_the_network_cut_during_an_upload_leaves_the_old_file_or_the_new_one(lab):
    host = lab.host("node-1")
    with lab.session("node-1") as node:
        node.exec(["sh", "-c", "systemctl stop kube-proxy; rm -f /usr/local/bin/kube-proxy /var/lib/k8sfs/digests"])
    proc = start_apply("--only", "kube-proxy")

    def uploading() -> bool:
        return (
            on_hosts(
                lab, "node-1", ["sh", "-c", "ls /usr/local/bin/.kube-proxy.k8sfs-* 2>/dev/null"], timeout=10
            ).stdout.strip()
            != ""
        )

    wait_for("the kube-proxy upload in progress", uploading, 120, 0.05)
    subprocess.run(["ip", "link", "set", host.veth, "down"], check=True)
    try:
        time.sleep(8)
        state = on_hosts_via_nsenter(lab, "node-1", "test -e /usr/local/bin/kube-proxy && echo whole || echo none")
        assert state in ("whole", "none")  # never a half file under the real name
    finally:
        subprocess.run(["ip", "link", "set", host.veth, "up"], check=True)
    out, err = proc.communicate(timeout=600)
    if proc.returncode != 0:  # the connection did not survive the cut: a plain apply finishes it
        assert "node-1" in err, err[-2000:]
        run_k8sfs("apply", *LAB)
    from k8sfs.artifacts import ArtifactCache, versions_for
    from k8sfs.versions import LAB_KUBERNETES_VERSION

    want = ArtifactCache().require("kube-proxy", versions_for(LAB_KUBERNETES_VERSION)["kube-proxy"]).sha256
    have = on_hosts(lab, "node-1", ["sha256sum", "/usr/local/bin/kube-proxy"]).stdout.split()[0]
    assert have == want
    assert on_hosts(lab, "node-1", ["sh", "-c", "ls -a /usr/local/bin | grep -c k8sfs- || true"]).stdout.strip() == "0"
    assert run_k8sfs("plan", *LAB, "--detailed-exitcode", check=False).returncode == 0


def on_hosts_via_nsenter(lab, host: str, script: str) -> str:
    """A look inside a host while its network is down: through its init's namespaces, not SSH."""
    from k8sfs.lab.processes import container_inits

    pid = container_inits({h.name: lab.host_dir(h) / "upper" for h in lab.hosts})[host][0]
    return subprocess.run(
        ["nsenter", "-t", str(pid), "-m", "-u", "-p", "sh", "-c", script], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_a_full_disk_under_the_pki_is_a_clear_error_and_nothing_half_written_is_trusted(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24k", "tmpfs", str(state)], check=True)
    try:
        full = run_k8sfs("pki", "init", "--dir", str(state / "pki"), check=False)
        assert full.returncode == 1
        assert "No space left on device" in full.stderr or "no space" in full.stderr.lower(), full.stderr
        assert "PRIVATE KEY" not in full.stderr
        subprocess.run(["mount", "-o", "remount,size=8m", str(state)], check=True)
        plan = run_k8sfs("pki", "plan", "--dir", str(state / "pki"), check=False)
        assert plan.returncode == 2  # what the full disk cut short is still to do, not taken as done
        run_k8sfs("pki", "init", "--dir", str(state / "pki"))
        check = run_k8sfs("pki", "check", "--dir", str(state / "pki"))
        assert check.returncode == 0 and "problem" not in check.stdout.lower()
        assert not [p for p in Path(state).rglob("*") if ".tmp" in p.name or p.name.startswith(".")]
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)
