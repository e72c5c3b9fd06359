#!/usr/bin/env python3
"""Benchmark: the whole lab cluster from scratch up to kubectl and the
nodes registered (cold apply: every file, binary and service), then the
unchanged re-apply (checks only), on a lab of its own.

    python bench/apply.py [--reapply N]

Artifacts must be cached (make artifacts). Times are wall clock, medians
for the re-apply; this machine is noisy. No peer tool does the same job
here (kubeadm needs a registry for its images), so there is no ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from k8sfs.cluster import Cluster
from k8sfs.lab import Lab
from k8sfs.table import render_table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reapply", type=int, default=5)
    args = parser.parse_args()
    lab = Lab(name="k8sfsb", subnet="192.168.76.0/24", progress=lambda m: None)
    rows = []
    try:
        start = time.perf_counter()
        lab.up()
        rows.append(["lab up (3 hosts, image cached)", f"{time.perf_counter() - start:.1f} s"])
        with tempfile.TemporaryDirectory() as state:
            with Cluster.for_lab(lab, state_dir=Path(state)) as cluster:
                start = time.perf_counter()
                done = cluster.apply()
                rows.append(
                    [
                        f"cold apply, {len(done.steps)} steps ({done.changes} changed)",
                        f"{time.perf_counter() - start:.1f} s",
                    ]
                )
            samples = []
            for _ in range(args.reapply):
                with Cluster.for_lab(lab, state_dir=Path(state)) as cluster:  # a fresh run each time, as the CLI
                    start = time.perf_counter()
                    again = cluster.apply()
                    samples.append(time.perf_counter() - start)
                    assert again.changes == 0, "re-apply changed something"
            rows.append(
                [f"unchanged re-apply (median of {args.reapply}, 0 changes)", f"{statistics.median(samples):.2f} s"]
            )
    finally:
        lab.down(quiet=True)
    print(render_table(["WHAT", "TIME"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
