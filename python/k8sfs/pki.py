"""The cluster's PKI from Python: plan, apply, check, renew, import, push.

The work is the C++ core's (k8sfs._core.PkiStore and the certificate
table); this module adds the spec glue, readable plan text and the push of
each host's files over SSH.
"""
from __future__ import annotations

import os
import posixpath
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from k8sfs import _core
from k8sfs.spec import ClusterSpec

PkiStore = _core.PkiStore
PKIError = _core.PKIError


def default_dir(spec: ClusterSpec) -> Path:
    """Where the controller keeps a cluster's PKI: $K8SFS_STATE/<cluster>/ (default ./k8sfs-state)."""
    return Path(os.environ.get("K8SFS_STATE", "k8sfs-state")) / spec.cluster_name


def store(spec: ClusterSpec, directory: str | Path | None = None) -> _core.PkiStore:
    return _core.PkiStore(str(directory if directory is not None else default_dir(spec)))


def plan_lines(plan) -> list[str]:
    """One line per material that changes (never key material)."""
    lines = []
    for item in plan.items:
        if item.action != "keep":
            lines.append(f"  {item.action:8} {item.name:28} {item.reason}")
    return lines


def describe_distribution(files) -> list[str]:
    by_host: dict[str, list] = defaultdict(list)
    for f in files:
        by_host[f.host].append(f)
    lines = []
    for host, steps in by_host.items():
        lines.append(f"  {host}: {len(steps)} files")
        for f in steps:
            if f.local.endswith("ca.key"):
                lines.append(f"    {f.remote} ({oct(f.mode)[2:]}): {f.reason}")
    return lines


@dataclass
class PushResult:
    host: str
    changed: int = 0
    unchanged: int = 0
    error: BaseException | None = None


def push(pki: _core.PkiStore, files, connect: Callable[[str], object],
         progress: Callable[[str], None] = lambda _m: None) -> list[PushResult]:
    """Copy each host's files to it over SSH, all hosts at once.

    `connect(host)` returns a Session. Directories are made first (0755, as
    kubeadm does), then each file is put atomically with its mode and owner
    and skipped when it already matches.
    """
    by_host: dict[str, list] = defaultdict(list)
    for f in files:
        by_host[f.host].append(f)

    def one(host: str) -> PushResult:
        result = PushResult(host)
        try:
            with connect(host) as session:
                dirs = sorted({posixpath.dirname(f.remote) for f in by_host[host]})
                session.exec(["mkdir", "-p", "-m", "0755", *dirs], check=True, timeout=30)
                for f in by_host[host]:
                    owner, _, group = f.owner.partition(":")
                    put = session.put_content(pki.read(f.local), f.remote, mode=f.mode, owner=owner, group=group)
                    if put.changed:
                        result.changed += 1
                    else:
                        result.unchanged += 1
            progress(f"{host}: {result.changed} files written, {result.unchanged} already current")
        except Exception as error:  # reported per host; the others go on
            result.error = error
        return result

    with ThreadPoolExecutor(max_workers=max(1, len(by_host))) as executor:
        return list(executor.map(one, list(by_host)))
