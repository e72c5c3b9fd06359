"""A chapter: a name, a title, the function that builds its steps, and how
its hosts take turns (a rollout). The engine stamps the chapter's name on
every step it builds, so steps never repeat it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from k8sfs.engine.step import AFTER, BEFORE, MAIN, Step


@dataclass(frozen=True)
class Rollout:
    """Hosts whose service is already running are changed `serial` at a
    time, each between its BEFORE and AFTER hooks (drain, uncordon), and a
    failure stops the rollout before the next host. Hosts where the service
    is new (a first install, a joining node) have nothing to keep serving
    and go together, as in a chapter without a rollout."""

    serial: int = 1

    def describe(self) -> str:
        return "one host at a time" if self.serial == 1 else f"{self.serial} hosts at a time"


# What a chapter's build reads: chapters.Context for k8sfs's own chapters
# (the engine does not know it; tests pass their own).
ContextT = TypeVar("ContextT")


@dataclass(frozen=True)
class Chapter(Generic[ContextT]):
    """`after`: the earlier chapters this one needs finished on every host
    (engine/lanes.py); a host's own earlier chapters are always finished
    first. None, the default: every earlier chapter on every host.

    `together`: its steps on one host do not need one another (two
    services that each wait for the API), so a host starts every one of
    them before it waits for any to verify; otherwise each step is
    verified before the next starts."""

    name: str
    title: str
    build: Callable[[ContextT], list[Step]]
    rollout: Rollout | None = None
    after: tuple[str, ...] | None = None
    together: bool = False
    # Its place in an upgrade (kubeadm's order: the control plane, then each
    # node); chapters of equal turns keep their build order.
    upgrade_turn: int = 0

    def steps(self, context: ContextT) -> list[Step]:
        built = self.build(context)
        for step in built:
            if step.chapter and step.chapter != self.name:
                raise ValueError(
                    f"step {step.name} on {step.host} belongs to chapter {step.chapter!r}, "
                    f"built by chapter {self.name!r}"
                )
            if step.phase not in (MAIN, BEFORE, AFTER):
                raise ValueError(f"step {step.name} on {step.host}: unknown phase {step.phase!r}")
            if step.phase != MAIN and self.rollout is None:
                raise ValueError(
                    f"step {step.name} on {step.host} is a {step.phase} hook, but chapter {self.name} has no rollout"
                )
            step.chapter = self.name
        return built


def select(chapters: Iterable[Chapter], only: list[str] | None = None, until: str | None = None) -> list[Chapter]:
    """The chapters to run, in order: all, up to `until`, or `only` these."""
    ordered = list(chapters)
    names = [c.name for c in ordered]
    for name in [*(only or []), *([until] if until else [])]:
        if name not in names:
            raise ValueError(f"unknown chapter {name!r}; chapters: {', '.join(names)}")
    chosen = ordered[: names.index(until) + 1] if until else ordered
    return [c for c in chosen if not only or c.name in only]
