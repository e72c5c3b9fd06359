"""The figures the README and docs quote come from result files
(scripts/figures.py): every quoted block is what its result file gives,
and a figure typed by hand, or one no result file holds, fails."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _figures():
    spec = importlib.util.spec_from_file_location("figures", ROOT / "scripts" / "figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_quoted_figure_is_what_its_result_file_gives():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "figures.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def _result(tmp_path: Path) -> Path:
    from k8sfs.results import machine

    results = tmp_path / "results"
    results.mkdir()
    entry = {
        "name": "bench-x",
        "command": "python bench/x.py",
        "commit": "0123456789abcdef",
        "date": "2026-12-07T10:00:00Z",
        "machine": machine(),
        "peers": {},
        "notes": ["k8sfs in process; the peer as a process"],
        "figures": {"minutes": 3.25, "table": {"headers": ["A", "B"], "rows": [["x", "2.0x"]]}},
    }
    (results / "bench-x.json").write_text(json.dumps(entry))
    return results


def test_a_figure_typed_by_hand_or_missing_from_the_results_fails(tmp_path):
    figures = _figures()
    results = _result(tmp_path)
    problems: list[str] = []
    fresh = figures.rewrite(
        "<!-- figures bench-x: took {minutes:.1f} min -->\n<!-- /figures -->", results, problems, "d"
    )
    assert problems == ["d: figures bench-x: the text differs from what results/bench-x.json gives"]
    assert "took 3.2 min\n<sub>results/bench-x.json: `python bench/x.py`, commit 0123456789" in fresh
    problems = []
    assert figures.rewrite(fresh, results, problems, "d") == fresh and problems == []  # rendered: it holds
    problems = []
    figures.rewrite(fresh.replace("3.2 min", "2.9 min"), results, problems, "d")  # typed by hand
    assert problems and "differs" in problems[0]
    problems = []
    figures.rewrite("<!-- figures bench-x: {seconds} s -->\n<!-- /figures -->", results, problems, "d")
    assert problems == ["d: figures bench-x: results/bench-x.json has no figure 'seconds'"]
    problems = []
    figures.rewrite("<!-- figures bench-y -->\n<!-- /figures -->", results, problems, "d")
    assert problems == ["d: figures bench-y: results/bench-y.json does not exist"]
    table = figures.rewrite("<!-- figures bench-x -->\n<!-- /figures -->", results, [], "d")
    assert "| A | B |\n|---|---|\n| x | 2.0x |\n\n- k8sfs in process; the peer as a process\n" in table
