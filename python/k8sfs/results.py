"""Result files of measured runs: what a benchmark or a long suite found,
with what produced it (the exact command, the commit, the date, the
machine and the versions of the peers it was compared with), so that a
figure quoted in the README or the docs can be traced to a run and made
again. scripts/figures.py renders the quoted tables from these files and
fails when a quoted figure is not in one.

A file is results/<name>.json (K8SFS_RESULTS_DIR moves the folder): one
run's record, replaced by the next run of the same name. They are
committed when a run is meant to be quoted."""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS_DIR = "K8SFS_RESULTS_DIR"


def results_dir() -> Path:
    return Path(os.environ.get(RESULTS_DIR, "results"))


def machine() -> dict[str, Any]:
    """Cores, memory and kernel of this machine: the figures depend on them."""
    memory = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_mib": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def commit() -> str:
    """HEAD of the checkout the run came from, marked when it had changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty.stdout.strip() else "")


def _this_command() -> str:
    """How this script was started, as a person would type it (python3 bench/pki.py --rounds 5)."""
    script = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if not script:
        return "python3"
    try:
        shown = os.path.relpath(script)
    except ValueError:
        shown = script
    return shlex.join(["python3", shown, *sys.argv[1:]])


def record(
    name: str,
    figures: dict[str, Any],
    peers: dict[str, str] | None = None,
    notes: list[str] | None = None,
    command: str | None = None,
) -> Path:
    """Writes results/<name>.json (atomically) and returns its path.
    `figures` are the numbers; `peers` the versions of what they were
    compared with; `notes` say how to read them (what ran in process and
    what as a process, ...)."""
    out = results_dir() / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "name": name,
        "command": command or _this_command(),
        "commit": commit(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "peers": peers or {},
        "notes": notes or [],
        "figures": figures,
    }
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(entry, indent=1, sort_keys=False) + "\n")
    tmp.replace(out)
    return out


def load(name: str, directory: Path | None = None) -> dict[str, Any]:
    path = (directory or results_dir()) / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no result file (run what produces it; see README's make targets)") from None


def tool_version(argv: list[str]) -> str:
    """The first line a peer prints for its version ('' when it is missing)."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else ""


def table(headers: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    """A table figure (what scripts/figures.py renders for a block without a template)."""
    return {"headers": list(headers), "rows": [[str(cell) for cell in row] for row in rows]}
