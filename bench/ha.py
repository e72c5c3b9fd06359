#!/usr/bin/env python3
"""Benchmark: high availability on the lab, in one run.

- Cold bring-up (lab up + apply through the smoke test, artifacts cached)
  of a 3+2 cluster next to a 1+2 cluster, with the ratio.
- After killing the control-plane host that holds the endpoint (SIGKILL,
  as a power cut): seconds until the API answers through the endpoint
  again; median and worst of --rounds runs (the host is started again and
  etcd is healthy before the next round).

    python bench/ha.py [--rounds 5]

No peer tool runs here (kubeadm's HA needs images from a registry), so the
only ratio is 3+2 against 1+2. This machine is noisy: read medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from k8sfs import _core, results
from k8sfs.cluster import Cluster
from k8sfs.lab import Lab
from k8sfs.spec import ClusterSpec, endpoint_for, sized_hosts
from k8sfs.table import render_table


def bring_up(name: str, subnet: str, planes: int) -> tuple[float, Lab]:
    spec = ClusterSpec(
        hosts=sized_hosts(planes, 2, subnet), control_plane_endpoint=endpoint_for(subnet) if planes > 1 else ""
    )
    lab = Lab(name=name, subnet=subnet, progress=lambda m: None)
    start = time.perf_counter()
    lab.up(spec)
    with Cluster.for_lab(lab) as cluster:
        cluster.apply()
    return time.perf_counter() - start, lab


def holder(cluster: Cluster, endpoint: str) -> str:
    planes = [h.name for h in cluster.spec.hosts if h.control_plane]
    return next(h for h in planes if cluster.exec(h, f"ip -4 -o addr show | grep -qw {endpoint}").ok)


def failover_rounds(lab: Lab, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        with Cluster.for_lab(lab) as cluster:
            endpoint = cluster.spec.control_plane_endpoint
            victim = holder(cluster, endpoint)
            survivor = next(h.name for h in cluster.spec.hosts if h.control_plane and h.name != victim)
        lab.stop([victim], kill=True)
        start = time.perf_counter()
        with Cluster.for_lab(lab) as cluster:
            while not cluster.kubectl("get", "--raw", "/readyz", timeout=5).ok:
                time.sleep(0.1)
            samples.append(time.perf_counter() - start)
        lab.start([victim])
        with Cluster.for_lab(lab) as cluster:
            health = ["etcdctl", *_core.etcdctl_tls_args(), "endpoint", "health", "--cluster"]
            deadline = time.monotonic() + 180
            while cluster.runner.run(survivor, "bench", health, check=False).exit_code != 0:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"etcd not healthy again after {victim} restarted")
                time.sleep(1)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = []
    labs = []
    try:
        single, lab1 = bring_up("k8sfsb1", "192.168.87.0/24", 1)
        labs.append(lab1)
        lab1.down(purge=True)
        ha, lab3 = bring_up("k8sfsb3", "192.168.88.0/24", 3)
        labs.append(lab3)
        rows.append(["cold bring-up 1+2 (lab up + apply, smoke test)", f"{single:.1f} s", ""])
        rows.append(["cold bring-up 3+2", f"{ha:.1f} s", f"{ha / single:.2f}x of 1+2"])
        samples = failover_rounds(lab3, args.rounds)
        rows.append(
            [
                f"API through the endpoint after its holder is killed (median of {args.rounds})",
                f"{statistics.median(samples):.1f} s",
                f"worst {max(samples):.1f} s",
            ]
        )
    finally:
        for lab in labs:
            lab.down(quiet=True, purge=True)
    print(render_table(["WHAT", "TIME", "NOTE"], rows))
    results.record("bench-ha", {"table": results.table(["WHAT", "TIME", "NOTE"], rows)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
