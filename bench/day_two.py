#!/usr/bin/env python3
"""Benchmark: day-two changes on the lab, in one run, artifacts cached.

- cold 1+2 bring-up (lab up + apply through the smoke test);
- adding one worker to that running cluster (lab up --workers 3, plan,
  apply), with its ratio to the cold bring-up;
- upgrading a 1+2 cluster one minor (UPGRADE_FROM -> the lab's version),
  with the requests that failed to a 2-replica Service (PodDisruptionBudget
  minAvailable 1) asked every 0.2 s by a client on each worker.

    python bench/day_two.py [--from v1.33.13]

No peer tool runs here, so the only ratio is against the cold bring-up.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from k8sfs import results
from k8sfs.cluster import Cluster
from k8sfs.lab import Lab
from k8sfs.table import render_table
from k8sfs.versions import LAB_KUBERNETES_VERSION

WORKLOAD = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: k8sfs.local/busybox:1.0, imagePullPolicy: Never,
         command: [httpd, -f, -p, "8080", -h, /var/www], readinessProbe: {tcpSocket: {port: 8080}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: client}
spec:
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec:
      containers:
      - name: c
        image: k8sfs.local/busybox:1.0
        imagePullPolicy: Never
        command: [sh, -c, "while true; do if timeout 1 wget -qO- http://web/ >/dev/null 2>&1; then echo ok;
                  else echo fail; fi; sleep 0.2; done"]
"""


def upgrade_run(old: str) -> tuple[float, int, int]:
    lab = Lab(name="k8sfsbu", subnet="192.168.92.0/24", progress=lambda m: None)
    try:
        lab.up(dataclasses.replace(lab.default_spec(), kubernetes_version=old))
        with Cluster.for_lab(lab) as cluster:
            cluster.apply()
            master = cluster.spec.hosts[0].name
            with lab.session(master) as s:
                s.put_content(WORKLOAD, "/etc/kubernetes/addons/bench.yaml")
            cluster.exec(
                master,
                [
                    "kubectl",
                    "--kubeconfig",
                    "/etc/kubernetes/admin.conf",
                    "apply",
                    "-f",
                    "/etc/kubernetes/addons/bench.yaml",
                ],
            )
            cluster.kubectl("rollout", "status", "deployment/web", "--timeout=120s")
            cluster.kubectl("rollout", "status", "daemonset/client", "--timeout=120s")
        lab.up(dataclasses.replace(lab.saved_spec(), kubernetes_version=LAB_KUBERNETES_VERSION))
        with Cluster.for_lab(lab) as cluster:
            pods = cluster.kubectl(
                "get", "pods", "-l", "app=client", "-o", "jsonpath={.items[*].metadata.name}"
            ).stdout.split()
            before = {p: len(cluster.kubectl("logs", p).stdout.split()) for p in pods}
            start = time.perf_counter()
            cluster.apply()
            took = time.perf_counter() - start
            words = [w for p in pods for w in cluster.kubectl("logs", p).stdout.split()[before[p] :]]
        return took, words.count("fail"), len(words)
    finally:
        lab.down(quiet=True, purge=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="old", default="v1.33.13")
    args = parser.parse_args()
    rows = []
    lab = Lab(name="k8sfsba", subnet="192.168.93.0/24", progress=lambda m: None)
    try:
        start = time.perf_counter()
        lab.up()
        with Cluster.for_lab(lab) as cluster:
            cluster.apply()
        cold = time.perf_counter() - start
        start = time.perf_counter()
        lab.up(
            dataclasses.replace(
                lab.saved_spec(),
                hosts=lab.saved_spec().hosts
                + [dataclasses.replace(lab.saved_spec().hosts[-1], name="node-3", address="0.0.0.0")],
            )
        )
        with Cluster.for_lab(lab) as cluster:
            cluster.plan()
            cluster.apply()
        added = time.perf_counter() - start
    finally:
        lab.down(quiet=True, purge=True)
    rows.append(["cold bring-up 1+2 (lab up + apply, smoke test)", f"{cold:.1f} s", ""])
    rows.append(["add one worker (lab up, plan, apply)", f"{added:.1f} s", f"{added / cold:.2f}x of cold"])
    took, failed, total = upgrade_run(args.old)
    rows.append(
        [
            f"upgrade {args.old} -> {LAB_KUBERNETES_VERSION} (1+2)",
            f"{took:.1f} s",
            f"{failed} of {total} requests failed",
        ]
    )
    print(render_table(["WHAT", "TIME", "NOTE"], rows))
    results.record("bench-day-two", {"table": results.table(["WHAT", "TIME", "NOTE"], rows)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
