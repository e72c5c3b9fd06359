"""The journal: one fsynced JSON line per step event, so a killed apply is
resumed and a step left out of an apply is picked up by the next one.

    started   the step is about to change its host
    applied   it changed and verified its host
    skipped   it was left out (an excluded or unreachable host): redo it
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from k8sfs.engine.step import Step

STARTED, APPLIED, SKIPPED = "started", "applied", "skipped"


class Journal:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    def record(self, step: Step, status: str, why: str = "") -> None:
        if self.path is None:
            return
        entry = {
            "time": time.time(),
            "host": step.host,
            "chapter": step.chapter,
            "step": step.journal_name,
            "status": status,
        }
        if why:
            entry["why"] = why
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def last(self) -> dict[str, dict]:
        """Each step's last record, by step key (host/chapter/step)."""
        found: dict[str, dict] = {}
        if self.path is None or not self.path.exists():
            return found
        for line in self.path.read_text().splitlines():
            try:
                entry = json.loads(line)
                found[f"{entry['host']}/{entry['chapter']}/{entry['step']}"] = entry
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a kill
        return found

    def interrupted(self) -> set[str]:
        return {key for key, e in self.last().items() if e["status"] == STARTED}

    def carried_over(self) -> dict[str, str]:
        """Steps the last apply that saw them left out, with the reason."""
        return {key: e.get("why", "left out") for key, e in self.last().items() if e["status"] == SKIPPED}

    def clear(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
