"""One helper for every systemd service a chapter runs: its files and
uploads, the paths it reads (declared by the C++ renderer that writes its
unit), and from those the check, the restart and the verify.

The check is "enabled, active and started after every file it reads last
changed", so a renewed certificate or a config written by an apply that
was killed before the restart still restarts the service."""

from __future__ import annotations

from typing import Any

from k8sfs import _core, quote
from k8sfs.engine.checks import running_newer_than
from k8sfs.engine.step import Argv, File, Guard, Step, Upload


def service_step(
    name: str,
    host: str,
    unit: str,
    description: str = "",
    *,
    reads: list[str] | None = None,
    files: list[File] | None = None,
    uploads: list[Upload] | None = None,
    prepare: list[Argv] | None = None,
    guard: Guard | None = None,
    verify: Argv | None = None,
    verify_timeout: float = 60.0,
    data: list[str] | None = None,
    extra_check: str = "",
    undo: list[Argv] | None = None,
    by_hand: list[str] | None = None,
) -> Step:
    """A step that installs `unit` and (re)starts it when anything it reads
    is newer than its start. `prepare` runs before the restart (directories
    it needs); `reads` lists what the service reads besides these files;
    `by_hand` what a person runs to check it, after systemctl and journalctl."""
    files, uploads = list(files or []), list(uploads or [])
    inputs = list(dict.fromkeys([*(reads or []), *(f.path for f in files), *(u.path for u in uploads)]))
    enabled = f"systemctl is-enabled --quiet {quote(unit)}"
    return Step(
        name,
        host,
        description,
        files=files,
        uploads=uploads,
        check=running_newer_than(unit, inputs, " && ".join(c for c in (enabled, extra_check) if c)),
        apply=[
            *(prepare or []),
            # enable reads the unit file from disk; one reload (not two: enable
            # reloads on its own) costs systemd ~0.3 s of CPU per service
            ["systemctl", "enable", "--no-reload", unit],
            ["systemctl", "daemon-reload"],
            ["systemctl", "restart", unit],
        ],
        guard=guard,
        verify=verify,
        verify_timeout=verify_timeout,
        by_hand=[f"systemctl status {unit} --no-pager", f"journalctl -u {unit} -n 20 --no-pager", *(by_hand or [])],
        service=unit,
        inputs=inputs,
        data=list(data or []),
        undo=list(undo or []),
    )


def bundle_step(
    host: str,
    bundle: _core.ServiceBundle,
    description: str = "",
    *,
    name: str = "",
    with_unit: bool = True,
    files: list[File] | None = None,
    reads: list[str] | None = None,
    **options: Any,
) -> Step:
    """The step for a service bundle (components/service.h): its unit
    (`with_unit` False: a package's unit and program are used), the files
    it renders and everything it reads, plus the chapter's own `files`
    (secrets, scripts) and `reads`; the rest of `options` as for service_step."""
    written = [File(bundle.unit_path, bundle.unit_text)] if with_unit else []
    written += [File(f.path, f.content) for f in bundle.files]
    own_reads = [r for r in bundle.reads if with_unit or r != bundle.binary]
    return service_step(
        name or bundle.unit,
        host,
        bundle.unit,
        description,
        reads=[*own_reads, *(reads or [])],
        files=[*written, *(files or [])],
        **options,
    )
