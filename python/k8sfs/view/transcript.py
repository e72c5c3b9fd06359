"""Commands a person typed on the hosts and what they printed, in order:
the walkthrough's "check it by hand" cells. HTML in Jupyter, text elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

# Output is columns (crictl, kubectl): monospace, whatever the page's own
# stylesheet says about <pre> inside HTML outputs (nbconvert's does not).
PRE = (
    "white-space:pre-wrap;font-size:12px;background:#f6f8fa;padding:.4em;margin:.2em 0;"
    "font-family:ui-monospace,Menlo,Consolas,'DejaVu Sans Mono',monospace"
)


@dataclass
class Transcript:
    entries: list[Any] = field(default_factory=list)  # CommandResult: where, command, exit_code, stdout, stderr

    @property
    def ok(self) -> bool:
        return all(e.ok for e in self.entries)

    def __str__(self) -> str:
        out = []
        for e in self.entries:
            out.append(f"{e.where}$ {e.command}")
            out += [line for line in (e.stdout + e.stderr).rstrip("\n").splitlines()]
            if e.exit_code:
                out.append(f"(exit {e.exit_code})")
        return "\n".join(out)

    def __repr__(self) -> str:  # Jupyter's text/plain beside the HTML
        return str(self)

    def _repr_html_(self) -> str:
        blocks = []
        for e in self.entries:
            status = "" if e.ok else f"<span style='color:#c62828'> (exit {e.exit_code})</span>"
            text = escape((e.stdout + e.stderr).rstrip("\n"))
            blocks.append(
                f"<div style='margin:.4em 0'><code style='color:#555'>{escape(e.where)}$ "
                f"<b>{escape(e.command)}</b></code>{status}"
                f'<pre style="{PRE}">'
                f"{text}</pre></div>"
            )
        return "".join(blocks)
