"""Plans and applies steps: check what is there (one round trip per host
and chapter), change only what differs, verify; chapters in order, the
hosts of a chapter in parallel, or taking turns when the chapter rolls.
Progress goes to a callback, every command and its output to a log per
host, step events to the journal."""

from __future__ import annotations

import contextlib
import difflib
import functools
import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from k8sfs import ExecResult, SSHError, join_command
from k8sfs.engine.chapter import Chapter
from k8sfs.engine.errors import StepError, UnreachableError
from k8sfs.engine.fault import FaultPoint
from k8sfs.engine.inspect import DIGEST_CACHE, HostState, inspection_script, parse_inspection, remember_digests
from k8sfs.engine.journal import APPLIED, SKIPPED, STARTED, Journal
from k8sfs.engine.lanes import Lanes, lanes_allowed
from k8sfs.engine.plan import Change, Plan, StepPlan, mark_rolling_hooks, rollout_order
from k8sfs.engine.relay import Relay
from k8sfs.engine.step import AFTER, BEFORE, CLUSTER, MAIN, File, Step, Upload
from k8sfs.state_paths import StateLayout, journal_path

Connect = Callable[[str], Any]  # host name -> k8sfs.Session
Progress = Callable[[str], None]
MAX_DIFF_BYTES = 256 * 1024
# Before files are written: their directories exist, and no ".NAME.k8sfs-*"
# (the SFTP layer's temporary name) is left from an interrupted upload.
PREPARE_PATHS = 'for p; do d=${p%/*}; mkdir -p "${d:-/}" && rm -f "${d}/.${p##*/}.k8sfs-"*; done'


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fingerprint(data: bytes) -> str:
    """A short digest that tells two versions of a secret apart and reveals nothing of it."""
    return f"{len(data)} bytes, sha256:{_sha256(data)[:16]}"


def _created(item: File) -> str:
    """A new file as a diff from nothing; a secret, binary or large one as a line."""
    if item.secret:
        return f"(secret: content not shown; {_fingerprint(item.data)})"
    if len(item.data) > MAX_DIFF_BYTES:
        return f"(large file: {_fingerprint(item.data)})"
    try:
        text = item.data.decode()
    except UnicodeDecodeError:
        return f"(binary: {_fingerprint(item.data)})"
    return "".join(difflib.unified_diff([], text.splitlines(True), "/dev/null", f"{item.path} (planned)"))


def _owner_matches(want: str, have: str) -> bool:
    return want == have or (want in ("root", "root:root") and have == "root:root")


def _by_host(steps: Iterable[Step]) -> dict[str, list[Step]]:
    hosts: dict[str, list[Step]] = {}
    for s in steps:
        hosts.setdefault(s.host, []).append(s)
    return hosts


# Hosts worked on at once (connections, inspections, steps): enough for the
# clusters k8sfs builds, and a bound on the controller's threads, open
# connections and concurrent uploads when there are many hosts.
HOSTS_AT_ONCE = 16


def _parallel(hosts: list[str], work: Callable[[str], Any], at_once: int = HOSTS_AT_ONCE) -> dict[str, Any]:
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


def _raise_first(failures: Mapping[str, BaseException], chapter: str) -> None:
    """The first host's error, naming the others that failed too."""
    hosts = sorted(failures)
    first = failures[hosts[0]]
    if len(hosts) > 1 and isinstance(first, StepError):
        first.also_failed = {h: failures[h] for h in hosts[1:]}
        first.args = (f"{first}\n(also failed in chapter {chapter}: {', '.join(hosts[1:])})",)
    raise first


