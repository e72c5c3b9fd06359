"""A plan as data: per step what differs on its host and why, the order a
rolling chapter takes, hosts that could not be checked or were left out,
and what apply would make on the controller first. Rendered as text (the
CLI) and HTML (Jupyter); secrets are never shown in either."""

from __future__ import annotations

from dataclasses import dataclass, field

from k8sfs import join_command
from k8sfs.engine.chapter import Chapter
from k8sfs.engine.step import AFTER, BEFORE, MAIN, Step


@dataclass
class Change:
    path: str
    why: str  # missing, content, mode, owner, pending
    diff: str = ""  # unified diff for text files (plan only, never for secrets)


@dataclass
class StepPlan:
    step: Step
    changes: list[Change] = field(default_factory=list)
    check_failed: bool = False
    interrupted: bool = False  # an earlier apply started it and never finished
    carried_over: str = ""  # an earlier apply left it out (the reason)
    service_running: bool | None = None  # its unit is active now (None: no unit)
    rolling: bool = False  # a hook whose host takes its turn in a rollout
    skipped: str = ""  # left out of this run (the reason); nothing was done
    restart_due: list[str] = field(default_factory=list)  # plan: inputs an earlier step changes
    started: float = 0.0  # apply: when the step began and ended (epoch seconds)
    ended: float = 0.0

    @property
    def owed(self) -> bool:
        """An earlier apply started it and never finished, or left it out."""
        return self.interrupted or bool(self.carried_over)

    @property
    def changed(self) -> bool:
        if self.skipped:
            return False
        if self.step.phase != MAIN:
            # A hook runs in its host's turn, or when it is owed and its check
            # still fails (mark_rolling_hooks): being owed alone is no reason.
            return self.rolling or self.check_failed
        return (
            bool(self.changes)
            or bool(self.restart_due)
            or self.check_failed
            or self.interrupted
            or bool(self.carried_over)
            or self.rolling
        )

    @property
    def commands(self) -> list[str]:
        return [join_command(c) for c in self.step.apply] if self.changed else []

    def reasons(self) -> list[str]:
        return (
            [f"{c.why} {c.path}" for c in self.changes]
            + ([f"restart: {', '.join(self.restart_due)} changes"] if self.restart_due else [])
            + (["check failed"] if self.check_failed else [])
            + (["resuming an interrupted apply"] if self.interrupted else [])
            + ([f"left out last time ({self.carried_over})"] if self.carried_over else [])
            + ([f"{self.step.phase} {self.step.rollout_host}'s turn"] if self.rolling else [])
        )


@dataclass
class RolloutOrder:
    fresh: list[str]  # the service is new there: together
    turns: list[list[str]]  # running: one batch after the other


def rollout_order(chapter: Chapter, plans: list[StepPlan]) -> RolloutOrder:
    """Which hosts of a rolling chapter change together and which take turns."""
    if chapter.rollout is None:
        return RolloutOrder([], [])
    hosts: list[str] = []
    running: set[str] = set()
    for sp in plans:
        if sp.step.phase != MAIN or not sp.changed:
            continue
        if sp.step.host not in hosts:
            hosts.append(sp.step.host)
        if sp.service_running:
            running.add(sp.step.host)
    rolling = [h for h in hosts if h in running]
    size = chapter.rollout.serial
    return RolloutOrder(
        [h for h in hosts if h not in running], [rolling[i : i + size] for i in range(0, len(rolling), size)]
    )


def mark_rolling_hooks(chapter: Chapter, plans: list[StepPlan]) -> None:
    """A hook runs when its host takes a turn (its service was running), or
    when an earlier turn owes it (an AFTER hook journaled as owed, or a hook
    that was interrupted). Its own check only says whether it is done."""
    order = rollout_order(chapter, plans)
    turning = {h for batch in order.turns for h in batch}
    changing: dict[str, set[str]] = {}
    for sp in plans:
        if sp.step.phase == MAIN:
            changing.setdefault(sp.step.host, set()).update(c.path for c in sp.changes)
    for sp in plans:
        if sp.step.phase != MAIN:
            guarded = not sp.step.guards or bool(set(sp.step.guards) & changing.get(sp.step.rollout_host, set()))
            sp.rolling = sp.step.rollout_host in turning and guarded
            if not sp.rolling:
                sp.check_failed = sp.check_failed and bool(sp.carried_over or sp.interrupted)


