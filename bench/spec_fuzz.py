#!/usr/bin/env python3
"""The spec loader fuzzed at length: --examples generated specs (10^5 by
default) through spec_from_dict; prints how many ran, how many were
refused with a SpecError, and the findings (anything else raised, or an
error that names no key path). Exit 1 on a finding."""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))

from hypothesis import HealthCheck, given, settings  # noqa: E402

from k8sfs.spec import SpecError, spec_from_dict  # noqa: E402
from spec_strategies import check_one, specs  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100_000)
    args = parser.parse_args()
    counts = {"ran": 0, "refused": 0}

    @settings(max_examples=args.examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(specs)
    def run(data: object) -> None:
        counts["ran"] += 1
        try:
            spec_from_dict(data)
        except SpecError:
            counts["refused"] += 1
        check_one(data)

    started = time.monotonic()
    try:
        run()
        findings = 0
    except AssertionError as error:
        print(f"finding: {error}")
        findings = 1
    took = time.monotonic() - started
    print(
        f"{counts['ran']} specs in {took:.0f} s: {counts['refused']} refused with a "
        f"SpecError naming the key, {counts['ran'] - counts['refused']} accepted, {findings} finding(s)"
    )
    from k8sfs import results

    results.record(
        "fuzz-spec",
        {
            "specs": counts["ran"],
            "refused": counts["refused"],
            "accepted": counts["ran"] - counts["refused"],
            "findings": findings,
            "seconds": round(took),
        },
        peers={"hypothesis": importlib.metadata.version("hypothesis")},
    )
    return findings


if __name__ == "__main__":
    sys.exit(main())
