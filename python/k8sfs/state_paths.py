"""Where the controller keeps a cluster's state: its own module, so that
commands which only need the paths (k8sfs pki ...) do not import the engine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from k8sfs.spec import ClusterSpec


def default_state_dir(spec: ClusterSpec) -> Path:
    """$K8SFS_STATE/<cluster> (default ./k8sfs-state/<cluster>)."""
    return Path(os.environ.get("K8SFS_STATE", "k8sfs-state")) / spec.cluster_name


def pki_dir(state_dir: Path) -> Path:
    """The PKI directory inside a cluster's controller state."""
    return Path(state_dir) / "pki"


def journal_path(state_dir: Path) -> Path:
    """The journal of step events (engine/journal.py)."""
    return Path(state_dir) / "journal.jsonl"
