#!/usr/bin/env python3
"""The version matrix (make test-versions): for each Kubernetes version and
runtime, a lab cluster of its own from scratch through the smoke test, then
torn down. Prints one table: version x runtime x result x bring-up time
(artifact builds are timed apart: they are cached after the first run).

    python3 scripts/version-matrix.py [--only v1.21.6] [--keep-going]

A row that cannot run says why in RESULT (the build that failed and the
tail of its log, or the step that failed). Exit 1 when any row failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass
class Row:
    version: str
    runtime: str
    why: str  # what the row proves
    lab: str
    subnet: str


ROWS = [
    Row("v1.21.6", "containerd", "the walkthrough's Kubernetes (etcd 3.5.1)", "k8sfsv1", "192.168.101.0/24"),
    Row("v1.21.6", "crio", "the walkthrough's stack: CRI-O 1.21", "k8sfsv2", "192.168.102.0/24"),
    Row("v1.28.15", "containerd", "a mid version", "k8sfsv3", "192.168.103.0/24"),
    Row("v1.34.4", "containerd", "the lab's version (also in make test)", "k8sfsv4", "192.168.104.0/24"),
    Row("v1.34.4", "crio", "CRI-O 1.34 (also in make test)", "k8sfsv5", "192.168.105.0/24"),
    Row(
        "v1.37.2",
        "containerd",
        "the newest: containerd 2 (k8sfs's build), cgroup v1 allowed",
        "k8sfsv6",
        "192.168.106.0/24",
    ),
]


def k8sfs(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "k8sfs.cli", *args], capture_output=True, text=True, timeout=timeout)


def tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def run_row(row: Row) -> tuple[str, str, str]:
    """(result, build seconds, bring-up seconds)"""
    started = time.monotonic()
    got = k8sfs("artifacts", "get", "--version", row.version, "--runtime", row.runtime)
    built = f"{time.monotonic() - started:.0f}"
    if got.returncode != 0:
        return f"artifacts failed: {tail(got.stderr)}", built, "-"
    lab = ["--lab", row.lab, "--subnet", row.subnet]
    started = time.monotonic()
    try:
        up = k8sfs("lab", "up", *lab, "--version", row.version, "--runtime", row.runtime)
        if up.returncode != 0:
            return f"lab up failed: {tail(up.stderr)}", built, "-"
        applied = k8sfs("apply", *lab)
        took = f"{time.monotonic() - started:.0f}"
        if applied.returncode != 0:
            return f"apply failed: {tail(applied.stderr)}", built, took
        return "smoke test passed", built, took
    finally:
        k8sfs("lab", "down", *lab, "--purge")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", metavar="VERSION", help="only rows of this version (repeatable)")
    args = parser.parse_args()
    from k8sfs.table import render_table

    rows = [r for r in ROWS if not args.only or r.version in args.only]
    results = []
    for row in rows:
        print(f"[matrix] {row.version} {row.runtime}: {row.why}", file=sys.stderr, flush=True)
        result, built, took = run_row(row)
        print(f"[matrix] {row.version} {row.runtime}: {result} ({took} s)", file=sys.stderr, flush=True)
        results.append([row.version, row.runtime, result, built, took, row.why])
    print(render_table(["VERSION", "RUNTIME", "RESULT", "BUILD S", "BRING-UP S", "WHY THIS ROW"], results))
    if not args.only:  # a whole matrix is what the README quotes
        from k8sfs import results as result_files

        result_files.record(
            "version-matrix",
            {
                "table": result_files.table(
                    ["VERSION", "RUNTIME", "RESULT", "BUILD S", "BRING-UP S", "WHY THIS ROW"], results
                )
            },
            command="make test-versions",
        )
    return 0 if all(r[2] == "smoke test passed" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