@dataclass
class Plan:
    chapters: list[Chapter]
    steps: list[StepPlan]
    unreachable: dict[str, str] = field(default_factory=dict)  # host -> why it could not be checked
    controller: list[str] = field(default_factory=list)  # what apply makes on the controller first
    applied: bool = False  # the result of apply (changes were made), not a plan
    busy: str = ""  # another apply holds the cluster's lock (who)
    notes: list[str] = field(default_factory=list)  # what this run is (an upgrade, ...)
    doc_values: dict[str, str] = field(default_factory=dict)  # versions the reasons' links point at

    @property
    def changes(self) -> int:
        return sum(1 for s in self.steps if s.changed)

    @property
    def skipped(self) -> list[StepPlan]:
        """Steps left out (not those of hosts that could not be checked)."""
        return [s for s in self.steps if s.skipped and s.step.host not in self.unreachable]

    def in_chapter(self, chapter: Chapter) -> list[StepPlan]:
        return [s for s in self.steps if s.step.chapter == chapter.name]

    def _verb(self) -> str:
        return "changed" if self.applied else "would change"

    def render(self, diff: bool = True, explain: bool = False) -> str:
        """The plan as text: per chapter and host what changes, new files in
        full and changed ones as unified diffs (`diff`), and with `explain`
        a reason for every flag and field of each file, the commands a
        person checks it with, and k8sfs's own check scripts."""
        out = []
        if self.busy:
            out.append(f"note: {self.busy}; this plan may change under it")
        out.extend(f"note: {note}" for note in self.notes)
        if self.controller:
            out.append("== controller: " + ("made first" if self.applied else "apply makes these first"))
            out.extend(f"  {line}" for line in self.controller)
        for chapter in self.chapters:
            in_chapter = self.in_chapter(chapter)
            if not in_chapter:
                continue
            todo = [s for s in in_chapter if s.changed]
            out.append(f"== {chapter.name}: {len(todo)} of {len(in_chapter)} steps {self._verb()}")
            order = rollout_order(chapter, in_chapter)
            if order.turns:
                assert chapter.rollout is not None
                line = ", then ".join("+".join(batch) for batch in order.turns)
                out.append(f"  rollout ({chapter.rollout.describe()}, services running): {line}")
            if order.fresh and order.turns:
                out.append(f"  new here (together, first): {', '.join(order.fresh)}")
            for sp in todo:
                out.extend(_render_step(sp, diff, explain, self.doc_values))
            for sp in in_chapter:
                if sp.skipped and sp.step.host not in self.unreachable:
                    out.append(f"  {sp.step.host}: {sp.step.name}: skipped ({sp.skipped})")
        for host, why in self.unreachable.items():
            count = sum(1 for s in self.steps if s.step.host == host)
            out.append(f"!! {host}: unreachable: {why} ({count} step(s) not checked)")
        summary = f"{self.changes} step(s) {self._verb()}" if self.changes else "no changes"
        if self.skipped:
            summary += f"; {len(self.skipped)} skipped"
        if self.unreachable:
            summary += f"; {len(self.unreachable)} host(s) unreachable: {', '.join(self.unreachable)}"
        out.append(summary)
        return "\n".join(out)

    def __repr__(self) -> str:
        # What a person reads (also Jupyter's text/plain), not the dataclass
        # fields: those hold every file's content.
        return self.render(diff=False)

    def _repr_html_(self) -> str:
        """Jupyter: per chapter, each step that changes something with its
        files (new ones in full, changed ones as diffs, each folded and
        coloured by kind, with the reasons of its flags), the commands k8sfs
        runs and the checks a person types; k8sfs's check scripts folded
        away, secrets never shown."""
        from k8sfs.view.plan_html import plan_html

        return plan_html(self)


def file_content(step: Step, path: str) -> str | None:
    """The planned text of a file of `step` (None: a secret, pending or binary)."""
    for f in step.files:
        if f.path == path and not f.secret and isinstance(f.content, bytes):
            try:
                return f.content.decode()
            except UnicodeDecodeError:
                return None
    return None


def _render_step(sp: StepPlan, diff: bool = True, explain: bool = False, values: dict | None = None) -> list[str]:
    step = sp.step
    hook = f" [{step.phase} {step.rollout_host}]" if step.phase in (BEFORE, AFTER) else ""
    out = [f"  {step.host}: {step.name}{hook}" + (f" ({step.description})" if step.description else "")]
    for c in sp.changes:
        out.append(f"    {c.why:8} {c.path}")
        if c.diff and diff:
            out.extend("      " + line for line in c.diff.rstrip("\n").splitlines())
        if explain:
            out.extend(_reasons(c.path, file_content(step, c.path), values or {}))
    if sp.restart_due:
        out.append(f"    restart  {step.service} reads {', '.join(sp.restart_due)}, which an earlier step changes")
    if sp.check_failed and step.check:
        out.append("    check    k8sfs's check fails" + (f": {join_command(step.check)}" if explain else ""))
    if sp.interrupted:
        out.append("    resume   an earlier apply started this step and did not finish it")
    if sp.carried_over:
        out.append(f"    redo     an earlier apply left it out ({sp.carried_over})")
    if sp.rolling:
        out.append(f"    turn     runs {step.phase} {step.rollout_host} changes")
    for command in sp.commands:
        out.append(f"    run      {command}")
    if explain:
        out.extend(f"    by hand  {command}" for command in step.by_hand)
    return out


def _reasons(path: str, text: str | None, values: dict) -> list[str]:
    """A file's flags and fields, each with what it does and why this value."""
    import textwrap

    from k8sfs.explain import explain

    if not values:
        return []
    found = explain(path, text, values)
    out = [f"      what: {found.what} <{found.ref}>"] if found.what else []
    for r in found.reasons:
        out.append(f"      {r.key}={r.value}" if r.value else f"      {r.key}")
        out += textwrap.wrap(
            f"{r.what}; why: {r.why} <{r.ref}>", 100, initial_indent=" " * 10, subsequent_indent=" " * 10
        )
    return out
