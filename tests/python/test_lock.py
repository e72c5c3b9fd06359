"""The cluster lock on the controller, with real processes: one holder at
a time, the second refused with the holder's name, --wait, and a holder
killed with SIGKILL leaving a lock the next writer takes over."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from k8sfs.engine.lock import ClusterLock, LockHeldError

HOLD = """
import sys, time
from k8sfs.engine.lock import ClusterLock
lock = ClusterLock(sys.argv[1], "kubernetes", "apply")
lock.acquire()
print("held", flush=True)
time.sleep(float(sys.argv[2]))
lock.release()
"""


def holder(state, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(state), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_and_told_who_holds_the_lock(tmp_path):
    other = holder(tmp_path, 30)
    try:
        lock = ClusterLock(tmp_path, "kubernetes", "apply")
        with pytest.raises(LockHeldError) as refused:
            lock.acquire()
        assert f"k8sfs apply (pid {other.pid}" in str(refused.value)
        assert "holds the lock for cluster kubernetes" in str(refused.value)
        assert f"pid {other.pid}" in lock.describe_holder()  # what plan and status say, without locking
    finally:
        other.kill()
        other.wait()


def test_wait_takes_the_lock_when_the_holder_finishes(tmp_path):
    other = holder(tmp_path, 1)
    said = []
    lock = ClusterLock(tmp_path, "kubernetes", "apply")
    lock.acquire(wait=20, progress=said.append)
    try:
        assert other.wait(5) == 0
        assert said and said[0].startswith("waiting for the lock of cluster kubernetes")
        assert not any("taking over" in m for m in said)  # released cleanly: nothing stale
    finally:
        lock.release()
    assert lock.describe_holder() == ""


def test_a_killed_holder_leaves_a_lock_the_next_writer_takes_over(tmp_path):
    other = holder(tmp_path, 30)
    other.send_signal(signal.SIGKILL)
    other.wait()
    lock = ClusterLock(tmp_path, "kubernetes", "apply")
    assert lock.describe_holder() == ""  # its process is gone
    said = []
    started = time.monotonic()
    lock.acquire(progress=said.append)
    lock.release()
    assert time.monotonic() - started < 2
    assert any(f"left by k8sfs apply (pid {other.pid}" in m and "which is gone" in m for m in said), said


def test_a_conformance_run_and_an_apply_exclude_each_other(tmp_path):
    """verify conformance takes the cluster's lock before it touches a host,
    so it is refused while an apply holds it (and plan would name it)."""
    spec = tmp_path / "cluster.yaml"
    subprocess.run([sys.executable, "-m", "k8sfs.cli", "init", str(spec)], check=True, capture_output=True)
    state = tmp_path / "state"
    other = holder(state, 30)
    try:
        started = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "k8sfs.cli", "verify", "conformance", "--spec", str(spec), "--state", str(state)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode != 0
        assert f"k8sfs apply (pid {other.pid}" in run.stderr and "holds the lock" in run.stderr
        assert time.monotonic() - started < 20  # refused at once, no host tried
    finally:
        other.kill()
        other.wait()


def test_plan_names_a_holder_that_is_not_an_apply(tmp_path):
    lock = ClusterLock(tmp_path, "kubernetes", "verify conformance")
    lock.acquire()
    try:
        reader = ClusterLock(tmp_path, "kubernetes", "plan")
        said = reader.describe_holder()
        assert said.startswith("another command is in progress: k8sfs verify conformance (pid")
    finally:
        lock.release()
