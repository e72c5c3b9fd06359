"""Pythonic faces of the core's Session and Pool."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from k8sfs import _core


def _options(host: str | _core.ConnectOptions, **kwargs: Any) -> _core.ConnectOptions:
    if isinstance(host, _core.ConnectOptions):
        if kwargs:
            raise TypeError("pass either ConnectOptions or keyword options, not both")
        return host
    return _core.ConnectOptions(host, **kwargs)


class Session(_core.Session):
    """One SSH connection to one host; many commands share it.

    ``Session("192.168.50.10", user="root", identity_files=[key],
    known_hosts=path)`` or ``Session(ConnectOptions(...))``. Connects on
    first use; usable as a context manager, which closes it.
    """

    def __init__(self, host: str | _core.ConnectOptions, **kwargs: Any) -> None:
        super().__init__(_options(host, **kwargs))

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        r = self.resolved
        state = "connected" if self.is_connected else "not connected"
        return f"<k8sfs.Session {r.user}@{r.hostname}:{r.port} ({state})>"


@dataclass
class HostResult:
    """What one host of a Pool call gave: a value, or the error it raised."""

    host: str
    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _outcomes(raw: Iterable[Any]) -> list[HostResult]:
    results = []
    for outcome in raw:
        if outcome.ok:
            results.append(HostResult(outcome.host, outcome.value))
            continue
        cls: type[Exception] = {
            "CommandError": _core.CommandError,
            "TimeoutError": _core.TimeoutError,
            "HostKeyError": _core.HostKeyError,
            "AuthError": _core.AuthError,
            "ConnectError": _core.ConnectError,
            "ConnectionLost": _core.ConnectionLostError,
            "SftpError": _core.SFTPError,
            "SSHError": _core.SSHError,
        }.get(outcome.error_type, RuntimeError)
        error = cls(outcome.error_message)
        error.host = outcome.host  # type: ignore[attr-defined]  # every SSHError carries it
        results.append(HostResult(outcome.host, None, error))
    return results


class Pool:
    """The same operation on many hosts at once, one result per host.

    A host's failure is returned as that host's ``error``; it never hides
    the other hosts' results.
    """

    def __init__(self, hosts: Iterable[str | _core.ConnectOptions], parallelism: int = 0, **kwargs: Any) -> None:
        self._options = [_options(h, **kwargs) if isinstance(h, str) else h for h in hosts]
        self._pool = _core.Pool(self._options, parallelism)

    def __len__(self) -> int:
        return len(self._pool)

    def session(self, index: int) -> _core.Session:
        return self._pool.session(index)

    def connect(self) -> list[HostResult]:
        return _outcomes(self._pool.connect())

    def exec(self, command: str | list[str], **kwargs: Any) -> list[HostResult]:
        return _outcomes(self._pool.exec(command, **kwargs))

    def put(self, local: str, remote: str, **kwargs: Any) -> list[HostResult]:
        return _outcomes(self._pool.put(local, remote, **kwargs))
