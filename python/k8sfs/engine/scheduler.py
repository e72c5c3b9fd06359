"""In what order and how many at once hosts do their steps: a chapter's
hosts together, a rolling chapter's hosts in turns between their hooks, or
each host through its chapters in its own lane (engine/lanes.py). The
Executor does and verifies each step."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from k8sfs.engine.chapter import Chapter
from k8sfs.engine.executor import Executor
from k8sfs.engine.journal import SKIPPED
from k8sfs.engine.lanes import Lanes
from k8sfs.engine.parallel import by_host, failures_of, parallel, raise_first
from k8sfs.engine.plan import Plan, StepPlan, mark_rolling_hooks, rollout_order
from k8sfs.engine.step import AFTER, BEFORE, MAIN, Step


class Scheduler:
    def __init__(self, executor: Executor, hosts_at_once: int, progress: Callable[[str], None]) -> None:
        self.executor = executor
        self.hosts_at_once = hosts_at_once
        self.progress = progress

    def _plans_of(self, steps: dict[str, list[Step]], host: str) -> list[StepPlan]:
        return self.executor.plans(host, steps[host], with_diffs=False)

    def _run_hosts(self, hosts: list[str], plans: dict[str, list[StepPlan]], chapter: Chapter) -> list[StepPlan]:
        """Each host's step plans in order, the hosts at once; raises the first failure."""

        def one(host: str) -> list[StepPlan]:
            self.executor.apply_host(plans[host], chapter.together)
            return plans[host]

        outcome = parallel(hosts, one, self.hosts_at_once)
        failures = failures_of(outcome)
        if failures:
            raise_first(failures, chapter.name)
        return [sp for h in hosts for sp in outcome[h]]

    def _rolling(self, chapter: Chapter, plans: list[StepPlan]) -> list[StepPlan]:
        """Fresh hosts together; hosts in service in turns, each turn between its hooks."""
        mark_rolling_hooks(chapter, plans)
        order = rollout_order(chapter, plans)
        main = by_host(sp.step for sp in plans if sp.step.phase == MAIN)
        by_step = {sp.step.key: sp for sp in plans}
        done: list[StepPlan] = []

        def mains(hosts: list[str]) -> dict[str, list[StepPlan]]:
            return {h: [by_step[s.key] for s in main.get(h, [])] for h in hosts}

        def hooks(hosts: list[str], phase: str) -> dict[str, list[StepPlan]]:
            found = [sp for sp in plans if sp.step.phase == phase and sp.step.rollout_host in hosts]
            return {h: [sp for sp in found if sp.step.host == h] for h in by_host(sp.step for sp in found)}

        if order.fresh:
            done += self._run_hosts(order.fresh, mains(order.fresh), chapter)
        for batch in order.turns:
            self.progress(f"{chapter.name}: rollout turn: {', '.join(batch)}")
            after = hooks(batch, AFTER)
            # Owed from here on: a kill mid-turn leaves them for the next apply.
            for sp in (sp for sps in after.values() for sp in sps if sp.rolling):
                self.executor.journal.record(sp.step, SKIPPED, f"owed after {sp.step.rollout_host}'s turn")
            for phase_plans in (hooks(batch, BEFORE), mains(batch), after):
                done += self._run_hosts(list(phase_plans), phase_plans, chapter)
        # After-hooks an earlier, interrupted turn owes (uncordon, rejoin the endpoint).
        turned = {h for batch in order.turns for h in batch}
        leftover = [sp for sp in plans if sp.step.phase == AFTER and sp.step.rollout_host not in turned and sp.changed]
        left = {h: [sp for sp in leftover if sp.step.host == h] for h in by_host(sp.step for sp in leftover)}
        done += self._run_hosts(list(left), left, chapter)
        # Hosts with nothing to do, and hooks of hosts that did not turn.
        seen = {sp.step.key for sp in done}
        for sp in plans:
            if sp.step.key not in seen:
                if sp.step.phase != MAIN:
                    sp.rolling = sp.check_failed = False
                self.executor.apply_step(sp)
                done.append(sp)
        return done

    def in_lanes(self, steps: list[Step], chapters: list[Chapter], upfront: dict[str, StepPlan], done: Plan) -> None:
        """Each host through its chapters on its own, a chapter waiting only
        for what its `after` names (engine/lanes.py). The answers of the
        up-front inspection stand until something changed anywhere; from
        then on each host inspects its steps again before each chapter."""
        mine: dict[tuple[str, str], list[Step]] = {}
        for s in steps:
            mine.setdefault((s.chapter, s.host), []).append(s)
        hosts_in: dict[str, list[str]] = {}
        for chapter, host in mine:
            hosts_in.setdefault(chapter, []).append(host)
        changed = threading.Event()
        by_name = {c.name: c for c in chapters}

        def work(host: str, chapter: str) -> list[StepPlan]:
            wanted = mine[(chapter, host)]
            if changed.is_set():
                plans = self.executor.plans(host, wanted, with_diffs=False)
            else:
                plans = [upfront[s.key] for s in wanted]
            for sp in plans:
                if sp.step.phase != MAIN:  # no turns in this apply: its hooks have nothing to do
                    sp.rolling = sp.check_failed = False
                if sp.changed:
                    changed.set()
            self.executor.apply_host(plans, by_name[chapter].together)
            return plans

        ran, failures = Lanes(chapters, hosts_in, self.hosts_at_once).run(
            work, lambda chapter: self.progress(f"== {chapter}")
        )
        done.steps.extend(ran)
        if failures:
            first = sorted(failures)[0]
            raise_first({h: error for h, (_, error) in failures.items()}, failures[first][0])

    def chapter_by_chapter(
        self,
        steps: list[Step],
        chapters: list[Chapter],
        skipped: dict[str, str],
        upfront: dict[str, StepPlan],
        done: Plan,
    ) -> None:
        """Every chapter's hosts at once (its steps in order on each), or in
        turns when it rolls; `skipped` steps (key -> why) are reported and
        journaled. Once anything changed, each chapter inspects again."""
        changed_something = False
        for chapter in chapters:
            in_chapter = [s for s in steps if s.chapter == chapter.name]
            if not in_chapter:
                continue
            self.progress(f"== {chapter.name}")
            for s in in_chapter:
                if skipped[s.key]:
                    self.progress(f"{s.host}: {s.label}: skipped ({skipped[s.key]})")
                    self.executor.journal.record(s, SKIPPED, skipped[s.key])
                    done.steps.append(StepPlan(s, skipped=skipped[s.key]))
            hosts = by_host(s for s in in_chapter if not skipped[s.key])
            if changed_something:
                fresh = parallel(list(hosts), functools.partial(self._plans_of, hosts), self.hosts_at_once)
                failures = failures_of(fresh)
                if failures:
                    raise_first(failures, chapter.name)
                plans = {h: fresh[h] for h in hosts}
            else:
                plans = {h: [upfront[s.key] for s in hosts[h]] for h in hosts}
            if chapter.rollout is not None:
                ran = self._rolling(chapter, [sp for h in hosts for sp in plans[h]])
            else:
                ran = self._run_hosts(list(hosts), plans, chapter)
            done.steps.extend(ran)
            changed_something = changed_something or any(sp.changed for sp in ran)
