"""Each host's one shared connection, made and logged into on first use;
the commands run over it; and each host's log (<state>/logs/<host>.log),
where every command and its output goes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from k8sfs import ExecResult, SSHError, _core, join_command
from k8sfs.engine.errors import StepError, UnreachableError
from k8sfs.engine.fault import FaultPoint
from k8sfs.state_paths import StateLayout

Connect = Callable[[str], _core.Session]  # host name -> a Session, not yet connected


class Sessions:
    def __init__(self, connect: Connect, state_dir: Path | None = None) -> None:
        self._connect = connect
        self._sessions: dict[str, _core.Session] = {}
        self._lock = threading.Lock()  # guards the two dicts
        self._connecting: dict[str, threading.Lock] = {}  # one per host: hosts connect at once
        self.state_dir = Path(state_dir) if state_dir else None
        if self.state_dir:
            StateLayout(self.state_dir).logs.mkdir(parents=True, exist_ok=True)
        self.fault = FaultPoint()  # armed by each apply from the environment (engine/fault.py)

    def session(self, host: str) -> _core.Session:
        """The host's shared connection; a host that cannot be reached or
        logged into is an UnreachableError."""
        with self._lock:
            if host in self._sessions:
                return self._sessions[host]
            connecting = self._connecting.setdefault(host, threading.Lock())
        with connecting:
            if host not in self._sessions:
                try:
                    session = self._connect(host)
                    session.connect()
                except (SSHError, OSError) as error:  # OSError: also the lab's refusal to route
                    raise UnreachableError(host, str(error)) from error
                with self._lock:
                    self._sessions[host] = session
            return self._sessions[host]

    def new_session(self, host: str) -> _core.Session:
        """A connection of its own (not shared with the steps)."""
        return self._connect(host)

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for s in sessions:
            s.close()

    def log(self, host: str, text: str) -> None:
        """A line in the host's log, stamped to the millisecond: where a step's seconds go."""
        if self.state_dir:
            now = time.time()
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
            with open(StateLayout(self.state_dir).log(host), "a") as f:
                f.write(f"[{stamp}] {text}\n")

    def run(self, host: str, step: str, argv: list[str], timeout: float = 300, check: bool = True) -> ExecResult:
        """`argv` on the host for step `step`, logged; with `check`, a
        non-zero exit is a StepError naming the command and its stderr's tail."""
        self.fault.before(host, step)
        command = join_command(argv)
        self.log(host, f"$ {command}")
        result = self.session(host).exec(argv, timeout=timeout)
        self.log(host, f"exit {result.exit_code}\n{result.stdout}{result.stderr}")
        if check and result.exit_code != 0:
            raise StepError(
                host,
                step,
                f"command failed with exit code {result.exit_code}",
                command,
                result.stderr_tail(8) or "\n".join(result.stdout.splitlines()[-8:]),
            )
        return result

    def run_for_relay(self, host: str, argv: list[str]) -> tuple[int, str]:
        """What engine/relay.py runs on hosts: exit code and stdout, never raising on a non-zero exit."""
        result = self.run(host, "relay", argv, timeout=600, check=False)
        return result.exit_code, result.stdout
