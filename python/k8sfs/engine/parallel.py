"""Work on many hosts at once, a bounded number at a time, with each host's
result or exception kept apart so the caller can report them per host."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from k8sfs.engine.errors import StepError
from k8sfs.engine.step import Step

# Hosts worked on at once (connections, inspections, steps): enough for the
# clusters k8sfs builds, and a bound on the controller's threads, open
# connections and concurrent uploads when there are many hosts.
HOSTS_AT_ONCE = 16


def by_host(steps: Iterable[Step]) -> dict[str, list[Step]]:
    hosts: dict[str, list[Step]] = {}
    for s in steps:
        hosts.setdefault(s.host, []).append(s)
    return hosts


def parallel(hosts: list[str], work: Callable[[str], Any], at_once: int = HOSTS_AT_ONCE) -> dict[str, Any]:
    """`work` for every host, `at_once` at a time; each host's result or exception."""
    outcome: dict[str, Any] = {}
    if not hosts:
        return outcome
    with ThreadPoolExecutor(max_workers=max(1, min(len(hosts), at_once))) as pool:
        futures = {h: pool.submit(work, h) for h in hosts}
    for host, future in futures.items():
        try:
            outcome[host] = future.result()
        except Exception as error:  # reported per host by the caller
            outcome[host] = error
    return outcome


def raise_first(failures: Mapping[str, BaseException], chapter: str) -> None:
    """The first host's error, naming the others that failed too."""
    hosts = sorted(failures)
    first = failures[hosts[0]]
    if len(hosts) > 1 and isinstance(first, StepError):
        first.also_failed = {h: failures[h] for h in hosts[1:]}
        first.args = (f"{first}\n(also failed in chapter {chapter}: {', '.join(hosts[1:])})",)
    raise first


def failures_of(outcome: Mapping[str, Any]) -> dict[str, Exception]:
    return {h: e for h, e in outcome.items() if isinstance(e, Exception)}
