"""Processes, commands and mounts of the lab on the controller: finding a
host's systemd-nspawn and container init by what they run on (never by
name alone, so never someone else's process), stopping them by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path


class LabError(RuntimeError):
    """A lab operation failed; the message says which host and step."""


def processes() -> Iterator[Path]:
    return (entry for entry in Path("/proc").iterdir() if entry.name.isdigit())


def run(argv: list[str], what: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise LabError(f"{what}: `{' '.join(argv)}` failed (exit {proc.returncode}): {tail}")
    return proc


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of ours counts as gone.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return Path(f"/proc/{pid}").exists()


def stop(pids: list[int], grace: float = 20, sig: int = signal.SIGTERM) -> None:
    """`sig` to each (SIGTERM makes nspawn power its host off cleanly), then
    SIGKILL for any still there after the grace period; returns when all are gone."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    while any(alive(pid) for pid in pids):
        time.sleep(0.1)


def nspawn_pids(roots: dict[str, Path]) -> dict[str, int]:
    """PID of each host's running systemd-nspawn (host -> pid), found in one
    pass over /proc by its own root directory on the command line."""
    wanted = {f"--directory={root}".encode(): name for name, root in roots.items()}
    found = {}
    for entry in processes():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"systemd-nspawn"):
            for arg in argv:
                if arg in wanted:
                    found[wanted[arg]] = int(entry.name)
    return found


def container_inits(uppers: dict[str, Path]) -> dict[str, list[int]]:
    """Init processes running on a host's root filesystem (host -> pids):
    PID 1 of their namespace with this host's overlay as their root mount.
    systemd-nspawn killed with SIGKILL leaves its container running without
    it; killing that init ends every process of the container."""
    markers = {f"upperdir={upper},".encode(): name for name, upper in uppers.items()}
    found: dict[str, list[int]] = {}
    for entry in processes():
        try:
            status = (entry / "status").read_text()
            nspid = next(line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:"))
            if len(nspid) < 2 or nspid[-1] != "1":
                continue
            root_mounts = [
                line for line in (entry / "mountinfo").read_bytes().splitlines() if line.split(b" ")[4] == b"/"
            ]
        except (OSError, StopIteration, IndexError):
            continue
        for marker, name in markers.items():
            if any(marker in line for line in root_mounts):
                found.setdefault(name, []).append(int(entry.name))
    return found


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path`, deepest first."""
    prefix = str(path)
    points = []
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    except OSError:
        pass
    return sorted(set(points), key=len, reverse=True)


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no console log)"
