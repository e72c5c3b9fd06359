"""A plan in Jupyter: for each chapter, each step that would change
something, with its files (a new file in full, a changed one as a diff,
folded and coloured by kind, each flag and field with its reason), the
commands k8sfs runs, and the commands a person checks it with. k8sfs's own
check scripts sit behind a fold; secrets show only a fingerprint."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from k8sfs.engine.plan import Change, StepPlan, file_content, rollout_order
from k8sfs.engine.step import MAIN, File, Upload
from k8sfs.explain import explain
from k8sfs.view.chapter import STYLE, _reasons_html, _typed
from k8sfs.view.files import FileView
from k8sfs.view.highlight import diff_html, highlight_html

if TYPE_CHECKING:
    from k8sfs.engine.plan import Plan

WHY = {"missing": "new", "content": "changed", "mode": "mode", "owner": "owner", "reissue": "reissued"}


def _change_html(sp: StepPlan, change: Change, values: dict[str, str]) -> str:
    step = sp.step
    items: list[File | Upload] = [*step.files, *step.uploads]
    item = next((f for f in items if f.path == change.path), None)
    text = file_content(step, change.path)
    found = explain(change.path, text, values) if values and isinstance(item, File) else None
    what = f" — {escape(found.what)}" if found and found.what else ""
    head = (
        f"<summary><code>{escape(change.path)}</code> <b>{escape(WHY.get(change.why, change.why))}</b>{what}</summary>"
    )
    if isinstance(item, File) and change.why == "missing" and text is not None:
        body = highlight_html(text, found.kind if found else "text")
    elif change.diff.startswith(("---", "@@")):
        body = diff_html(change.diff)
    elif change.diff:
        body = f"<p class='note'>{escape(change.diff)}</p>"
    elif isinstance(item, Upload):
        body = f"<p class='note'>binary or image from the controller, sha256:{escape(item.sha256[:16])}</p>"
    else:
        body = ""
    reasons = ""
    if found is not None:
        reasons = _reasons_html(FileView(change.path, [step.host], 0, text, explanation=found))
    return f"<details open>{head}{body}{reasons}</details>"


def _step_html(sp: StepPlan, values: dict[str, str]) -> str:
    step = sp.step
    hook = f" ({step.phase} {step.rollout_host}'s turn)" if step.phase != MAIN else ""
    out = [f"<h4>{escape(step.host)}: {escape(step.name)}{escape(hook)}</h4>"]
    if step.description:
        out.append(f"<p>{escape(step.description)}</p>")
    why = [r for r in sp.reasons() if not r.startswith(("missing ", "content ", "mode ", "owner ", "reissue "))]
    if why:
        out.append("<p class='note'>" + escape("; ".join(why)) + "</p>")
    out += [_change_html(sp, c, values) for c in sp.changes]
    if sp.commands:
        out.append("<p>k8sfs runs:</p>" + _typed(sp.commands))
    if step.by_hand:
        out.append("<p>Check it by hand on the host:</p>" + _typed(step.by_hand))
    internal = [(w, c) for w, c in (("check", step.check), ("verify", step.verify)) if c]
    if internal:
        from k8sfs import join_command

        folded = "\n\n".join(f"# {w}\n{join_command(c)}" for w, c in internal)
        out.append(
            "<details class='internal'><summary>how k8sfs checks (its own scripts)</summary>"
            f"<pre>{escape(folded)}</pre></details>"
        )
    return "".join(out)


def plan_html(plan: Plan) -> str:
    out = [STYLE, "<div class='k8sfs-chapter'>"]
    if plan.busy:
        out.append(f"<p class='note'>{escape(plan.busy)}; this plan may change under it</p>")
    out += [f"<p><b>note:</b> {escape(n)}</p>" for n in plan.notes]
    if plan.controller:
        heading = "made first on the controller" if plan.applied else "apply makes these first, on the controller"
        out.append(f"<p>{heading}:</p><ul>" + "".join(f"<li>{escape(line)}</li>" for line in plan.controller))
        out.append("</ul>")
    for chapter in plan.chapters:
        in_chapter = plan.in_chapter(chapter)
        if not in_chapter:
            continue
        todo = [s for s in in_chapter if s.changed]
        out.append(
            f"<h3>{escape(chapter.name)}: {len(todo)} of {len(in_chapter)} steps {plan._verb()}</h3>"
            f"<p>{escape(chapter.title)}</p>"
        )
        order = rollout_order(chapter, in_chapter)
        if order.turns:
            out.append("<p>rollout, one host at a time: " + escape(", then ".join("+".join(b) for b in order.turns)))
            out.append("</p>")
        out += [_step_html(sp, plan.doc_values) for sp in todo]
        ok = [f"{s.step.host}: {s.step.name}" for s in in_chapter if not s.changed and not s.skipped]
        if ok:
            out.append(f"<p class='note'>already as planned: {escape(', '.join(ok))}</p>")
        skipped = [s for s in in_chapter if s.skipped and s.step.host not in plan.unreachable]
        out += [
            f"<p class='note'>{escape(s.step.host)}: {escape(s.step.name)}: skipped ({escape(s.skipped)})</p>"
            for s in skipped
        ]
    out += [f"<p style='color:#c62828'>{escape(h)}: unreachable: {escape(e)}</p>" for h, e in plan.unreachable.items()]
    summary = f"{plan.changes} step(s) {plan._verb()}" if plan.changes else "no changes"
    out.append(f"<p><b>{escape(summary)}</b></p></div>")
    return "".join(out)
