#!/usr/bin/env python3
"""Benchmark: how apply and plan grow with the number of workers, in one run.

For each N (default 2, 5, 10, 20; as far as memory allows), a lab of its own
with one control plane and N workers, artifacts cached:

- cold apply (new hosts to the smoke test);
- unchanged re-apply;
- plan;
- the controller's CPU time for the cold apply (k8sfs's process and its
  children) and the bytes it sent to the lab (the lab bridge's tx counter;
  what the hosts send each other with --relay-uploads is not counted).

Ratios are to N = 2, so the growth shows whatever the machine's speed.

    python bench/scale.py [--workers 2,5,10,20] [--relay-uploads]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

from k8sfs import results
from k8sfs.lab import Lab
from k8sfs.table import render_table


def k8sfs(*args: str, timeout: float = 3600) -> float:
    """Seconds the command took; fails loudly."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "k8sfs.cli", *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode not in (0, 2):
        raise SystemExit(f"k8sfs {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return time.monotonic() - started


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tx_bytes(bridge: str) -> int:
    return int(Path(f"/sys/class/net/{bridge}/statistics/tx_bytes").read_text())


def free_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="2,5,10,20")
    parser.add_argument("--lab", default="k8sfssc")
    parser.add_argument("--subnet", default="192.168.73.0/24")
    parser.add_argument("--gib-per-worker", type=float, default=0.6, help="stop before a size that needs more")
    parser.add_argument(
        "--relay-uploads", action="store_true", help="the cold apply with --relay-uploads (hosts pass binaries on)"
    )
    args = parser.parse_args()
    relay = ["--relay-uploads"] if args.relay_uploads else []
    rows = []
    base = None
    for n in [int(x) for x in args.workers.split(",")]:
        if free_gib() < n * args.gib_per_worker + 2:
            print(f"[scale] stopping before N={n}: {free_gib():.1f} GiB available", file=sys.stderr)
            break
        lab_args = ["--lab", args.lab, "--subnet", args.subnet]
        try:
            k8sfs("lab", "up", *lab_args, "--workers", str(n))
            bridge = Lab(name=args.lab).bridge
            cpu, sent = children_cpu(), tx_bytes(bridge)
            cold = k8sfs("apply", *lab_args, *relay)
            cpu, sent = children_cpu() - cpu, tx_bytes(bridge) - sent
            again = k8sfs("apply", *lab_args)
            plan = k8sfs("plan", *lab_args)
        finally:
            k8sfs("lab", "down", *lab_args, "--purge")
        row = (n, cold, again, plan, cpu, sent / 2**20)
        base = base or row
        rows.append(
            [
                n,
                f"{cold:.0f} ({cold / base[1]:.2f}x)",
                f"{again:.1f} ({again / base[2]:.2f}x)",
                f"{plan:.1f} ({plan / base[3]:.2f}x)",
                f"{cpu:.0f} ({cpu / base[4]:.2f}x)",
                f"{sent / 2**20:.0f} ({row[5] / base[5]:.2f}x)",
            ]
        )
        print(f"[scale] N={n}: cold {cold:.0f} s, re-apply {again:.1f} s, plan {plan:.1f} s", file=sys.stderr)
    how = ", binaries passed on between hosts (--relay-uploads)" if relay else ""
    print(f"\n1 control plane + N workers, artifacts cached{how}; in brackets: ratio to the first N")
    print(render_table(["N", "COLD APPLY s", "RE-APPLY s", "PLAN s", "CONTROLLER CPU s", "SENT MiB"], rows))
    results.record(
        "bench-scale",
        {"table": results.table(["N", "COLD APPLY s", "RE-APPLY s", "PLAN s", "CONTROLLER CPU s", "SENT MiB"], rows)},
        notes=[f"1 control plane + N workers, artifacts cached{how}; in brackets: ratio to the first N"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
