"""What a step is: files and binaries that must be on a host, a check of
the state that files cannot express, commands that bring the host there,
and a verification that it worked. Steps describe; the runner does.

A step never names its chapter: the engine stamps it (engine/chapter.py),
so a step cannot fall out of a run through a mistyped chapter string."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Argv = list[str]

# Where a step acts: on its host only, or on the whole cluster from its host
# (RBAC, add-ons, the smoke test), which matters when hosts are excluded.
HOST, CLUSTER = "host", "cluster"
# Its place in a rolling chapter: the host's own work, or a hook that runs
# before or after it (drain, uncordon), possibly on another host.
MAIN, BEFORE, AFTER = "main", "before", "after"


@dataclass
class File:
    """A rendered file: its whole content, mode and owner.

    `pending` (with content None) says the content does not exist yet
    because only apply makes it on the controller (a certificate the PKI
    would issue); a plan shows the reason, apply never sees such a file."""

    path: str
    content: bytes | str | None  # str is encoded as UTF-8
    # Only root reads what k8sfs writes (units, configs, manifests; CIS
    # 1.1.x, 4.1.x); a step that needs more says so (scripts: 0o755).
    mode: int = 0o600
    owner: str = "root:root"
    secret: bool = False  # plans never show its content
    pending: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.content, str):
            self.content = self.content.encode()
        if self.content is None and not self.pending:
            raise ValueError(f"{self.path}: a file needs content or the reason it is pending")

    def __repr__(self) -> str:
        # Never the content: a Step's repr lands in Jupyter outputs and
        # tracebacks, and the content may be a key.
        if not isinstance(self.content, bytes):
            return f"File({self.path!r}, pending: {self.pending})"
        what = "secret" if self.secret else f"{len(self.content)} bytes"
        return f"File({self.path!r}, {what}, mode={self.mode:o}, owner={self.owner})"

    @property
    def data(self) -> bytes:
        """The content (apply only: a pending file has none yet)."""
        if not isinstance(self.content, bytes):
            raise ValueError(f"{self.path}: content is not ready ({self.pending})")
        return self.content


@dataclass
class Upload:
    """A file from the controller (an artifact or an image), by digest.

    `pending` as for File: the artifact or image is not on the controller yet."""

    local: Path | None
    path: str
    sha256: str
    mode: int = 0o755
    owner: str = "root:root"
    pending: str = ""


@dataclass
class Guard:
    """A command whose output decides, on the controller, whether to go on.

    `decide(stdout)` returns an empty string to go on, or the reason to stop.
    """

    command: Argv
    decide: Callable[[str], str]


@dataclass
class Step:
    name: str
    host: str
    description: str = ""
    files: list[File] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    # Exit 0 means the part of the state files do not show is already right.
    check: Argv | None = None
    # Run (in order) when a file or upload changed or the check failed.
    apply: list[Argv] = field(default_factory=list)
    # Run before apply; a non-zero exit stops the step with the reason
    # `decide` gives (for example: the runtime's cgroup driver disagrees).
    guard: Guard | None = None
    # Retried until it exits 0 or verify_timeout passes.
    verify: Argv | None = None
    # How a person checks this step by hand on its host (plans and the
    # walkthrough show these; check and verify are k8sfs's own, folded away).
    by_hand: list[str] = field(default_factory=list)
    verify_timeout: float = 60.0
    # The systemd unit this step runs: a rollout restarts hosts where it is
    # active one at a time, and reset stops and disables it.
    service: str = ""
    # The files the service reads: when an earlier step changes one, the plan
    # knows this service will restart.
    inputs: list[str] = field(default_factory=list)
    # Directories of state the step's service creates (reset removes them).
    data: list[str] = field(default_factory=list)
    # What reset runs on the host to undo what files do not show (routes).
    undo: list[Argv] = field(default_factory=list)
    scope: str = HOST
    # Other hosts whose entries this step's content carries (routes to their
    # pod ranges); when one of them is left out of an apply, so is this step.
    needs: list[str] = field(default_factory=list)
    # In a rolling chapter: MAIN, or a BEFORE/AFTER hook of host `target`.
    phase: str = MAIN
    target: str = ""
    # A hook with guards runs in its host's turn only when the host's steps
    # change one of these paths (drain for a new kubelet binary, not for a
    # renewed certificate that a restart alone picks up).
    guards: list[str] = field(default_factory=list)
    chapter: str = ""  # stamped by the engine

    @property
    def journal_name(self) -> str:
        """The name in keys and the journal: a hook carries its target, as
        one host runs the same hook for each host of a rollout (drain@node-1)."""
        return f"{self.name}@{self.target}" if self.target else self.name

    @property
    def key(self) -> str:
        return f"{self.host}/{self.chapter}/{self.journal_name}"

    @property
    def label(self) -> str:
        return f"{self.chapter}/{self.name}"

    @property
    def rollout_host(self) -> str:
        """The host whose turn in a rollout this step belongs to."""
        return self.target or self.host

    @property
    def pending(self) -> list[str]:
        """Why some content is not known yet (plan only)."""
        items: list[File | Upload] = [*self.files, *self.uploads]
        return [f"{x.path}: {x.pending}" for x in items if x.pending]
