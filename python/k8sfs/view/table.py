"""A table that Jupyter shows as HTML (columns wrap, the page never
overflows) and a terminal or print() shows as aligned text."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from k8sfs.table import render_table


@dataclass
class Table:
    headers: list[str]
    rows: list[list[object]]

    def __str__(self) -> str:
        return render_table(self.headers, [[str(c) for c in row] for row in self.rows])

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{escape(h)}</th>" for h in self.headers)
        body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in self.rows)
        return (
            "<table class='k8sfs-table' style='border-collapse:collapse;font-size:12px;table-layout:auto;"
            "word-break:break-word'>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )
