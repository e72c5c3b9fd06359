"""Plans and applies steps: check what is there (one round trip per host
and chapter), change only what differs, verify; chapters in order, the
hosts of a chapter in parallel, or taking turns when the chapter rolls.

A thin walker over three parts: Sessions (connections, commands, host
logs), the Executor (inspect, plan, do and verify one host's steps) and
the Scheduler (which hosts go when). Progress goes to a callback, every
command and its output to a log per host, step events to the journal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from k8sfs import ExecResult, _core
from k8sfs.engine.chapter import Chapter
from k8sfs.engine.errors import StepError, UnreachableError
from k8sfs.engine.executor import Executor
from k8sfs.engine.fault import FaultPoint
from k8sfs.engine.inspect import DIGEST_CACHE
from k8sfs.engine.journal import Journal
from k8sfs.engine.lanes import lanes_allowed
from k8sfs.engine.parallel import HOSTS_AT_ONCE, by_host, failures_of, parallel, raise_first
from k8sfs.engine.plan import Plan, StepPlan, mark_rolling_hooks
from k8sfs.engine.relay import Relay, Run
from k8sfs.engine.scheduler import Scheduler
from k8sfs.engine.sessions import Connect, Sessions
from k8sfs.engine.step import CLUSTER, MAIN, Step
from k8sfs.state_paths import journal_path

Progress = Callable[[str], None]
# apply --relay-uploads: makes the Relay from the runner's own way to run
# commands on hosts and to log (engine/relay.py), e.g. functools.partial(Relay, peers).
MakeRelay = Callable[[Run, Callable[[str, str], None]], Relay]

__all__ = ["HOSTS_AT_ONCE", "Connect", "MakeRelay", "Progress", "Runner"]


class Runner:
    def __init__(
        self,
        connect: Connect,
        state_dir: Path | None = None,
        progress: Progress = lambda _m: None,
        hosts_at_once: int = HOSTS_AT_ONCE,
        digest_cache: str = DIGEST_CACHE,
        relay: MakeRelay | None = None,
    ) -> None:
        if hosts_at_once < 1:
            raise ValueError(f"hosts at once must be at least 1, not {hosts_at_once}")
        self.hosts_at_once = hosts_at_once
        self.progress = progress
        self.state_dir = Path(state_dir) if state_dir else None
        self.sessions = Sessions(connect, self.state_dir)
        self.journal = Journal(journal_path(self.state_dir) if self.state_dir else None)
        self.relay = relay(self.sessions.run_for_relay, self.sessions.log) if relay else None
        self.executor = Executor(self.sessions, self.journal, progress, digest_cache, self.relay)
        self.scheduler = Scheduler(self.executor, hosts_at_once, progress)

    # ----- what day-two operations use (cluster.py, operations/) -------------
    def session(self, host: str) -> _core.Session:
        return self.sessions.session(host)

    def new_session(self, host: str) -> _core.Session:
        return self.sessions.new_session(host)

    def run(self, host: str, step: str, argv: list[str], timeout: float = 300, check: bool = True) -> ExecResult:
        return self.sessions.run(host, step, argv, timeout, check)

    def log(self, host: str, text: str) -> None:
        self.sessions.log(host, text)

    def close(self) -> None:
        self.sessions.close()

    def interrupted_steps(self) -> set[str]:
        return self.executor.interrupted_steps()

    def forget_owed(self) -> list[str]:
        return self.executor.forget_owed()

    # ----- planning ----------------------------------------------------------
    @staticmethod
    def _check_chapters(steps: list[Step], chapters: list[Chapter]) -> None:
        names = {c.name for c in chapters}
        for s in steps:
            if s.chapter not in names:
                raise ValueError(
                    f"step {s.name} on {s.host} is in chapter {s.chapter!r}, which this run does not "
                    f"have ({', '.join(c.name for c in chapters)}); build steps with Chapter.steps()"
                )

    @staticmethod
    def _skip_reason(step: Step, left_out: dict[str, str]) -> str:
        """Why a step cannot run when some hosts are left out ("" if it can)."""
        if step.host in left_out:
            return f"{step.host} {left_out[step.host]}"
        if step.phase != MAIN and step.rollout_host in left_out:
            return f"{step.rollout_host} {left_out[step.rollout_host]}"
        for other in step.needs:
            if other in left_out:
                return f"needs {other}, {left_out[other]}"
        return ""

    def plan(
        self,
        steps: list[Step],
        chapters: list[Chapter],
        left_out: dict[str, str] | None = None,
        unreachable: dict[str, str] | None = None,
    ) -> Plan:
        """What apply would do; changes nothing. A host that cannot be
        checked (`unreachable`, or found so now) is reported with the reason
        and every other host is planned; `left_out` hosts are skipped as an
        apply with the same selection would skip them."""
        self._check_chapters(steps, chapters)
        left_out = left_out or {}
        plan = Plan(list(chapters), [], unreachable=dict(unreachable or {}))
        skipped = {
            s.key: self._skip_reason(s, left_out)
            or ("not checked: host unreachable" if s.host in plan.unreachable else "")
            for s in steps
        }
        hosts = by_host(s for s in steps if not skipped[s.key])
        results = parallel(list(hosts), lambda h: self.executor.plans(h, hosts[h], with_diffs=True), self.hosts_at_once)
        found: dict[str, StepPlan] = {}
        for host, outcome in results.items():
            if isinstance(outcome, Exception):
                plan.unreachable[host] = outcome.why if isinstance(outcome, UnreachableError) else str(outcome)
            else:
                found.update({sp.step.key: sp for sp in outcome})
        for step in steps:
            if step.key in found:
                plan.steps.append(found[step.key])
            elif skipped[step.key]:
                plan.steps.append(StepPlan(step, skipped=skipped[step.key]))
        # A service restarts when an earlier step changes a file it reads.
        changed: dict[str, set[str]] = {}
        for sp in plan.steps:
            if sp.step.service and not sp.skipped:
                sp.restart_due = sorted(set(sp.step.inputs) & changed.get(sp.step.host, set()))
            changed.setdefault(sp.step.host, set()).update(c.path for c in sp.changes)
        for chapter in chapters:
            mark_rolling_hooks(chapter, plan.in_chapter(chapter))
        return plan

    # ----- applying ------------------------------------------------------------
    def apply(self, steps: list[Step], chapters: list[Chapter], left_out: dict[str, str] | None = None) -> Plan:
        """Chapter by chapter; within a chapter every host at once (its steps
        in order) or, in a rolling chapter, in turns. When no chapter takes
        turns and no host is left out, each host goes ahead on its own as
        far as the chapters' `after` allow (engine/lanes.py).

        Every host is inspected once up front (in parallel). Those answers
        stand until something changes; from then on each chapter inspects
        again, because its checks may depend on what earlier chapters did.
        An unchanged cluster therefore costs one round trip per host.

        `left_out` names hosts not to touch (host -> why): their steps, and
        steps that need them, are reported and journaled as skipped. A step
        that acts on the whole cluster from a host that is left out stops
        the apply before anything changes."""
        self._check_chapters(steps, chapters)
        self.sessions.fault = FaultPoint([c.name for c in chapters])
        left_out = left_out or {}
        done = Plan(list(chapters), [], applied=True)
        skipped = {s.key: self._skip_reason(s, left_out) for s in steps}
        blocked = [s for s in steps if s.scope == CLUSTER and s.host in left_out]
        if blocked:
            names = ", ".join(f"{s.label} (on {s.host})" for s in blocked)
            raise StepError(
                blocked[0].host,
                blocked[0].label,
                f"acts on the whole cluster from {blocked[0].host}, which is left out: {names}; run the "
                f"other chapters with --until or --only, or include {blocked[0].host}",
            )
        everything = by_host(s for s in steps if not skipped[s.key])
        outcome = parallel(
            list(everything), lambda h: self.executor.plans(h, everything[h], with_diffs=False), self.hosts_at_once
        )
        unreachable = {h: e for h, e in outcome.items() if isinstance(e, UnreachableError)}
        if unreachable:
            hosts = ", ".join(sorted(unreachable))
            raise UnreachableError(
                sorted(unreachable)[0],
                "; ".join(f"{h}: {e.why}" for h, e in unreachable.items()),
                hint=f"nothing was changed; to go on without {'them' if len(unreachable) > 1 else 'it'}"
                f": k8sfs apply --exclude {hosts.replace(', ', ',')}",
            )
        failures = failures_of(outcome)
        if failures:
            raise_first(failures, "(inspection)")
        upfront = {sp.step.key: sp for sps in outcome.values() for sp in sps}
        for chapter in chapters:  # hooks are due only when their host takes a turn
            mark_rolling_hooks(chapter, [sp for sp in upfront.values() if sp.step.chapter == chapter.name])
        if not left_out and lanes_allowed(chapters, list(upfront.values())):
            self.scheduler.in_lanes(steps, chapters, upfront, done)
        else:
            self.scheduler.chapter_by_chapter(steps, chapters, skipped, upfront, done)
        order = {s.key: i for i, s in enumerate(steps)}
        done.steps.sort(key=lambda sp: order[sp.step.key])
        return done
