#!/usr/bin/env python3
"""Benchmark: what the add-ons cost, in one run. The walkthrough's lab
(1 control plane, 2 workers) is made twice, without add-ons and with every
one, artifacts cached:

- cold apply (new hosts to the last chapter), and its difference;
- each host's resident memory a while after the apply (its processes,
  pods included; shared pages count twice), and its difference.

    python bench/addons.py [--settle 60]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from k8sfs import results
from k8sfs.addons import ADDONS
from k8sfs.lab import Lab
from k8sfs.table import render_table


def k8sfs(*args: str, timeout: float = 1800) -> float:
    """Seconds the command took; fails loudly."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "k8sfs.cli", *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"k8sfs {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return time.monotonic() - started


def one_lab(lab_args: list[str], addons: list[str], settle: float) -> tuple[float, dict[str, int]]:
    try:
        k8sfs("lab", "up", *lab_args, "--addons", ",".join(addons))
        cold = k8sfs("apply", *lab_args)
        time.sleep(settle)  # metrics-server's first scrapes, the provisioner's caches
        memory = Lab(name=lab_args[1]).rss_bytes()
    finally:
        k8sfs("lab", "down", *lab_args, "--purge")
    return cold, memory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", default="k8sfsad")
    parser.add_argument("--subnet", default="192.168.74.0/24")
    parser.add_argument("--settle", type=float, default=60, help="seconds between the apply and reading memory")
    args = parser.parse_args()
    lab_args = ["--lab", args.lab, "--subnet", args.subnet]
    everything = list(ADDONS)
    without, with_all = one_lab(lab_args, [], args.settle), one_lab(lab_args, everything, args.settle)
    mib = 2**20
    rows = [["cold apply, s", f"{without[0]:.1f}", f"{with_all[0]:.1f}", f"{with_all[0] - without[0]:+.1f}"]]
    for host in sorted(without[1]):
        before, after = without[1][host] / mib, with_all[1].get(host, 0) / mib
        rows.append([f"{host} resident memory, MiB", f"{before:.0f}", f"{after:.0f}", f"{after - before:+.0f}"])
    header = ["", "NO ADD-ONS", f"ADD-ONS ({', '.join(everything)})", "DIFFERENCE"]
    note = f"1 control plane + 2 workers, artifacts cached; memory read {args.settle:.0f} s after the apply"
    print(f"\n{note}")
    print(render_table(header, rows))
    results.record("bench-addons", {"table": results.table(header, rows)}, notes=[note])
    return 0


if __name__ == "__main__":
    sys.exit(main())
