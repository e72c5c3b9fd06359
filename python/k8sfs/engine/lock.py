"""One writer per cluster: an exclusive lock beside the cluster's state on
the controller, recording who holds it.

The lock is flock(2) on `<state>/lock`: the kernel releases it when its
holder exits for any reason (kill -9, a crash, a reboot), so a lock held
by a live process is never broken and a dead holder's lock is free. The
file also records the holder (pid, host, command, start, boot id); finding
that record while the lock is free means the last holder died, and the
taker says so. Readers (plan, status) take no lock: they read the record
and check that its process still lives.

Two controllers with separate state directories are kept apart by a lock
on every control-plane host of the cluster (engine/host_lock.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from k8sfs.state_paths import StateLayout


class LockHeldError(RuntimeError):
    """Another k8sfs process is changing the same cluster."""


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe(holder: dict) -> str:
    started = time.strftime("%H:%M:%S", time.localtime(holder.get("started", 0)))
    where = "" if holder.get("host") == socket.gethostname() else f" on {holder.get('host')}"
    return f"k8sfs {holder.get('command', '?')} (pid {holder.get('pid')}{where}, started {started})"


class ClusterLock:
    def __init__(self, state_dir: Path, cluster: str, command: str) -> None:
        self.path = StateLayout(Path(state_dir)).lock
        self.cluster = cluster
        self.command = command
        self._fd: int | None = None

    def holder(self) -> dict | None:
        """The recorded holder, if its process is still alive (reads only)."""
        try:
            record = json.loads(self.path.read_text() or "null")
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict):
            return None
        same_boot = record.get("host") == socket.gethostname() and record.get("boot_id") == _boot_id()
        if same_boot and not _alive(int(record.get("pid", 0))):
            return None
        return record

    def describe_holder(self) -> str:
        """'' when nobody holds the lock; otherwise who does (for plan and status)."""
        if self._fd is not None:
            return ""
        record = self.holder()
        if not record:
            return ""
        what = "an apply" if str(record.get("command", "")).startswith("apply") else "another command"
        return f"{what} is in progress: {describe(record)}"

    def acquire(self, wait: float = 0, progress: Callable[[str], None] = lambda _m: None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                record = self._read(fd)
                who = describe(record) if record else "another k8sfs process"
                if time.monotonic() >= deadline:
                    os.close(fd)
                    hint = f" (waited {wait:.0f} s)" if wait else "; wait for it with --wait SECONDS"
                    raise LockHeldError(f"another {who} holds the lock for cluster {self.cluster}{hint}") from None
                if not said:
                    progress(f"waiting for the lock of cluster {self.cluster}, held by {who}")
                    said = True
                time.sleep(0.2)
        stale = self._read(fd)
        if stale:
            progress(f"taking over the lock of cluster {self.cluster} left by {describe(stale)}, which is gone")
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "argv": sys.argv[1:],
            "started": time.time(),
            "boot_id": _boot_id(),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        os.fsync(fd)
        self._fd = fd

    @staticmethod
    def _read(fd: int) -> dict | None:
        try:
            data = os.pread(fd, 65536, 0)
            record = json.loads(data or b"null")
            return record if isinstance(record, dict) else None
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # an empty record: released cleanly, nothing stale
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    @contextlib.contextmanager
    def held(self, wait: float = 0, progress: Callable[[str], None] = lambda _m: None) -> Iterator[None]:
        """Held for the block; re-entrant for the process that holds it."""
        if self._fd is not None:
            yield
            return
        self.acquire(wait, progress)
        try:
            yield
        finally:
            self.release()
