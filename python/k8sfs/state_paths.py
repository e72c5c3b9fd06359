"""Where the controller keeps a cluster's state: its own module, so that
commands which only need the paths (k8sfs pki ...) do not import the engine."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from k8sfs.spec import ClusterSpec


def default_state_dir(spec: ClusterSpec) -> Path:
    """$K8SFS_STATE/<cluster> (default ./k8sfs-state/<cluster>)."""
    return Path(os.environ.get("K8SFS_STATE", "k8sfs-state")) / spec.cluster_name


@dataclass(frozen=True)
class StateLayout:
    """Every file and folder of a cluster's state on the controller, named once."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"  # the CAs and every leaf (the CA keys never leave it)

    @property
    def encryption_key(self) -> Path:
        return self.root / "secrets" / "encryption-key"  # the secrets-at-rest key

    @property
    def journal(self) -> Path:
        return self.root / "journal.jsonl"  # step events (engine/journal.py)

    @property
    def lock(self) -> Path:
        return self.root / "lock"  # the controller's lock (engine/lock.py)

    @property
    def logs(self) -> Path:
        return self.root / "logs"  # one log per host: every command and its output

    def log(self, host: str) -> Path:
        return self.logs / f"{host}.log"

    @property
    def last_apply(self) -> Path:
        return self.root / "last-apply.json"  # each step's start and end (k8sfs picture timeline)

    @property
    def applies(self) -> Path:
        return self.root / "applies.jsonl"  # the same for the recent applies

    @property
    def backups(self) -> Path:
        return self.root / "backups"  # etcd snapshots

    @property
    def conformance(self) -> Path:
        return self.root / "conformance"  # the suite's reports


def pki_dir(state_dir: Path) -> Path:
    """The PKI directory inside a cluster's controller state."""
    return StateLayout(Path(state_dir)).pki


def journal_path(state_dir: Path) -> Path:
    """The journal of step events (engine/journal.py)."""
    return StateLayout(Path(state_dir)).journal
