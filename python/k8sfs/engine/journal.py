"""The journal: one fsynced JSON line per step event, so a killed apply is
resumed and a step left out of an apply is picked up by the next one.

    started   the step is about to change its host
    applied   it changed and verified its host
    skipped   it was left out (an excluded or unreachable host): redo it
    forgotten what it owed was dropped on request (apply --forget-owed)

What it owes is a reason to look again, never an order to replay: the next
apply inspects an owed step like any other (engine/plan.py). A host that
is made anew (a lab host with a new disk, a reset host) owes nothing, and
nothing is owed to it: `forget` drops its entries and the hooks aimed at it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from k8sfs.engine.step import Step

STARTED, APPLIED, SKIPPED, FORGOTTEN = "started", "applied", "skipped", "forgotten"


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

    def settle_owed(self) -> list[str]:
        """Marks every owed step as forgotten; returns their keys."""
        owed = {key: e for key, e in self.last().items() if e["status"] in (STARTED, SKIPPED)}
        if owed and self.path is not None:
            with open(self.path, "a") as f:
                for e in owed.values():
                    entry = {k: e[k] for k in ("host", "chapter", "step")}
                    f.write(json.dumps({"time": time.time(), **entry, "status": FORGOTTEN}) + "\n")
                f.flush()
                os.fsync(f.fileno())
        return sorted(owed)

    def forget(self, hosts: set[str]) -> list[str]:
        """Drops every entry of `hosts` and of hooks aimed at them (step
        `name@host`); returns the keys that were still owed. The file is
        replaced whole (a temporary file, fsynced, renamed)."""
        if self.path is None or not self.path.exists() or not hosts:
            return []
        owed = [key for key, e in self.last().items() if e["status"] in (STARTED, SKIPPED) and _concerns(e, hosts)]
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                if _concerns(json.loads(line), hosts):
                    continue
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a line cut short by a kill
            kept.append(line + "\n")
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as f:
            f.writelines(kept)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)
        return owed

    def clear(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def _concerns(entry: dict, hosts: set[str]) -> bool:
    """The entry is a step of one of `hosts`, or a hook aimed at one."""
    _, _, target = str(entry["step"]).partition("@")
    return entry["host"] in hosts or target in hosts
