"""`k8sfs etcd snapshot`: etcd's keyspace from one member to the controller."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from k8sfs import _core
from k8sfs.cluster import Cluster
from k8sfs.state_paths import StateLayout

# Where the member writes it before the controller fetches it (then removed).
REMOTE_DIR = _core.layout.K8SFS_DIR


@dataclass
class Snapshot:
    host: str  # the member it came from
    path: Path  # on the controller, 0600
    size: int


def etcd_snapshot(cluster: Cluster, output: Path | None = None, keep: int | None = None) -> Snapshot:
    """`etcdctl snapshot save` on the first etcd host, fetched to `output`
    (default: the cluster's backups folder) and removed from the host. The
    file appears whole or not at all. With `keep`, only the newest `keep`
    snapshots stay in the backups folder (for a timer)."""
    host = next((h.name for h in cluster.spec.hosts if h.etcd), None)
    if host is None:
        raise ValueError("the spec has no etcd host")
    if keep is not None and (output is not None or keep < 1):
        raise ValueError("--keep needs at least 1 and the default folder (it prunes <state>/backups, not -o FILE)")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    remote = f"{REMOTE_DIR}/etcd-snapshot-{stamp}.db"
    backups = StateLayout(cluster.state_dir).backups
    out = output or backups / f"etcd-{stamp}.db"
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    cluster.run(host, "etcd-snapshot", ["install", "-d", "-m", "0700", REMOTE_DIR])
    cluster.run(host, "etcd-snapshot", ["etcdctl", *_core.etcdctl_tls_args(), "snapshot", "save", remote], timeout=600)
    try:
        got = cluster.session(host).get(remote, str(partial))
        partial.chmod(0o600)  # the keyspace: secrets are encrypted, everything else is not
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
        cluster.run(host, "etcd-snapshot", ["rm", "-f", remote], check=False)
    if keep is not None:
        prune(backups, keep)
    return Snapshot(host, out, got.bytes)


def prune(backups: Path, keep: int) -> list[Path]:
    """Removes all but the newest `keep` etcd-<time>.db files (their names
    sort by time); returns what it removed."""
    snapshots = sorted(backups.glob("etcd-[0-9]*-[0-9]*.db"))
    old = snapshots[: max(0, len(snapshots) - keep)]
    for path in old:
        path.unlink()
    return old
