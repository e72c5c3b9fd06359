"""Plans and applies steps: check what is there (one round trip per host
and chapter), change only what differs, verify; chapters in order, the
hosts of a chapter in parallel. Progress goes to a callback, every command
and its output to a log per host, finished steps to a journal."""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import posixpath
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from k8sfs import join_command
from k8sfs.engine.errors import StepError
from k8sfs.engine.inspect import HostState, inspection_script, parse_inspection
from k8sfs.engine.step import File, Step, Upload

Connect = Callable[[str], object]  # host name -> k8sfs.Session
Progress = Callable[[str], None]
MAX_DIFF_BYTES = 256 * 1024


@dataclass
class Change:
    path: str
    why: str               # missing, content, mode, owner
    diff: str = ""         # unified diff for text files (plan only, never for secrets)


@dataclass
class StepPlan:
    step: Step
    changes: list[Change] = field(default_factory=list)
    check_failed: bool = False
    interrupted: bool = False  # an earlier apply started it and never finished

    @property
    def changed(self) -> bool:
        return bool(self.changes) or self.check_failed or self.interrupted

    @property
    def commands(self) -> list[str]:
        return [join_command(c) for c in self.step.apply] if self.changed else []


@dataclass
class Plan:
    chapters: list[str]
    steps: list[StepPlan]
    errors: dict[str, str] = field(default_factory=dict)  # host -> why it could not be checked
    applied: bool = False  # the result of apply (changes were made), not a plan

    @property
    def changes(self) -> int:
        return sum(1 for s in self.steps if s.changed)

    def render(self) -> str:
        out = []
        for chapter in self.chapters:
            in_chapter = [s for s in self.steps if s.step.chapter == chapter]
            if not in_chapter:
                continue
            todo = [s for s in in_chapter if s.changed]
            out.append(f"== {chapter}: {len(todo)} of {len(in_chapter)} steps would change")
            for sp in todo:
                out.append(f"  {sp.step.host}: {sp.step.name}" + (f" ({sp.step.description})" if sp.step.description else ""))
                for c in sp.changes:
                    out.append(f"    {c.why:8} {c.path}")
                    if c.diff:
                        out.extend("      " + line for line in c.diff.rstrip("\n").splitlines())
                if sp.check_failed:
                    out.append(f"    check    {join_command(sp.step.check)} fails")
                if sp.interrupted:
                    out.append("    resume   an earlier apply started this step and did not finish it")
                for command in sp.commands:
                    out.append(f"    run      {command}")
        for host, why in self.errors.items():
            out.append(f"!! {host}: {why}")
        out.append(f"{self.changes} step(s) would change" if self.changes else "no changes")
        return "\n".join(out)

    def _repr_html_(self) -> str:
        """Jupyter: one row per step, diffs folded away (secrets never shown)."""
        from html import escape

        rows = []
        for sp in self.steps:
            state = ("changed" if self.applied else "would change") if sp.changed else "ok"
            color = "#b35900" if sp.changed else "#2e7d32"
            details = "".join(f"<div><code>{escape(c.why)} {escape(c.path)}</code>"
                              + (f"<details><summary>diff</summary><pre>{escape(c.diff)}</pre></details>"
                                 if c.diff else "") + "</div>" for c in sp.changes)
            if sp.check_failed:
                details += f"<div><code>check fails: {escape(join_command(sp.step.check))}</code></div>"
            details += "".join(f"<div><code>run {escape(c)}</code></div>" for c in sp.commands)
            rows.append(f"<tr><td>{escape(sp.step.chapter)}</td><td>{escape(sp.step.host)}</td>"
                        f"<td>{escape(sp.step.name)}<br><small>{escape(sp.step.description)}</small></td>"
                        f"<td style='color:{color}'>{state}</td><td>{details}</td></tr>")
        errors = "".join(f"<p style='color:#c62828'>{escape(h)}: {escape(e)}</p>" for h, e in self.errors.items())
        verb = "changed" if self.applied else "would change"
        summary = f"{self.changes} step(s) {verb}" if self.changes else "no changes"
        return ("<table><thead><tr><th>chapter</th><th>host</th><th>step</th><th>state</th><th>what</th></tr>"
                f"</thead><tbody>{''.join(rows)}</tbody></table>{errors}<p><b>{summary}</b></p>")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _owner_matches(want: str, have: str) -> bool:
    return want == have or (want in ("root", "root:root") and have == "root:root")


