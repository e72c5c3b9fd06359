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
