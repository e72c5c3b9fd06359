"""A lock on the cluster's hosts, so two controllers (two state
directories, two machines) cannot apply to the same cluster at once.

It is held on every control-plane host of the spec, in the spec's order,
whatever --limit and --exclude say: two controllers that include
different hosts still meet on the same locks. A control-plane host that
is left out and cannot be reached (it is down) is passed over; at least
one must hold the lock.

On each host it is flock(1) on /var/lib/k8sfs/apply.lock, held by a shell that runs
over an SSH channel of its own for as long as the apply runs. The shell
writes a byte every tenth of a second; when the controller dies or its
connection drops, that write fails, the shell exits, and the kernel
releases the lock, so no lock outlives its controller. A clean release
touches a file the shell waits for."""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from k8sfs import SSHError, quote
from k8sfs._core import layout
from k8sfs.engine.errors import UnreachableError
from k8sfs.engine.lock import LockHeldError

LOCK_DIR, LOCK_FILE = layout.K8SFS_DIR, layout.HOST_LOCK
BUSY = 75  # EX_TEMPFAIL


def holder_script(holder: str, nonce: str) -> str:
    release = quote(f"/run/k8sfs-release-{nonce}")
    return (
        f'd={LOCK_DIR}; mkdir -p "$d"\n'
        f"exec 9>>{LOCK_FILE}\n"
        f'if ! flock -n 9; then printf \'busy %s\\n\' "$(cat "$d/apply.holder" 2>/dev/null)"; exit {BUSY}; fi\n'
        f"printf '%s\\n' {quote(holder)} > \"$d/apply.holder\"\n"
        "echo locked\n"
        f"while [ ! -e {release} ]; do echo . || exit 0; sleep 0.1; done\n"
        f'rm -f {release} "$d/apply.holder"\n'
    )


class HostLock:
    def __init__(
        self,
        connect: Callable[[str], Any],
        host: str,
        cluster: str,
        state_dir: str,
        shared: Callable[[str], Any] | None = None,
    ) -> None:
        """`connect` makes the holder's own connection; `shared` gives one
        already open to send the release through (else a new one is made)."""
        self.connect, self.host, self.cluster, self.shared = connect, host, cluster, shared
        self.holder = json.dumps(
            {"controller": socket.gethostname(), "pid": os.getpid(), "state": state_dir, "started": time.time()}
        )
        self.nonce = secrets.token_hex(8)
        self._session: Any = None
        self._thread: threading.Thread | None = None
        self._state = threading.Event()
        self._answer = ""
        self._error: BaseException | None = None

    def acquire(self, timeout: float = 30) -> None:
        """Takes the lock; a holder that was this machine's and whose process
        is gone (killed a moment ago) gets a few seconds to let go."""
        deadline = time.monotonic() + 10
        while True:
            try:
                return self._try(timeout)
            except LockHeldError as error:
                if not (self._stale_here() and time.monotonic() < deadline):
                    raise error
                time.sleep(0.5)

    def _stale_here(self) -> bool:
        try:
            other = json.loads(self._answer[5:])
        except ValueError:
            return False
        if other.get("controller") != socket.gethostname():
            return False
        try:
            os.kill(int(other.get("pid", 0)), 0)
            return False
        except ProcessLookupError:
            return True
        except (PermissionError, ValueError):
            return False

    def _try(self, timeout: float) -> None:
        self._state = threading.Event()
        self._answer = ""
        self._error = None
        try:
            self._session = self.connect(self.host)
        except (SSHError, OSError) as error:  # OSError: also the lab's refusal to route
            raise UnreachableError(self.host, str(error)) from error

        def on_line(line: str) -> None:
            if line.startswith(("locked", "busy")) and not self._state.is_set():
                self._answer = line
                self._state.set()

        def hold() -> None:
            try:
                self._session.exec(holder_script(self.holder, self.nonce), on_stdout=on_line)
            except BaseException as error:  # reported by acquire
                self._error = error
            finally:
                self._state.set()

        self._thread = threading.Thread(target=hold, name=f"host-lock-{self.host}", daemon=True)
        self._thread.start()
        if not self._state.wait(timeout):
            raise LockHeldError(f"{self.host}: no answer from the host lock within {timeout:.0f} s")
        if self._answer.startswith("locked"):
            return
        self._thread.join(5)
        self._session.close()
        if self._answer.startswith("busy"):
            raise LockHeldError(self._busy_message(self._answer[5:]))
        if isinstance(self._error, (SSHError, OSError)):
            raise UnreachableError(self.host, str(self._error)) from self._error
        raise LockHeldError(f"{self.host}: the host lock could not be taken: {self._error or 'no answer'}")

    def _busy_message(self, raw: str) -> str:
        try:
            other = json.loads(raw)
            started = time.strftime("%H:%M:%S", time.localtime(other.get("started", 0)))
            who = (
                f"controller {other.get('controller')} (pid {other.get('pid')}, state {other.get('state')}, "
                f"started {started})"
            )
        except ValueError:
            who = "another controller"
        return (
            f"{self.host}: {who} is applying to cluster {self.cluster}'s hosts; one controller at a time "
            f"(its lock is {LOCK_FILE} on {self.host})"
        )

    def release(self) -> None:
        if self._thread is None:
            return
        touch = ["touch", f"/run/k8sfs-release-{self.nonce}"]
        try:
            if self.shared is not None:
                self.shared(self.host).exec(touch, timeout=10)
            else:
                with self.connect(self.host) as session:
                    session.exec(touch, timeout=10)
        except Exception:
            pass  # closing the holder's connection below releases it too
        self._thread.join(5)
        if not self._thread.is_alive():
            self._session.close()
        self._thread = None


class HostLocks:
    """The lock on every control-plane host of `hosts` (name, is a control
    plane), taken in that order. `left_out` hosts that cannot be reached
    are passed over with a line to `progress`; an included one that cannot
    be reached is an UnreachableError."""

    def __init__(
        self,
        connect: Callable[[str], Any],
        hosts: list[tuple[str, bool]],
        cluster: str,
        state_dir: str,
        shared: Callable[[str], Any] | None = None,
        left_out: dict[str, str] | None = None,
        progress: Callable[[str], None] = lambda _m: None,
    ) -> None:
        self.names = [name for name, control_plane in hosts if control_plane]
        if not self.names:
            raise ValueError("the spec has no control-plane host to hold the cluster's lock")
        self.connect, self.cluster, self.state_dir, self.shared = connect, cluster, state_dir, shared
        self.left_out = left_out or {}
        self.progress = progress
        self.held: list[HostLock] = []

    def acquire(self, timeout: float = 30) -> None:
        passed: dict[str, str] = {}
        try:
            for name in self.names:
                lock = HostLock(self.connect, name, self.cluster, self.state_dir, self.shared)
                try:
                    lock.acquire(timeout)
                except UnreachableError as error:
                    if name not in self.left_out:
                        raise
                    passed[name] = error.why
                    self.progress(
                        f"{name}: {self.left_out[name]} and unreachable: the cluster's lock is not held there"
                    )
                    continue
                self.held.append(lock)
            if not self.held:
                raise LockHeldError(
                    "no control-plane host can hold the cluster's lock ("
                    + "; ".join(f"{h}: {w}" for h, w in passed.items())
                    + f"): an apply needs at least one of {', '.join(self.names)} up"
                )
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        held, self.held = self.held, []
        for lock in reversed(held):
            lock.release()