class Runner:
    def __init__(self, connect: Connect, state_dir: Path | None = None, progress: Progress = lambda _m: None) -> None:
        self._connect = connect
        self._sessions: dict[str, object] = {}
        self._lock = threading.Lock()
        self.progress = progress
        self.state_dir = Path(state_dir) if state_dir else None
        if self.state_dir:
            (self.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        self._interrupted = self.interrupted_steps()

    # ----- sessions and logs ------------------------------------------------
    def session(self, host: str):
        with self._lock:
            if host not in self._sessions:
                self._sessions[host] = self._connect(host)
            return self._sessions[host]

    def close(self) -> None:
        for s in self._sessions.values():
            s.close()
        self._sessions.clear()

    def _log(self, host: str, text: str) -> None:
        if self.state_dir:
            with open(self.state_dir / "logs" / f"{host}.log", "a") as f:
                f.write(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {text}\n")

    def interrupted_steps(self) -> set[str]:
        """Steps whose last journal record says started: a killed apply."""
        last: dict[str, str] = {}
        if self.state_dir and (self.state_dir / "journal.jsonl").exists():
            for line in (self.state_dir / "journal.jsonl").read_text().splitlines():
                try:
                    r = json.loads(line)
                except ValueError:
                    continue  # a line cut short by the kill
                last[f"{r['host']}/{r['chapter']}/{r['step']}"] = r["status"]
        return {key for key, status in last.items() if status == "started"}

    def _journal(self, step: Step, status: str, changed: bool) -> None:
        if self.state_dir:
            record = {"time": time.time(), "host": step.host, "chapter": step.chapter, "step": step.name,
                      "status": status, "changed": changed}
            with open(self.state_dir / "journal.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()
                os.fsync(f.fileno())

    def run(self, host: str, step: str, argv: list[str], timeout: float = 300, check: bool = True):
        command = join_command(argv)
        self._log(host, f"$ {command}")
        result = self.session(host).exec(argv, timeout=timeout)
        self._log(host, f"exit {result.exit_code}\n{result.stdout}{result.stderr}")
        if check and result.exit_code != 0:
            raise StepError(host, step, f"command failed with exit code {result.exit_code}", command,
                            result.stderr_tail(8) or "\n".join(result.stdout.splitlines()[-8:]))
        return result

    # ----- checking ----------------------------------------------------------
    def _inspect(self, host: str, steps: list[Step]) -> HostState:
        script = inspection_script(steps)
        self._log(host, f"inspect {len(steps)} step(s)")
        result = self.session(host).exec(script, timeout=120)
        if result.exit_code != 0:
            raise StepError(host, "inspect", f"inspection failed with exit code {result.exit_code}", "",
                            result.stderr_tail(8))
        return parse_inspection(result.stdout)

    def _step_plans(self, host: str, steps: list[Step], with_diffs: bool) -> list[StepPlan]:
        state = self._inspect(host, steps)
        plans = []
        for index, step in enumerate(steps):
            sp = StepPlan(step)
            for item in [*step.files, *step.uploads]:
                want = _sha256(item.content) if isinstance(item, File) else item.sha256
                have = state.files.get(item.path)
                if have is None or have.sha256 is None:
                    sp.changes.append(Change(item.path, "missing"))
                elif have.sha256 != want:
                    diff = self._diff(host, item) if with_diffs and isinstance(item, File) else ""
                    sp.changes.append(Change(item.path, "content", diff))
                elif have.mode != item.mode:
                    sp.changes.append(Change(item.path, "mode", f"{have.mode:o} -> {item.mode:o}"))
                elif not _owner_matches(item.owner, have.owner):
                    sp.changes.append(Change(item.path, "owner", f"{have.owner} -> {item.owner}"))
            sp.check_failed = bool(step.check) and state.checks.get(index, 1) != 0
            sp.interrupted = step.key in self._interrupted
            plans.append(sp)
        return plans

    def _diff(self, host: str, item: File) -> str:
        if item.secret:
            return "(secret: content not shown)"
        if len(item.content) > MAX_DIFF_BYTES:
            return "(large file: content differs)"
        try:
            new = item.content.decode()
        except UnicodeDecodeError:
            return "(binary: content differs)"
        old = self.session(host).exec(["cat", item.path], timeout=30).stdout
        return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"{item.path} (on {host})",
                                            f"{item.path} (planned)"))

    def _by_host(self, steps: Iterable[Step]) -> dict[str, list[Step]]:
        hosts: dict[str, list[Step]] = {}
        for s in steps:
            hosts.setdefault(s.host, []).append(s)
        return hosts

    def plan(self, steps: list[Step], chapters: list[str]) -> Plan:
        """What apply would do; changes nothing."""
        by_host = self._by_host(steps)
        plan = Plan(chapters, [])
        results: dict[str, list[StepPlan]] = {}

        def one(host: str) -> None:
            try:
                results[host] = self._step_plans(host, by_host[host], with_diffs=True)
            except Exception as error:  # reported per host
                plan.errors[host] = str(error)

        with ThreadPoolExecutor(max_workers=max(1, len(by_host))) as pool:
            list(pool.map(one, by_host))
        order = {s.key: i for i, s in enumerate(steps)}
        plan.steps = sorted((sp for sps in results.values() for sp in sps), key=lambda sp: order[sp.step.key])
        return plan

    # ----- applying ------------------------------------------------------------
    def _apply_step(self, sp: StepPlan) -> None:
        step, host = sp.step, sp.step.host
        label = f"{step.chapter}/{step.name}"
        if not sp.changed:
            self.progress(f"{host}: {label}: ok")
            return
        self.progress(f"{host}: {label}: " + ", ".join([f"{c.why} {c.path}" for c in sp.changes] +
                                                       (["check failed"] if sp.check_failed else []) +
                                                       (["resuming an interrupted apply"] if sp.interrupted else [])))
        self._journal(step, "started", True)
        changed_paths = {c.path for c in sp.changes}
        parents = sorted({posixpath.dirname(p) for p in changed_paths})
        if parents:
            self.run(host, label, ["mkdir", "-p", *parents])
        session = self.session(host)
        for f in step.files:
            if f.path in changed_paths:
                owner, _, group = f.owner.partition(":")
                self._log(host, f"put {f.path} ({len(f.content)} bytes, mode {f.mode:o})")
                session.put_content(f.content, f.path, mode=f.mode, owner=owner, group=group, skip_if_same=False)
        for u in step.uploads:
            if u.path in changed_paths:
                owner, _, group = u.owner.partition(":")
                self._log(host, f"put {u.local} -> {u.path}")
                result = session.put(str(u.local), u.path, mode=u.mode, owner=owner, group=group, skip_if_same=False)
                if result.sha256 != u.sha256:
                    raise StepError(host, label, f"{u.local} changed under us: sent sha256 {result.sha256}, "
                                                 f"expected {u.sha256}")
        if step.guard:
            result = self.run(host, label, step.guard.command, check=False)
            reason = step.guard.decide(result.stdout if result.exit_code == 0 else "")
            if reason:
                raise StepError(host, label, reason, join_command(step.guard.command))
        for argv in step.apply:
            self.run(host, label, argv)
        if step.verify:
            self._verify(step)
        self._journal(step, "applied", True)
        self._interrupted.discard(step.key)

    def _verify(self, step: Step) -> None:
        deadline = time.monotonic() + step.verify_timeout
        while True:
            result = self.run(step.host, f"{step.chapter}/{step.name}", step.verify, check=False)
            if result.exit_code == 0:
                return
            if time.monotonic() > deadline:
                raise StepError(step.host, f"{step.chapter}/{step.name}",
                                f"not verified after {step.verify_timeout:.0f} s", join_command(step.verify),
                                result.stderr_tail(8) or "\n".join(result.stdout.splitlines()[-8:]))
            time.sleep(1)

    def apply(self, steps: list[Step], chapters: list[str]) -> Plan:
        """Chapter by chapter; within a chapter every host at once, its steps in order.

        Every host is inspected once up front (in parallel). Those answers
        stand until something changes; from then on each chapter inspects
        again, because its checks may depend on what earlier chapters did.
        An unchanged cluster therefore costs one round trip per host."""
        done = Plan(chapters, [], applied=True)
        upfront: dict[str, StepPlan] = {}
        everything = self._by_host(s for s in steps if s.chapter in chapters)
        with ThreadPoolExecutor(max_workers=max(1, len(everything))) as pool:
            for sps in pool.map(lambda h: self._step_plans(h, everything[h], with_diffs=False), everything):
                upfront.update({sp.step.key: sp for sp in sps})
        changed_something = False
        for chapter in chapters:
            by_host = self._by_host(s for s in steps if s.chapter == chapter)
            if not by_host:
                continue
            self.progress(f"== {chapter}")
            failures: dict[str, BaseException] = {}
            fresh = changed_something

            def one(host: str) -> list[StepPlan]:
                host_plans = []
                plans = (self._step_plans(host, by_host[host], with_diffs=False) if fresh
                         else [upfront[s.key] for s in by_host[host]])
                for sp in plans:
                    self._apply_step(sp)
                    host_plans.append(sp)
                return host_plans

            with ThreadPoolExecutor(max_workers=len(by_host)) as pool:
                futures = {host: pool.submit(one, host) for host in by_host}
            for host, future in futures.items():
                try:
                    host_plans = future.result()
                    done.steps.extend(host_plans)
                    changed_something = changed_something or any(sp.changed for sp in host_plans)
                except Exception as error:
                    failures[host] = error
            if failures:
                # The first host's error, naming the others that failed too.
                hosts = sorted(failures)
                first = failures[hosts[0]]
                if len(hosts) > 1 and isinstance(first, StepError):
                    first.also_failed = {h: failures[h] for h in hosts[1:]}
                    first.args = (f"{first}\n(also failed in chapter {chapter}: {', '.join(hosts[1:])})",)
                raise first
        return done
