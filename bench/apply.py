#!/usr/bin/env python3
"""Benchmark: the whole lab cluster from scratch up to kubectl and the
nodes registered (cold apply: every file, binary and service), then the
unchanged re-apply (checks only), on a lab of its own. The cold apply's
timeline is printed per chapter (when it started and ended after the
apply began, and each host's busy seconds in it), and drawn with --svg;
its CPU seconds per host (the lab's cgroups) show how close the apply is
to what the machine's cores allow.

    python bench/apply.py [--reapply N] [--svg FILE] [--steps]

Artifacts must be cached (make artifacts). Times are wall clock, medians
for the re-apply; this machine is noisy. No peer tool does the same job
here (kubeadm needs a registry for its images), so there is no ratio.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from k8sfs import pictures, results
from k8sfs.cluster import Cluster
from k8sfs.lab import Lab
from k8sfs.pictures import last_apply
from k8sfs.table import render_table


def chapter_timeline(record: dict) -> str:
    """One row per chapter: its span from the apply's start, and per host the
    seconds its steps worked; the gaps between spans are the wait for every
    host to finish the chapter before (the barrier)."""
    start = record["started"]
    hosts = list(dict.fromkeys(s["host"] for s in record["steps"]))
    rows = []
    for chapter in dict.fromkeys(s["chapter"] for s in record["steps"]):
        ran = [s for s in record["steps"] if s["chapter"] == chapter and s.get("ended", 0) > s.get("started", 0)]
        if not ran:
            continue
        busy = {h: sum(s["ended"] - s["started"] for s in ran if s["host"] == h) for h in hosts}
        first, last = min(s["started"] for s in ran) - start, max(s["ended"] for s in ran) - start
        cells = [f"{busy[h]:.1f}" if busy[h] else "-" for h in hosts]
        rows.append([chapter, f"{first:.1f}", f"{last:.1f}", f"{last - first:.1f}", *cells])
    rows.append(["(whole apply)", "0.0", f"{record['ended'] - start:.1f}", f"{record['ended'] - start:.1f}"])
    rows[-1] += [""] * len(hosts)
    return render_table(["CHAPTER", "FROM S", "TO S", "SPAN S", *(f"{h} S" for h in hosts)], rows)


def step_timeline(record: dict) -> str:
    """One row per step that worked, in the order they started: where the
    critical path goes when a chapter's span is longer than its work."""
    start = record["started"]
    ran = [s for s in record["steps"] if s.get("ended", 0) > s.get("started", 0)]
    rows = [
        [s["host"], s["chapter"], s["step"], f"{s['started'] - start:.1f}", f"{s['ended'] - s['started']:.1f}"]
        for s in sorted(ran, key=lambda s: s["started"])
    ]
    return render_table(["HOST", "CHAPTER", "STEP", "FROM S", "TOOK S"], rows)


def cpu_now(lab: Lab) -> dict[str, float]:
    """CPU seconds so far: the machine's (every core), this process's, each host's."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    busy = (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"(machine)": busy, "(controller)": usage.ru_utime + usage.ru_stime, **lab.cpu_seconds()}


def cpu_budget(before: dict[str, float], after: dict[str, float], wall: float) -> str:
    """Where the cold apply's CPU went. With every core busy, the apply can
    be no shorter than the machine's CPU seconds over the core count."""
    cores = os.cpu_count() or 1
    rows = [[name, f"{after[name] - before[name]:.1f}"] for name in after if name in before]
    rows.append([f"(what {cores} cores could give in {wall:.1f} s)", f"{cores * wall:.1f}"])
    return render_table(["WHERE", "CPU S"], rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reapply", type=int, default=5)
    parser.add_argument("--svg", metavar="FILE", help="also draw the cold apply's timeline here")
    parser.add_argument("--steps", action="store_true", help="also print the cold apply step by step")
    args = parser.parse_args()
    timeline = budget = ""
    lab = Lab(name="k8sfsb", subnet="192.168.76.0/24", progress=lambda m: None)
    rows = []
    try:
        start = time.perf_counter()
        lab.up()
        rows.append(["lab up (3 hosts, image cached)", f"{time.perf_counter() - start:.1f} s"])
        with tempfile.TemporaryDirectory() as state:
            with Cluster.for_lab(lab, state_dir=Path(state)) as cluster:
                before = cpu_now(lab)
                start = time.perf_counter()
                done = cluster.apply()
                budget = cpu_budget(before, cpu_now(lab), time.perf_counter() - start)
                record = last_apply(Path(state))
                timeline = chapter_timeline(record)
                if args.steps:
                    timeline += "\n\nThe cold apply step by step:\n" + step_timeline(record)
                if args.svg:
                    print(f"wrote {pictures.timeline(record).save(Path(args.svg))}", file=sys.stderr)
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
    results.record(
        "bench-apply",
        {"table": results.table(["WHAT", "TIME"], rows)},
        notes=["the walkthrough's 3 hosts on the lab, artifacts cached; `Cluster.apply()` in process"],
    )
    print("\nThe cold apply's CPU (each host: its systemd, services and commands over SSH):\n" + budget)
    print("\nThe cold apply per chapter:\n" + timeline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
