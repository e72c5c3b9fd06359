#!/usr/bin/env python3
"""The figures the README and docs quote, rendered from the result files
in results/ (python/k8sfs/results.py), so that no figure is typed by hand.

A quoted block in a Markdown file is

    <!-- figures NAME -->            a table from results/NAME.json
    <!-- figures NAME: TEMPLATE -->  a line: TEMPLATE with the result's figures
    ...what this script writes...
    <!-- /figures -->

and each ends with where it came from (the command, commit, date and
machine). TEMPLATE takes {key} and {key:.1f} for the result's figures,
and {measured[what]} for a figure a test suite measured.

    scripts/figures.py          rewrite every block from its result file
    scripts/figures.py --check  exit 1 and name the blocks that differ (a
                                figure typed by hand, or a result file that
                                changed without the docs)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- figures ([a-z0-9-]+)(?:: (.*?))? -->\n)(.*?)(<!-- /figures -->)", re.DOTALL)


def provenance(result: dict) -> str:
    m = result["machine"]
    return (
        f"<sub>results/{result['name']}.json: `{result['command']}`, commit {result['commit'][:10]}, "
        f"{result['date'][:10]}, {m['cores']} cores, {round(m['memory_mib'] / 1024)} GiB</sub>"
    )


def render(name: str, template: str | None, results: Path) -> str:
    path = results / f"{name}.json"
    if not path.exists():
        raise KeyError(f"results/{name}.json does not exist")
    result = json.loads(path.read_text())
    figures = result["figures"]
    if template:
        try:
            text = template.format(**figures)
        except (KeyError, IndexError) as missing:
            raise KeyError(f"results/{name}.json has no figure {missing}") from None
        return f"{text}\n{provenance(result)}\n"
    table = figures.get("table")
    if not table:
        raise KeyError(f"results/{name}.json has no table; give the block a template")
    lines = ["| " + " | ".join(table["headers"]) + " |", "|" + "---|" * len(table["headers"])]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in table["rows"]]
    notes = [f"- {note}" for note in result.get("notes", [])]
    return "\n".join(lines) + "\n\n" + ("\n".join(notes) + "\n\n" if notes else "") + provenance(result) + "\n"


def rewrite(text: str, results: Path, problems: list[str], where: str) -> str:
    def one(match: re.Match) -> str:
        head, name, template, body, tail = match.groups()
        try:
            rendered = render(name, template, results)
        except KeyError as error:
            problems.append(f"{where}: figures {name}: {error.args[0]}")
            return match.group(0)
        if rendered != body:
            problems.append(f"{where}: figures {name}: the text differs from what results/{name}.json gives")
        return head + rendered + tail

    return BLOCK.sub(one, text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a block differs")
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    args = parser.parse_args()
    problems: list[str] = []
    for document in DOCUMENTS:
        path = ROOT / document
        text = path.read_text()
        found: list[str] = []
        new = rewrite(text, args.results, found, document)
        if args.check:
            problems += found
        else:
            problems += [p for p in found if "differs" not in p]
            if new != text:
                path.write_text(new)
                print(f"{document}: figures rewritten")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
