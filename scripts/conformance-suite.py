#!/usr/bin/env python3
"""The whole [Conformance] suite (make conformance): a lab cluster of its
own from scratch (the walkthrough's 1 control plane + 2 workers), then
`k8sfs verify conformance --parallel N` over every [Conformance] spec,
then the lab torn down, also when something failed.

    python3 scripts/conformance-suite.py [--parallel 4] [--out DIR]

The report (JUnit and JSON, each spec with its first failure line) is
written to DIR (default ./conformance-results); the summary table and each
failure are printed. Exit 0 when every spec passed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

LAB = ["--lab", "k8sfscs", "--subnet", "192.168.96.0/24"]


def k8sfs(*args: str, timeout: float = 4 * 3600, quiet: bool = False) -> int:
    out = subprocess.DEVNULL if quiet else None
    return subprocess.run([sys.executable, "-m", "k8sfs.cli", *args], timeout=timeout, stdout=out).returncode


def record(report_path: Path) -> None:
    """results/conformance.json: the counts of the run (what the README quotes)."""
    if not report_path.exists():
        return
    from k8sfs import results

    report = json.loads(report_path.read_text())
    counts = {status: sum(1 for r in report["results"] if r["status"] == status) for status in ("passed", "failed")}
    results.record(
        "conformance",
        {
            "version": report["version"],
            "specs": len(report["results"]),
            **counts,
            "failed specs": [r["name"] for r in report["results"] if r["status"] == "failed"],
            "minutes": round(report["seconds"] / 60),
        },
        command="make conformance",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parallel", type=int, default=4, metavar="N", help="e2e.test processes (default 4)")
    parser.add_argument("--out", default="conformance-results", metavar="DIR", help="where the report goes")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        if k8sfs("lab", "up", *LAB) != 0 or k8sfs("apply", *LAB, quiet=True) != 0:
            print("conformance-suite: the lab cluster did not come up (see above)", file=sys.stderr)
            return 1
        print(f"conformance-suite: cluster up in {time.monotonic() - started:.0f} s", file=sys.stderr)
        report = ["--json", str(out / "conformance.json"), "--junit", str(out / "junit.xml")]
        code = k8sfs("verify", "conformance", *LAB, "--parallel", str(args.parallel), *report)
        record(out / "conformance.json")
        return code
    finally:
        k8sfs("lab", "down", *LAB, "--purge", quiet=True)
        print(f"conformance-suite: {time.monotonic() - started:.0f} s in all; report in {out}/", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
