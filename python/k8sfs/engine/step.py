"""What a step is: files and binaries that must be on a host, a check of
the state that files cannot express, commands that bring the host there,
and a verification that it worked. Steps describe; the runner does."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

Argv = list[str]


@dataclass
class File:
    """A rendered file: its whole content, mode and owner."""
    path: str
    content: bytes
    mode: int = 0o644
    owner: str = "root:root"
    secret: bool = False  # plans never show its content

    def __post_init__(self) -> None:
        if isinstance(self.content, str):
            self.content = self.content.encode()


@dataclass
class Upload:
    """A file from the controller (an artifact or an image), by digest."""
    local: Path
    path: str
    sha256: str
    mode: int = 0o755
    owner: str = "root:root"


@dataclass
class Step:
    chapter: str
    name: str
    host: str
    description: str = ""
    files: list[File] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    # Exit 0 means the part of the state files do not show is already right.
    check: Argv | None = None
    # Run (in order) when a file or upload changed or the check failed.
    apply: list[Argv] = field(default_factory=list)
    # Run before apply; a non-zero exit stops the step with `guard_message`
    # and its output (for example: the runtime's cgroup driver disagrees).
    guard: "Guard | None" = None
    # Retried until it exits 0 or verify_timeout passes.
    verify: Argv | None = None
    verify_timeout: float = 60.0

    @property
    def key(self) -> str:
        return f"{self.host}/{self.chapter}/{self.name}"


@dataclass
class Guard:
    """A command whose output decides, on the controller, whether to go on.

    `decide(stdout)` returns an empty string to go on, or the reason to stop.
    """
    command: Argv
    decide: Callable[[str], str]