class Runner:
    def __init__(
        self,
        connect: Connect,
        state_dir: Path | None = None,
        progress: Progress = lambda _m: None,
        hosts_at_once: int = HOSTS_AT_ONCE,
    ) -> None:
        if hosts_at_once < 1:
            raise ValueError(f"hosts at once must be at least 1, not {hosts_at_once}")
        self.hosts_at_once = hosts_at_once
        self.relay: Relay | None = None  # apply --relay-uploads: hosts pass binaries on (engine/relay.py)
        self._connect = connect
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()  # guards the two dicts
        self._connecting: dict[str, threading.Lock] = {}  # one per host: hosts connect at once
        self.progress = progress
        self.digest_cache = DIGEST_CACHE  # on each host
        self.state_dir = Path(state_dir) if state_dir else None
        if self.state_dir:
            StateLayout(self.state_dir).logs.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(journal_path(self.state_dir) if self.state_dir else None)
        self._interrupted = self.journal.interrupted()
        self._carried = self.journal.carried_over()
        self._fault = FaultPoint()  # armed by apply from the environment (engine/fault.py)

    # ----- sessions and logs ------------------------------------------------
    def session(self, host: str) -> Any:
        """The host's shared connection, made (and logged in) on first use; a
        host that cannot be reached or logged into is an UnreachableError."""
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

    def new_session(self, host: str) -> Any:
        """A connection of its own (not shared with the steps)."""
        return self._connect(host)

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for s in sessions:
            s.close()

    def log(self, host: str, text: str) -> None:
        """A line in the host's log (<state>/logs/<host>.log)."""
        self._log(host, text)

    def _log(self, host: str, text: str) -> None:
        if self.state_dir:
            now = time.time()  # to the millisecond: where a step's seconds go
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
            with open(StateLayout(self.state_dir).log(host), "a") as f:
                f.write(f"[{stamp}] {text}\n")

    def interrupted_steps(self) -> set[str]:
        """Steps whose last journal record says started: a killed apply."""
        return self.journal.interrupted()

    def run(self, host: str, step: str, argv: list[str], timeout: float = 300, check: bool = True) -> ExecResult:
        self._fault.before(host, step)
        command = join_command(argv)
        self._log(host, f"$ {command}")
        result = self.session(host).exec(argv, timeout=timeout)
        self._log(host, f"exit {result.exit_code}\n{result.stdout}{result.stderr}")
        if check and result.exit_code != 0:
            raise StepError(
                host,
                step,
                f"command failed with exit code {result.exit_code}",
                command,
                result.stderr_tail(8) or "\n".join(result.stdout.splitlines()[-8:]),
            )
        return result

    # ----- checking ----------------------------------------------------------
    def _inspect(self, host: str, steps: list[Step]) -> HostState:
        script = inspection_script(steps, self.digest_cache)
        self._log(host, f"inspect {len(steps)} step(s)")
        result = self.session(host).exec(script, timeout=120)
        if result.exit_code != 0:
            raise StepError(
                host, "inspect", f"inspection failed with exit code {result.exit_code}", "", result.stderr_tail(8)
            )
        return parse_inspection(result.stdout)

    def _step_plans(self, host: str, steps: list[Step], with_diffs: bool) -> list[StepPlan]:
        state = self._inspect(host, steps)
        plans = []
        for index, step in enumerate(steps):
            sp = StepPlan(step)
            items: list[File | Upload] = [*step.files, *step.uploads]
            for item in items:
                have = state.files.get(item.path)
                if item.pending:
                    sp.changes.append(
                        Change(
                            item.path,
                            "reissue" if have and have.sha256 else "missing",
                            f"({item.pending})" if with_diffs else "",
                        )
                    )
                    continue
                want = _sha256(item.data) if isinstance(item, File) else item.sha256
                if self.relay is not None and isinstance(item, Upload) and have and have.sha256 == want:
                    self.relay.have(host, item.path, want)  # others may fetch it from here
                if have is None or have.sha256 is None:
                    created = _created(item) if with_diffs and isinstance(item, File) else ""
                    sp.changes.append(Change(item.path, "missing", created))
                elif have.sha256 != want:
                    diff = self._diff(host, item) if with_diffs and isinstance(item, File) else ""
                    sp.changes.append(Change(item.path, "content", diff))
                elif have.mode != item.mode:
                    sp.changes.append(Change(item.path, "mode", f"{have.mode:o} -> {item.mode:o}"))
                elif not _owner_matches(item.owner, have.owner):
                    sp.changes.append(Change(item.path, "owner", f"{have.owner} -> {item.owner}"))
            sp.check_failed = bool(step.check) and state.checks.get(index, 1) != 0
            sp.interrupted = step.key in self._interrupted
            sp.carried_over = self._carried.get(step.key, "")
            sp.service_running = state.services.get(index) if step.service else None
            plans.append(sp)
        return plans

    def _plans_of(self, by_host: dict[str, list[Step]], host: str) -> list[StepPlan]:
        return self._step_plans(host, by_host[host], with_diffs=False)

    def _diff(self, host: str, item: File) -> str:
        if item.secret:
            return f"(secret: content not shown; new content {_fingerprint(item.data)})"
        if len(item.data) > MAX_DIFF_BYTES:
            return "(large file: content differs)"
        try:
            new = item.data.decode()
        except UnicodeDecodeError:
            return "(binary: content differs)"
        old = self.session(host).exec(["cat", item.path], timeout=30).stdout
        return "".join(
            difflib.unified_diff(
                old.splitlines(True), new.splitlines(True), f"{item.path} (on {host})", f"{item.path} (planned)"
            )
        )

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
        by_host = _by_host(s for s in steps if not skipped[s.key])
        results = _parallel(
            list(by_host), lambda h: self._step_plans(h, by_host[h], with_diffs=True), self.hosts_at_once
        )
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
    def _apply_step(self, sp: StepPlan, verify: bool = True) -> bool:
        """Changes what the plan says; with `verify` False, a step that
        changed something is left for `_finish_step` (True is returned)."""
        sp.started = time.time()
        try:
            with self._owed_hint(sp), self._naming_the_step(sp):
                return self._do_step(sp, verify)
        finally:
            sp.ended = time.time()

    def _finish_step(self, sp: StepPlan) -> None:
        """The verification `_apply_step(verify=False)` left for later."""
        try:
            with self._naming_the_step(sp):
                self._verified(sp.step)
        finally:
            sp.ended = time.time()

    @staticmethod
    @contextlib.contextmanager
    def _naming_the_step(sp: StepPlan) -> Iterator[None]:
        try:
            yield
        except SSHError as error:  # the transport failed mid-step: say which step
            why = str(error).removeprefix(f"{sp.step.host}: ")
            raise StepError(sp.step.host, sp.step.label, why) from error

    @contextlib.contextmanager
    def _owed_hint(self, sp: StepPlan) -> Iterator[None]:
        """A step the journal says is owed that fails says so, and how to
        go on without what the journal owes."""
        try:
            yield
        except StepError as error:
            if sp.owed:
                error.args = (
                    f"{error}\n  it ran because an earlier apply owed it ({self.journal.path}); if the host "
                    "was rebuilt or reset since, `k8sfs apply --forget-owed` drops what the journal owes "
                    "and decides from the hosts alone",
                )
            raise

    def forget_owed(self) -> list[str]:
        """Drops what the journal owes (interrupted and left-out steps): from
        now on only what the hosts show decides. Returns their keys."""
        keys = self.journal.settle_owed()
        self._interrupted.clear()
        self._carried.clear()
        return keys

    def _apply_host(self, plans: list[StepPlan], together: bool) -> None:
        """One host's step plans in order. `together` (the chapter's steps
        do not need one another): every step is started before any is
        waited for."""
        if not together or any(sp.step.phase != MAIN for sp in plans):
            for sp in plans:
                self._apply_step(sp)
            return
        started = [sp for sp in plans if self._apply_step(sp, verify=False)]
        for sp in started:
            self._finish_step(sp)

    def _do_step(self, sp: StepPlan, verify: bool) -> bool:
        step, host = sp.step, sp.step.host
        label = step.label
        if not sp.changed:
            if sp.owed:  # inspected again: nothing to do any more, so it is owed no longer
                self.journal.record(step, APPLIED)
                self.progress(f"{host}: {label}: ok (an earlier apply owed it; its check passes now)")
            else:
                self.progress(f"{host}: {label}: ok")
            return False
        if step.pending:
            raise StepError(host, label, "content is not ready on the controller: " + "; ".join(step.pending))
        self.progress(f"{host}: {label}: " + ", ".join(sp.reasons()))
        self.journal.record(step, STARTED)
        changed_paths = {c.path for c in sp.changes}
        if changed_paths:
            # Parents made; and the temporary file of an upload a killed apply
            # left behind removed (the host lock means no other writer).
            self.run(host, label, ["sh", "-c", PREPARE_PATHS, "sh", *sorted(changed_paths)])
        session = self.session(host)
        written: dict[str, str] = {}
        for f in step.files:
            if f.path in changed_paths:
                owner, _, group = f.owner.partition(":")
                self._fault.before(host, label)
                self._log(host, f"put {f.path} ({len(f.data)} bytes, mode {f.mode:o})")
                session.put_content(f.data, f.path, mode=f.mode, owner=owner, group=group, skip_if_same=False)
                written[f.path] = _sha256(f.data)
        for u in step.uploads:
            if u.path in changed_paths:
                owner, _, group = u.owner.partition(":")
                relayed = self.relay.turn(host, u) if self.relay else contextlib.nullcontext(False)
                with relayed as fetched:
                    if not fetched:
                        self._fault.before(host, label)
                        self._log(host, f"put {u.local} -> {u.path}")
                        result = session.put(
                            str(u.local), u.path, mode=u.mode, owner=owner, group=group, skip_if_same=False
                        )
                        if result.sha256 != u.sha256:
                            raise StepError(
                                host,
                                label,
                                f"{u.local} changed under us: sent sha256 {result.sha256}, expected {u.sha256}",
                            )
                written[u.path] = u.sha256
        if written:
            self.run(host, label, remember_digests(written, self.digest_cache))
        if step.guard:
            result = self.run(host, label, step.guard.command, check=False)
            reason = step.guard.decide(result.stdout if result.exit_code == 0 else "")
            if reason:
                raise StepError(host, label, reason, join_command(step.guard.command))
        for argv in step.apply:
            self.run(host, label, argv)
        if not verify:
            return True
        self._verified(step)
        return False

    def _verified(self, step: Step) -> None:
        if step.verify:
            self._verify(step)
        self.journal.record(step, APPLIED)
        self._interrupted.discard(step.key)
        self._carried.pop(step.key, None)

    def _verify(self, step: Step) -> None:
        assert step.verify is not None
        deadline = time.monotonic() + step.verify_timeout
        pause = 0.2  # most services answer within a second or two: ask soon, then every second
        while True:
            result = self.run(step.host, step.label, step.verify, check=False)
            if result.exit_code == 0:
                return
            if time.monotonic() > deadline:
                raise StepError(
                    step.host,
                    step.label,
                    f"not verified after {step.verify_timeout:.0f} s",
                    join_command(step.verify),
                    result.stderr_tail(8) or "\n".join(result.stdout.splitlines()[-8:]),
                )
            time.sleep(pause)
            pause = min(1.0, pause * 2)

    def _run_hosts(self, hosts: list[str], plans: dict[str, list[StepPlan]], chapter: Chapter) -> list[StepPlan]:
        """Each host's step plans in order, the hosts at once; raises the first failure."""

        def one(host: str) -> list[StepPlan]:
            self._apply_host(plans[host], chapter.together)
            return plans[host]

        outcome = _parallel(hosts, one, self.hosts_at_once)
        failures = {h: e for h, e in outcome.items() if isinstance(e, Exception)}
        if failures:
            _raise_first(failures, chapter.name)
        return [sp for h in hosts for sp in outcome[h]]

    def _apply_rolling(self, chapter: Chapter, plans: list[StepPlan]) -> list[StepPlan]:
        """Fresh hosts together; hosts in service in turns, each turn between its hooks."""
        mark_rolling_hooks(chapter, plans)
        order = rollout_order(chapter, plans)
        main = _by_host(sp.step for sp in plans if sp.step.phase == MAIN)
        by_step = {sp.step.key: sp for sp in plans}
        done: list[StepPlan] = []

        def mains(hosts: list[str]) -> dict[str, list[StepPlan]]:
            return {h: [by_step[s.key] for s in main.get(h, [])] for h in hosts}

        def hooks(hosts: list[str], phase: str) -> dict[str, list[StepPlan]]:
            found = [sp for sp in plans if sp.step.phase == phase and sp.step.rollout_host in hosts]
            return {h: [sp for sp in found if sp.step.host == h] for h in _by_host(sp.step for sp in found)}

        if order.fresh:
            done += self._run_hosts(order.fresh, mains(order.fresh), chapter)
        for batch in order.turns:
            self.progress(f"{chapter.name}: rollout turn: {', '.join(batch)}")
            after = hooks(batch, AFTER)
            # Owed from here on: a kill mid-turn leaves them for the next apply.
            for sp in (sp for sps in after.values() for sp in sps if sp.rolling):
                self.journal.record(sp.step, SKIPPED, f"owed after {sp.step.rollout_host}'s turn")
            for phase_plans in (hooks(batch, BEFORE), mains(batch), after):
                done += self._run_hosts(list(phase_plans), phase_plans, chapter)
        # After-hooks an earlier, interrupted turn owes (uncordon, rejoin the endpoint).
        turned = {h for batch in order.turns for h in batch}
        leftover = [sp for sp in plans if sp.step.phase == AFTER and sp.step.rollout_host not in turned and sp.changed]
        left = {h: [sp for sp in leftover if sp.step.host == h] for h in _by_host(sp.step for sp in leftover)}
        done += self._run_hosts(list(left), left, chapter)
        # Hosts with nothing to do, and hooks of hosts that did not turn.
        seen = {sp.step.key for sp in done}
        for sp in plans:
            if sp.step.key not in seen:
                if sp.step.phase != MAIN:
                    sp.rolling = sp.check_failed = False
                self._apply_step(sp)
                done.append(sp)
        return done

    def _apply_in_lanes(
        self, steps: list[Step], chapters: list[Chapter], upfront: dict[str, StepPlan], done: Plan
    ) -> Plan:
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
                plans = self._step_plans(host, wanted, with_diffs=False)
            else:
                plans = [upfront[s.key] for s in wanted]
            for sp in plans:
                if sp.step.phase != MAIN:  # no turns in this apply: its hooks have nothing to do
                    sp.rolling = sp.check_failed = False
                if sp.changed:
                    changed.set()
            self._apply_host(plans, by_name[chapter].together)
            return plans

        ran, failures = Lanes(chapters, hosts_in, self.hosts_at_once).run(
            work, lambda chapter: self.progress(f"== {chapter}")
        )
        done.steps.extend(ran)
        if failures:
            first = sorted(failures)[0]
            _raise_first({h: error for h, (_, error) in failures.items()}, failures[first][0])
        order = {s.key: i for i, s in enumerate(steps)}
        done.steps.sort(key=lambda sp: order[sp.step.key])
        return done

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
        self._fault = FaultPoint([c.name for c in chapters])
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
        runnable = [s for s in steps if not skipped[s.key]]
        everything = _by_host(runnable)
        outcome = _parallel(
            list(everything), lambda h: self._step_plans(h, everything[h], with_diffs=False), self.hosts_at_once
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
        failures = {h: e for h, e in outcome.items() if isinstance(e, Exception)}
        if failures:
            _raise_first(failures, "(inspection)")
        upfront = {sp.step.key: sp for sps in outcome.values() for sp in sps}
        for chapter in chapters:  # hooks are due only when their host takes a turn
            mark_rolling_hooks(chapter, [sp for sp in upfront.values() if sp.step.chapter == chapter.name])
        if not left_out and lanes_allowed(chapters, list(upfront.values())):
            return self._apply_in_lanes(steps, chapters, upfront, done)
        changed_something = False
        for chapter in chapters:
            in_chapter = [s for s in steps if s.chapter == chapter.name]
            if not in_chapter:
                continue
            self.progress(f"== {chapter.name}")
            for s in in_chapter:
                if skipped[s.key]:
                    self.progress(f"{s.host}: {s.label}: skipped ({skipped[s.key]})")
                    self.journal.record(s, SKIPPED, skipped[s.key])
                    done.steps.append(StepPlan(s, skipped=skipped[s.key]))
            by_host = _by_host(s for s in in_chapter if not skipped[s.key])
            if changed_something:
                fresh = _parallel(list(by_host), functools.partial(self._plans_of, by_host), self.hosts_at_once)
                failures = {h: e for h, e in fresh.items() if isinstance(e, Exception)}
                if failures:
                    _raise_first(failures, chapter.name)
                plans = {h: fresh[h] for h in by_host}
            else:
                plans = {h: [upfront[s.key] for s in by_host[h]] for h in by_host}
            if chapter.rollout is not None:
                ran = self._apply_rolling(chapter, [sp for h in by_host for sp in plans[h]])
            else:
                ran = self._run_hosts(list(by_host), plans, chapter)
            done.steps.extend(ran)
            changed_something = changed_something or any(sp.changed for sp in ran)
        order = {s.key: i for i, s in enumerate(steps)}
        done.steps.sort(key=lambda sp: order[sp.step.key])
        return done
