"""One host's steps: inspect what is there (one round trip for many
steps), plan each step's changes with their diffs, then do a step (write
its files, upload its binaries, run its commands) and verify it, recording
each in the journal."""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import time
from collections.abc import Callable, Iterator

from k8sfs import SSHError, join_command
from k8sfs.engine.errors import StepError
from k8sfs.engine.inspect import DIGEST_CACHE, HostState, inspection_script, parse_inspection, remember_digests
from k8sfs.engine.journal import APPLIED, STARTED, Journal
from k8sfs.engine.plan import Change, StepPlan
from k8sfs.engine.relay import Relay
from k8sfs.engine.sessions import Sessions
from k8sfs.engine.step import MAIN, File, Step, Upload

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


class Executor:
    """`progress` gets one line per step; `relay` (apply --relay-uploads)
    lets hosts pass binaries on to each other (engine/relay.py)."""

    def __init__(
        self,
        sessions: Sessions,
        journal: Journal,
        progress: Callable[[str], None],
        digest_cache: str = DIGEST_CACHE,
        relay: Relay | None = None,
    ) -> None:
        self.sessions = sessions
        self.journal = journal
        self.progress = progress
        self.digest_cache = digest_cache  # on each host
        self.relay = relay
        self._interrupted = journal.interrupted()
        self._carried = journal.carried_over()

    # ----- checking ----------------------------------------------------------
    def _inspect(self, host: str, steps: list[Step]) -> HostState:
        script = inspection_script(steps, self.digest_cache)
        self.sessions.log(host, f"inspect {len(steps)} step(s)")
        result = self.sessions.session(host).exec(script, timeout=120)
        if result.exit_code != 0:
            raise StepError(
                host, "inspect", f"inspection failed with exit code {result.exit_code}", "", result.stderr_tail(8)
            )
        return parse_inspection(result.stdout)

    def plans(self, host: str, steps: list[Step], with_diffs: bool) -> list[StepPlan]:
        """What each of the host's steps would change, from one inspection."""
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

    def _diff(self, host: str, item: File) -> str:
        if item.secret:
            return f"(secret: content not shown; new content {_fingerprint(item.data)})"
        if len(item.data) > MAX_DIFF_BYTES:
            return "(large file: content differs)"
        try:
            new = item.data.decode()
        except UnicodeDecodeError:
            return "(binary: content differs)"
        old = self.sessions.session(host).exec(["cat", item.path], timeout=30).stdout
        return "".join(
            difflib.unified_diff(
                old.splitlines(True), new.splitlines(True), f"{item.path} (on {host})", f"{item.path} (planned)"
            )
        )

    def interrupted_steps(self) -> set[str]:
        """Steps whose last journal record says started: a killed apply."""
        return self.journal.interrupted()

    def forget_owed(self) -> list[str]:
        """Drops what the journal owes (interrupted and left-out steps): from
        now on only what the hosts show decides. Returns their keys."""
        keys = self.journal.settle_owed()
        self._interrupted.clear()
        self._carried.clear()
        return keys

    # ----- doing -------------------------------------------------------------
    def apply_host(self, plans: list[StepPlan], together: bool) -> None:
        """One host's step plans in order. `together` (the chapter's steps
        do not need one another): every step is started before any is
        waited for."""
        if not together or any(sp.step.phase != MAIN for sp in plans):
            for sp in plans:
                self.apply_step(sp)
            return
        started = [sp for sp in plans if self.apply_step(sp, verify=False)]
        for sp in started:
            self._finish_step(sp)

    def apply_step(self, sp: StepPlan, verify: bool = True) -> bool:
        """Changes what the plan says; with `verify` False, a step that
        changed something is left for `_finish_step` (True is returned)."""
        sp.started = time.time()
        try:
            with self._owed_hint(sp), self._naming_the_step(sp):
                return self._do_step(sp, verify)
        finally:
            sp.ended = time.time()

    def _finish_step(self, sp: StepPlan) -> None:
        """The verification `apply_step(verify=False)` left for later."""
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

    def _do_step(self, sp: StepPlan, verify: bool) -> bool:
        step, host = sp.step, sp.step.host
        label = step.label
        run = self.sessions.run
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
            run(host, label, ["sh", "-c", PREPARE_PATHS, "sh", *sorted(changed_paths)])
        session = self.sessions.session(host)
        fault = self.sessions.fault
        written: dict[str, str] = {}
        for f in step.files:
            if f.path in changed_paths:
                owner, _, group = f.owner.partition(":")
                fault.before(host, label)
                self.sessions.log(host, f"put {f.path} ({len(f.data)} bytes, mode {f.mode:o})")
                session.put_content(f.data, f.path, mode=f.mode, owner=owner, group=group, skip_if_same=False)
                written[f.path] = _sha256(f.data)
        for u in step.uploads:
            if u.path in changed_paths:
                owner, _, group = u.owner.partition(":")
                relayed = self.relay.turn(host, u) if self.relay else contextlib.nullcontext(False)
                with relayed as fetched:
                    if not fetched:
                        fault.before(host, label)
                        self.sessions.log(host, f"put {u.local} -> {u.path}")
                        sent = session.put(
                            str(u.local), u.path, mode=u.mode, owner=owner, group=group, skip_if_same=False
                        )
                        if sent.sha256 != u.sha256:
                            raise StepError(
                                host,
                                label,
                                f"{u.local} changed under us: sent sha256 {sent.sha256}, expected {u.sha256}",
                            )
                written[u.path] = u.sha256
        if written:
            run(host, label, remember_digests(written, self.digest_cache))
        if step.guard:
            answer = run(host, label, step.guard.command, check=False)
            reason = step.guard.decide(answer.stdout if answer.exit_code == 0 else "")
            if reason:
                raise StepError(host, label, reason, join_command(step.guard.command))
        for argv in step.apply:
            run(host, label, argv)
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
            result = self.sessions.run(step.host, step.label, step.verify, check=False)
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
