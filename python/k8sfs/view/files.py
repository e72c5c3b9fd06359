"""The files of a chapter as a reader sees them: each with its content
(or, for a secret, a fingerprint instead), the hosts that get it, what it
is and a reason for every flag and field (k8sfs.explain). Identical files
on several hosts are one entry."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from k8sfs.engine.step import File, Step, Upload
from k8sfs.explain import FileExplanation, explain

# Text larger than this is summarised, not shown (a plan or a page stays readable).
SHOWN_BYTES = 64 * 1024


def fingerprint(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()[:16]


@dataclass
class FileView:
    path: str
    hosts: list[str]
    mode: int
    text: str | None  # None: secret, pending, binary or too large (`note` says which)
    note: str = ""
    explanation: FileExplanation | None = None
    step: str = ""  # chapter/step that writes it

    @property
    def kind(self) -> str:
        return self.explanation.kind if self.explanation else "text"


@dataclass
class UploadView:
    path: str
    hosts: list[str]
    what: str  # the artifact or image, its size and digest
    step: str = ""


@dataclass
class StepView:
    label: str
    hosts: list[str]
    description: str
    files: list[FileView] = field(default_factory=list)
    uploads: list[UploadView] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    by_hand: list[str] = field(default_factory=list)
    internal: list[tuple[str, str]] = field(default_factory=list)  # ("check" | "verify", command)


def file_view(f: File, host: str, values: dict[str, str], step: str = "") -> FileView:
    if f.pending:
        return FileView(
            f.path, [host], f.mode, None, f"made by apply: {f.pending}", explain(f.path, None, values), step
        )
    data = f.data
    if f.secret:
        note = f"secret: not shown ({len(data)} bytes, {fingerprint(data)})"
        return FileView(f.path, [host], f.mode, None, note, explain(f.path, None, values), step)
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return FileView(f.path, [host], f.mode, None, f"binary ({len(data)} bytes, {fingerprint(data)})", None, step)
    if len(data) > SHOWN_BYTES:
        note = f"{len(data)} bytes, {fingerprint(data)}: too large to show"
        return FileView(f.path, [host], f.mode, None, note, explain(f.path, None, values), step)
    if f.path.endswith(".crt") or f.path.endswith(".pub"):  # public, but a PEM block says nothing to a reader
        note = f"certificate or public key ({fingerprint(data)}); k8sfs pki check shows its subject and SANs"
        return FileView(f.path, [host], f.mode, None, note, explain(f.path, None, values), step)
    return FileView(f.path, [host], f.mode, text, "", explain(f.path, text, values), step)


def upload_view(u: Upload, host: str, step: str = "") -> UploadView:
    if u.pending:
        return UploadView(u.path, [host], f"not on the controller yet: {u.pending}", step)
    size = u.local.stat().st_size if u.local is not None and u.local.exists() else 0
    name = u.local.name if u.local is not None else u.path.rsplit("/", 1)[-1]
    return UploadView(u.path, [host], f"{name}, {size / 1e6:.1f} MB, sha256:{u.sha256[:16]}", step)


def _merge(views: list, key: Callable[[Any], object]) -> list:
    """One entry per identical item, with every host that gets it."""
    out: dict = {}
    for v in views:
        k = key(v)
        if k in out:
            out[k].hosts += [h for h in v.hosts if h not in out[k].hosts]
        else:
            out[k] = v
    return list(out.values())


def step_views(steps: list[Step], values: dict[str, str]) -> list[StepView]:
    """Each step of a chapter (merged over hosts where they are the same)."""
    from k8sfs import join_command

    views = []
    for s in steps:
        view = StepView(
            s.label,
            [s.host],
            s.description,
            files=[file_view(f, s.host, values, s.label) for f in s.files],
            uploads=[upload_view(u, s.host, s.label) for u in s.uploads],
            commands=[join_command(a) for a in s.apply],
            by_hand=list(s.by_hand),
            internal=[(what, join_command(c)) for what, c in (("check", s.check), ("verify", s.verify)) if c],
        )
        views.append(view)

    def same(v: StepView) -> tuple:
        return (
            v.label,
            v.description,
            tuple((f.path, f.text, f.note) for f in v.files),
            tuple((u.path, u.what) for u in v.uploads),
            tuple(v.commands),
            tuple(v.by_hand),
        )

    merged = _merge(views, same)
    for v in merged:
        for f in v.files:
            f.hosts = list(v.hosts)
        for u in v.uploads:
            u.hosts = list(v.hosts)
    return merged
