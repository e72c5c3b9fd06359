"""`k8sfs reset`: Kubernetes off every host of the spec, in parallel, with
the steps' own record of what they wrote (engine/reset.py renders the
script); SSH and the hosts' own packages stay. The journal is cleared."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from k8sfs import ExecResult
from k8sfs.cluster import Cluster
from k8sfs.engine.reset import reset_script


def reset(cluster: Cluster) -> dict[str, str]:
    """Each host's last line of the reset script's output."""
    with cluster.writing():
        by_host = cluster.reset_steps()

        def one(host: str) -> ExecResult:
            return cluster.run(host, "reset", ["sh", "-c", reset_script(by_host[host])], timeout=300)

        with ThreadPoolExecutor(max_workers=max(1, len(by_host))) as pool:
            results = list(pool.map(one, by_host))
        cluster.journal.clear()
    return {
        host: (r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "done")
        for host, r in zip(by_host, results, strict=True)
    }
