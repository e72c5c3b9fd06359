"""make book: the walkthrough a person can read without a lab.

Runs every notebook top to bottom on a fresh lab of its own (nbclient, a
real kernel), keeps each executed notebook in docs/book/ (committed: a
reader browsing the repository sees every output and picture, and GitHub
renders them) and writes a static HTML book into build/book/ (nbconvert:
one page per notebook and an index). The time of each notebook goes to
results/book.json. The labs are removed at the end, also on failure.

    python3 scripts/book.py [--only 01-hosts ...] [--html-only]

--html-only converts the committed docs/book/ without running anything."""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BOOK = ROOT / "docs" / "book"
HTML = ROOT / "build" / "book"
# Labs of the book's own, on subnets no test uses.
LABS = {
    "K8SFS_LAB": ("k8sfsbk", "192.168.70.0/24", "K8SFS_LAB_SUBNET"),
    "K8SFS_HA_LAB": ("k8sfsbk6", "192.168.71.0/24", "K8SFS_HA_SUBNET"),
    "K8SFS_DAY2_LAB": ("k8sfsbk7", "192.168.75.0/24", "K8SFS_DAY2_SUBNET"),
}


def sources_digest(nb) -> str:
    """What the executed copy was made from: the notebook's cells, not their outputs."""
    h = hashlib.sha256()
    for c in nb.cells:
        h.update(c.cell_type.encode() + b"\0" + c.source.encode() + b"\0")
    return h.hexdigest()


def purge(name: str) -> None:
    from k8sfs.lab import Lab

    Lab(name=name).down(purge=True)  # nothing to do for a lab that is not there


def execute(path: Path) -> float:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    started = time.monotonic()
    NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    took = time.monotonic() - started
    nb.metadata["k8sfs"] = {"sources_sha256": sources_digest(nbformat.read(path, as_version=4)), "seconds": round(took)}
    BOOK.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, BOOK / path.name)
    return took


def to_html(names: list[str], out: Path = HTML) -> None:
    """docs/book/NAME.ipynb -> out/NAME.html, and out/index.html."""
    import nbformat
    from nbconvert import HTMLExporter

    out.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name="lab")
    links = []
    for name in names:
        nb = nbformat.read(BOOK / f"{name}.ipynb", as_version=4)
        body, _ = exporter.from_notebook_node(nb)
        (out / f"{name}.html").write_text(body)
        title = next((c.source.splitlines()[0].lstrip("# ") for c in nb.cells if c.cell_type == "markdown"), name)
        links.append(f"<li><a href='{escape(name)}.html'>{escape(title)}</a></li>")
    (out / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>k8sfs: the walkthrough</title></head>"
        "<body><h1>k8sfs: Kubernetes from scratch, one chapter at a time</h1><ol>"
        + "".join(links)
        + "</ol></body></html>\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="notebook names (stems) to run; default: all")
    parser.add_argument("--html-only", action="store_true", help="convert docs/book/ to HTML, run nothing")
    args = parser.parse_args()
    names = [p.stem for p in sorted(NOTEBOOKS.glob("*.ipynb")) if not args.only or p.stem in args.only]
    if not args.html_only:
        for variable, (name, subnet, subnet_variable) in LABS.items():
            os.environ[variable], os.environ[subnet_variable] = name, subnet
        times: dict[str, float] = {}
        began = time.monotonic()
        try:
            for name, *_ in LABS.values():
                purge(name)  # a fresh lab, as a reader's first run would have
            for stem in names:
                print(f"[book] {stem} ...", flush=True)
                times[stem] = execute(NOTEBOOKS / f"{stem}.ipynb")
                print(f"[book] {stem}: {times[stem]:.0f} s", flush=True)
        finally:
            for name, *_ in LABS.values():
                purge(name)
        from k8sfs import results

        first = [s for s in times if s[:2] in ("01", "02", "03", "04", "05")]
        results.record(
            "book",
            {
                "seconds": {s: round(t, 1) for s, t in times.items()},
                "first_five_seconds": round(sum(times[s] for s in first), 1),  # 01-05, on a fresh lab
                "all_seconds": round(sum(times.values()), 1),
                "book_minutes": round((time.monotonic() - began) / 60, 1),  # with the labs and the HTML
            },
            notes=["each notebook runs in a new kernel; 01 makes the lab, 06 and 07 make labs of their own"],
            command="make book",
        )
    to_html(names)
    print(f"[book] HTML in {HTML.relative_to(ROOT)}/index.html; executed notebooks in {BOOK.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
