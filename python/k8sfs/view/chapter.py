"""A chapter as the walkthrough shows it: what it writes on which host,
each file in full with a reason for every flag and field, the commands
k8sfs runs, and the commands a person types to check it. k8sfs's own
check scripts sit behind a fold. HTML in Jupyter, text in a terminal
(`k8sfs explain CHAPTER`)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from html import escape

from k8sfs.view.files import FileView, StepView, UploadView
from k8sfs.view.highlight import highlight_html

STYLE = """<style>
.k8sfs-chapter{font-family:system-ui,sans-serif;max-width:100%}
.k8sfs-chapter h4{margin:1em 0 .3em}
.k8sfs-chapter .where{color:#555;font-weight:normal}
.k8sfs-chapter details{margin:.3em 0 .6em 0;border-left:3px solid #d0d7de;padding-left:.6em}
.k8sfs-chapter summary{cursor:pointer}
.k8sfs-chapter pre{white-space:pre-wrap;word-break:break-word;font-size:12px;
  font-family:ui-monospace,Menlo,Consolas,"DejaVu Sans Mono",monospace;
  background:#f6f8fa;padding:.5em;margin:.3em 0}
.k8sfs-chapter table.reasons{border-collapse:collapse;font-size:12px;width:100%;table-layout:fixed}
.k8sfs-chapter table.reasons td,.k8sfs-chapter table.reasons th{border:1px solid #d0d7de;
  padding:3px 5px;vertical-align:top;text-align:left;word-break:break-word}
.k8sfs-chapter table.reasons col.key{width:22%}.k8sfs-chapter table.reasons col.value{width:23%}
.k8sfs-chapter .typed{background:#0d1117;color:#e6edf3}
.k8sfs-chapter .internal pre{color:#555}
.k8sfs-chapter .note{color:#555;font-style:italic}
</style>"""


def _hosts(hosts: list[str]) -> str:
    return ", ".join(hosts)


def _reasons_html(f: FileView) -> str:
    e = f.explanation
    if e is None or not e.reasons:
        return ""
    rows = "".join(
        f"<tr><td><code>{escape(r.key)}</code></td><td><code>{escape(r.value)}</code></td>"
        f"<td>{escape(r.what)}.<br><i>Why:</i> {escape(r.why)}.</td>"
        f"<td><a href='{escape(r.ref)}'>reference</a></td></tr>"
        for r in e.reasons
    )
    return (
        "<table class='reasons'><colgroup><col class='key'><col class='value'><col><col style='width:9%'></colgroup>"
        "<tr><th>flag or field</th><th>value</th><th>what it does, and why this value</th><th>docs</th></tr>"
        f"{rows}</table>"
    )


def file_html(f: FileView, open_: bool = True) -> str:
    e = f.explanation
    what = f" — {escape(e.what)}" if e and e.what else ""
    ref = f" (<a href='{escape(e.ref)}'>reference</a>)" if e and e.ref else ""
    body = highlight_html(f.text, f.kind) if f.text is not None else f"<p class='note'>{escape(f.note)}</p>"
    return (
        f"<details{' open' if open_ else ''}><summary><code>{escape(f.path)}</code> "
        f"<span class='where'>on {escape(_hosts(f.hosts))}, mode {f.mode:o}</span>{what}{ref}</summary>"
        f"{body}{_reasons_html(f)}</details>"
    )


def _typed(commands: list[str]) -> str:
    return "<pre class='typed'>" + escape("\n".join(f"$ {c}" for c in commands)) + "</pre>"


def step_html(s: StepView) -> str:
    out = [f"<h4>{escape(s.label)} <span class='where'>on {escape(_hosts(s.hosts))}</span></h4>"]
    if s.description:
        out.append(f"<p>{escape(s.description)}</p>")
    out += [file_html(f, open_=f.text is not None and len(s.files) <= 3) for f in s.files]
    if s.uploads:
        out.append("<p>Binaries and images from the controller:</p><ul>")
        out += [f"<li><code>{escape(u.path)}</code>: {escape(u.what)}</li>" for u in s.uploads]
        out.append("</ul>")
    if s.commands:
        out.append("<p>Then k8sfs runs:</p>" + _typed(s.commands))
    if s.by_hand:
        out.append("<p>Check it by hand on the host:</p>" + _typed(s.by_hand))
    if s.internal:
        folded = "\n\n".join(f"# {what}\n{command}" for what, command in s.internal)
        out.append(
            "<details class='internal'><summary>how k8sfs checks (its own scripts)</summary>"
            f"<pre>{escape(folded)}</pre></details>"
        )
    return "".join(out)


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, 100, initial_indent=indent, subsequent_indent=indent) or [indent]


def step_text(s: StepView, explain: bool = True, contents: bool = True) -> list[str]:
    out = [f"-- {s.label} on {_hosts(s.hosts)}" + (f": {s.description}" if s.description else "")]
    for f in s.files:
        e = f.explanation
        out.append(f"  {f.path} (mode {f.mode:o})" + (f": {e.what}" if e and e.what else ""))
        if contents and f.text is not None:
            out += ["    | " + line for line in f.text.rstrip("\n").splitlines()]
        elif f.note:
            out.append(f"    ({f.note})")
        if explain and e is not None:
            for r in e.reasons:
                out.append(f"    {r.key}={r.value}" if r.value else f"    {r.key}")
                out += _wrap(f"{r.what}; why: {r.why} <{r.ref}>", "        ")
    for u in s.uploads:
        out.append(f"  {u.path}: {u.what}")
    out += [f"  run      {c}" for c in s.commands]
    out += [f"  by hand  {c}" for c in s.by_hand]
    return out


@dataclass
class ChapterView:
    name: str
    title: str
    steps: list[StepView]

    def _repr_html_(self) -> str:
        if not self.steps:
            return f"<p>Chapter <b>{escape(self.name)}</b> has nothing to do on these hosts.</p>"
        body = "".join(step_html(s) for s in self.steps)
        return f"{STYLE}<div class='k8sfs-chapter'><p><b>{escape(self.name)}</b>: {escape(self.title)}</p>{body}</div>"

    def render(self, explain: bool = True, contents: bool = True) -> str:
        out = [f"== {self.name}: {self.title}"]
        for s in self.steps:
            out += step_text(s, explain, contents)
        return "\n".join(out)

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:  # Jupyter's text/plain beside the HTML
        return self.render()

    def files(self) -> list[FileView]:
        return [f for s in self.steps for f in s.files]

    def uploads(self) -> list[UploadView]:
        return [u for s in self.steps for u in s.uploads]
