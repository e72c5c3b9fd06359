"""The cluster's admin kubeconfig for the user's own tools (kubectl, k9s,
helm): written under one name (cluster, user and context alike, as kind
does), or merged into an existing kubeconfig that is backed up first."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import yaml


class KubeconfigError(ValueError):
    pass


def renamed(admin_text: str, name: str) -> dict[str, Any]:
    """admin.conf with its one cluster, user and context called `name`."""
    config = yaml.safe_load(admin_text)
    try:
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
    except (KeyError, IndexError, TypeError):
        raise KubeconfigError("admin.conf has no cluster or user entry") from None
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }


def _merge(existing: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    merged = dict(existing)
    for section in ("clusters", "users", "contexts"):
        names = {entry["name"] for entry in ours[section]}
        kept = [entry for entry in existing.get(section) or [] if entry.get("name") not in names]
        merged[section] = kept + ours[section]
    merged["current-context"] = ours["current-context"]
    merged.setdefault("apiVersion", "v1")
    merged.setdefault("kind", "Config")
    return merged


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.k8sfs-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def export(admin_text: str, name: str, target: Path, merge: bool = False) -> str:
    """Writes or merges; returns what it did. An existing file is touched
    only with `merge`, and copied aside first."""
    ours = renamed(admin_text, name)
    if not target.exists():
        _write_private(target, yaml.safe_dump(ours, sort_keys=False))
        return f"wrote {target} (context {name}, 0600); try: kubectl --kubeconfig {target} get nodes"
    if not merge:
        raise KubeconfigError(
            f"{target} exists; add --merge to merge context {name} into it (it is backed up "
            "first), or write elsewhere with -o FILE"
        )
    text = target.read_text()
    try:
        existing = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise KubeconfigError(f"{target} is not a kubeconfig (YAML: {error}); nothing changed") from None
    if not isinstance(existing, dict):
        raise KubeconfigError(f"{target} is not a kubeconfig (not a mapping); nothing changed")
    backup = target.with_name(f"{target.name}.k8sfs-backup-{time.strftime('%Y%m%d-%H%M%S')}")
    _write_private(backup, text)
    _write_private(target, yaml.safe_dump(_merge(existing, ours), sort_keys=False))
    return f"merged context {name} into {target} (now current; backup: {backup})"
