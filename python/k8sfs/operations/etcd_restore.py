"""`k8sfs etcd restore FILE`: the cluster back to an etcd snapshot, by
etcd's documented procedure: every member gets a new data directory made
from the same snapshot with the same initial cluster, while every
kube-apiserver is stopped.

The snapshot is checked with `etcdutl snapshot status` on the controller
before anything on the hosts is touched, so a bad file changes nothing.
The data directories it replaces are kept beside them
(/var/lib/etcd.before-restore-<time>)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from k8sfs import _core
from k8sfs.artifacts import versions_for
from k8sfs.chapters.context import Context
from k8sfs.chapters.control_plane import ADMIN_CONF, etcd_options, kubectl_with, local_kubectl
from k8sfs.cluster import Cluster

REMOTE_SNAPSHOT = _core.layout.RESTORE_SNAPSHOT


class RestoreError(RuntimeError):
    pass


def snapshot_status(etcdutl: Path, snapshot: Path) -> dict[str, Any]:
    """etcdutl's view of the file (hash, revision, keys, size); raises when it is not a snapshot."""
    if not snapshot.is_file():
        raise RestoreError(f"{snapshot}: no such file")
    proc = subprocess.run(
        [str(etcdutl), "snapshot", "status", str(snapshot), "-w", "json"], capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RestoreError(
            f"{snapshot} is not an etcd snapshot etcdutl can read; nothing was changed: " + " / ".join(tail)
        )
    status: dict[str, Any] = json.loads(proc.stdout)
    return status


def _flag(flags: list[str], name: str) -> str:
    return next(f.split("=", 1)[1] for f in flags if f.startswith(f"--{name}="))


def restore(cluster: Cluster, snapshot: Path, progress: Callable[[str], None]) -> dict[str, Any]:
    """Restores every member from `snapshot`; returns etcdutl's status of it."""
    etcdutl = cluster.cache.require("etcdutl", versions_for(cluster.spec.kubernetes_version)["etcdutl"]).path
    status = snapshot_status(etcdutl, snapshot)
    progress(
        f"snapshot {snapshot}: revision {status.get('revision')}, {status.get('totalKey')} keys, "
        f"hash {status.get('hash')}"
    )
    run = cluster.run
    with cluster.writing():
        ctx: Context = cluster.context()
        members = ctx.etcd_hosts
        planes = ctx.control_plane
        stamp = time.strftime("%Y%m%d-%H%M%S")

        def each(hosts: list[Any], work: Callable[[Any], object]) -> None:
            with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
                list(pool.map(work, hosts))

        def upload(h: Any) -> None:
            run(h.name, "etcd-restore", ["install", "-d", "-m", "0700", str(Path(REMOTE_SNAPSHOT).parent)])
            cluster.session(h.name).put(str(snapshot), REMOTE_SNAPSHOT, mode=0o600, skip_if_same=False)

        progress(f"copying the snapshot to {', '.join(h.name for h in members)}")
        each(members, upload)
        progress(f"stopping kube-apiserver on {', '.join(h.name for h in planes)} and etcd on every member")
        each(planes, lambda h: run(h.name, "etcd-restore", ["systemctl", "stop", "kube-apiserver"]))
        each(members, lambda h: run(h.name, "etcd-restore", ["systemctl", "stop", "etcd"]))

        def rebuild(h: Any) -> None:
            o = etcd_options(ctx, h)
            flags = _core.etcd_flags(o)
            kept = f"{o.data_dir}.before-restore-{stamp}"
            run(h.name, "etcd-restore", ["sh", "-c", 'if [ -d "$1" ]; then mv "$1" "$2"; fi', "sh", o.data_dir, kept])
            run(
                h.name,
                "etcd-restore",
                [
                    "etcdutl",
                    "snapshot",
                    "restore",
                    REMOTE_SNAPSHOT,
                    "--data-dir",
                    o.data_dir,
                    "--name",
                    o.self.name,
                    "--initial-cluster",
                    _flag(flags, "initial-cluster"),
                    "--initial-cluster-token",
                    _flag(flags, "initial-cluster-token"),
                    "--initial-advertise-peer-urls",
                    _flag(flags, "initial-advertise-peer-urls"),
                ],
                timeout=600,
            )
            run(h.name, "etcd-restore", ["chmod", "0700", o.data_dir])
            run(h.name, "etcd-restore", ["rm", "-f", REMOTE_SNAPSHOT])
            progress(f"{h.name}: new data dir from the snapshot; the old one is {kept}")

        each(members, rebuild)
        # Members wait for each other's quorum: start them together.
        each(members, lambda h: run(h.name, "etcd-restore", ["systemctl", "start", "--no-block", "etcd"]))
        health = ["etcdctl", *_core.etcdctl_tls_args(), "endpoint", "health"]
        for h in members:
            _wait(cluster, h.name, health, 120, "etcd healthy after the restore")
        each(planes, lambda h: run(h.name, "etcd-restore", ["systemctl", "start", "kube-apiserver"]))
        for h in planes:
            _wait(cluster, h.name, local_kubectl("get", "--raw", "/readyz"), 180, "kube-apiserver ready")
        vip = cluster.spec.control_plane_endpoint
        if vip:
            # With every apiserver stopped, keepalived let the endpoint go; it takes
            # it again only after its check has passed: clients use the endpoint.
            through = kubectl_with(ADMIN_CONF, "--server", f"https://{vip}:6443", "--request-timeout=3s")
            _wait(cluster, planes[0].name, [*through, "get", "--raw", "/readyz"], 120, f"the API through {vip}")
        answering = ", the endpoint answering" if vip else ""
        progress(f"restored: every member healthy, every kube-apiserver ready{answering}")
    return status


def _wait(cluster: Cluster, host: str, argv: list[str], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = cluster.run(host, "etcd-restore", argv, check=False)
        if result.exit_code == 0:
            return
        if time.monotonic() > deadline:
            raise RestoreError(f"{host}: {what}: not within {timeout:.0f} s: {result.stderr_tail(3)}")
        time.sleep(1)
