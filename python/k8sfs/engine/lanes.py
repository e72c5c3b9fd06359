"""Hosts going ahead on their own: each host works through its chapters in
order, and a chapter waits only for the chapters it names in `after` to be
finished on every host that has steps in them (a chapter that names none
of its own waits for every earlier chapter, as a barrier). So the control
plane brings up etcd and kube-apiserver while the workers install their
runtime and kubelet, and the cluster-wide chapters still start once
everything before them is done.

Only for a first install: when a rolling chapter's service already runs
on any host (it may have to restart in turns: an upgrade, a renewed
certificate), a hook is due, or any host is left out, the runner goes
chapter by chapter as before."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from k8sfs.engine.chapter import Chapter
from k8sfs.engine.plan import StepPlan, rollout_order
from k8sfs.engine.step import MAIN


def waits_for(chapters: list[Chapter]) -> dict[str, list[str]]:
    """Each chapter's name -> the chapters that must be finished on every
    host with steps in them before it starts on any host. Chapters `after`
    names that this run does not have are no one's to wait for."""
    names = [c.name for c in chapters]
    out = {}
    for i, chapter in enumerate(chapters):
        earlier = names[:i]
        out[chapter.name] = earlier if chapter.after is None else [n for n in chapter.after if n in earlier]
    return out


def lanes_allowed(chapters: list[Chapter], plans: list[StepPlan]) -> bool:
    """No rolling chapter's service runs anywhere yet (a first install), so
    no turns can come up, and no hook is due: nothing that coordinates
    hosts across chapters. The up-front inspection cannot tell more: a
    service that looks current there may need a restart once an earlier
    chapter has written its renewed certificate, and then its hosts must
    take turns (etcd's quorum, the API behind the endpoint)."""
    for chapter in chapters:
        if chapter.rollout is None:
            continue
        in_chapter = [sp for sp in plans if sp.step.chapter == chapter.name]
        if any(sp.service_running for sp in in_chapter if sp.step.phase == MAIN):
            return False
        if rollout_order(chapter, in_chapter).turns:
            return False
        if any(sp.step.phase != MAIN and sp.changed for sp in in_chapter):
            return False
    return True


class Lanes:
    """Runs `work(host, chapter)` for every (host, chapter) that has steps,
    each host in its own thread, in chapter order, as `waits_for` allows.
    After a failure no host starts another chapter; the failures are
    returned by host with the chapter they happened in."""

    def __init__(self, chapters: list[Chapter], hosts_in: dict[str, list[str]], at_once: int = 0) -> None:
        """`hosts_in`: chapter name -> the hosts with steps in it. `at_once`:
        how many hosts may be working at the same time (0: all); a host
        waiting for another's chapter holds no turn."""
        self.order = [c.name for c in chapters]
        self.deps = waits_for(chapters)
        self.hosts_in = {name: set(hosts_in.get(name, [])) for name in self.order}
        self._left = {name: set(hosts) for name, hosts in self.hosts_in.items()}
        self._cond = threading.Condition()
        self._failed = False
        self._started: set[str] = set()
        self._turns = threading.BoundedSemaphore(at_once) if at_once > 0 else None

    def _may_start(self, chapter: str) -> bool:
        """What it waits for is finished everywhere, or a host failed."""
        return self._failed or all(not self._left[d] for d in self.deps[chapter])

    def _work_in_turn(self, work: Callable[[str, str], list[StepPlan]], host: str, chapter: str) -> list[StepPlan]:
        if self._turns is None:
            return work(host, chapter)
        with self._turns:
            return work(host, chapter)

    def run(
        self, work: Callable[[str, str], list[StepPlan]], on_start: Callable[[str], None]
    ) -> tuple[list[StepPlan], dict[str, tuple[str, BaseException]]]:
        done: list[StepPlan] = []
        failures: dict[str, tuple[str, BaseException]] = {}
        hosts = sorted({h for hs in self.hosts_in.values() for h in hs})

        def lane(host: str) -> None:
            for chapter in self.order:
                if host not in self.hosts_in[chapter]:
                    continue
                with self._cond:
                    self._cond.wait_for(functools.partial(self._may_start, chapter))
                    if self._failed:
                        return
                    if chapter not in self._started:
                        self._started.add(chapter)
                        on_start(chapter)
                try:
                    ran = self._work_in_turn(work, host, chapter)
                except BaseException as error:  # reported by the caller, with the chapter
                    with self._cond:
                        failures[host] = (chapter, error)
                        self._failed = True
                        self._cond.notify_all()
                    return
                with self._cond:
                    done.extend(ran)
                    self._left[chapter].discard(host)
                    self._cond.notify_all()

        threads = [threading.Thread(target=lane, args=(h,), name=f"lane-{h}") for h in hosts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return done, failures
