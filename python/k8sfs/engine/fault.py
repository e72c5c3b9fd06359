"""A kill at a chosen point of an apply, for the fault tests.

With K8SFS_FAULT_KILL_AT=CHAPTER:N in its environment, an apply kills
itself (SIGKILL, as a power cut or `kill -9` would) just before the Nth
remote action (a command or an upload) of a step in CHAPTER or a later
chapter, counted over all hosts, after writing `host chapter/step` to the
file K8SFS_FAULT_RECORD names. The tests choose points by chapter, so a
seed names the same points on every run, and the record says where each
kill landed. Without the variable (always, outside the tests) it does
nothing."""

from __future__ import annotations

import os
import signal
import threading

KILL_AT = "K8SFS_FAULT_KILL_AT"
RECORD = "K8SFS_FAULT_RECORD"


class FaultPoint:
    def __init__(self, chapters: list[str] | None = None) -> None:
        """Armed from the environment for an apply of `chapters`; None: never."""
        self._lock = threading.Lock()
        self._count = 0
        self._first = -1  # index of the chapter from which actions count; -1: disarmed
        self._at = 0
        self._chapters: list[str] = chapters or []
        spec = os.environ.get(KILL_AT, "")
        if not spec or chapters is None:
            return
        chapter, _, n = spec.rpartition(":")
        if chapter not in chapters or not n.isdigit() or int(n) < 1:
            raise ValueError(f"{KILL_AT}={spec}: want CHAPTER:N, N >= 1, CHAPTER one of {', '.join(chapters)}")
        self._first, self._at = chapters.index(chapter), int(n)

    def before(self, host: str, label: str) -> None:
        """Called before each remote action of step `label` (chapter/step)."""
        if self._first < 0:
            return
        chapter = label.partition("/")[0]
        if chapter not in self._chapters or self._chapters.index(chapter) < self._first:
            return
        with self._lock:
            self._count += 1
            if self._count < self._at:
                return
            record = os.environ.get(RECORD)
            if record:
                with open(record, "w") as f:
                    f.write(f"{host} {label}\n")
                    f.flush()
                    os.fsync(f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
