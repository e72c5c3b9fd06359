"""`k8sfs plan|apply|chapters`: the main workflow on a spec's hosts or the lab."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from k8sfs import chapters as chapters_mod
from k8sfs.table import render_table


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def open_cluster(args):
    """The Cluster for --lab NAME or --spec FILE (the walkthrough's defaults without either)."""
    from k8sfs.cluster import Cluster

    state = Path(args.state) if args.state else None
    if args.lab and args.spec:
        raise ValueError("give --spec or --lab, not both (--lab uses the lab's hosts as the spec)")
    if args.lab:
        from k8sfs.lab import Lab

        lab = Lab(name=args.lab, subnet=args.subnet)
        if not lab.known_hosts_path.exists():
            raise ValueError(f"lab {lab.name} is not up: k8sfs lab up --lab {lab.name}")
        return Cluster.for_lab(lab, state_dir=state, progress=_progress)
    import k8sfs
    from k8sfs.spec import load_spec

    spec = load_spec(args.spec)

    def connect(name: str):
        h = spec.host(name)
        return k8sfs.Session(h.name, hostname=h.address, user=h.user, port=h.port)
    return Cluster(spec, connect, state_dir=state, progress=_progress)


def cmd_plan(args) -> int:
    with open_cluster(args) as cluster:
        plan = cluster.plan(args.only, args.until)
    print(plan.render())
    if plan.errors:
        return 1
    return 2 if args.detailed_exitcode and plan.changes else 0


def cmd_apply(args) -> int:
    started = time.monotonic()
    with open_cluster(args) as cluster:
        done = cluster.apply(args.only, args.until)
    rows = [[sp.step.host, sp.step.chapter, sp.step.name, "changed" if sp.changed else "ok"] for sp in done.steps]
    print(render_table(["HOST", "CHAPTER", "STEP", "RESULT"], rows))
    print(f"\n{done.changes} of {len(done.steps)} steps changed something; {time.monotonic() - started:.1f}s",
          file=sys.stderr)
    return 0


def cmd_chapters(args) -> int:
    print(render_table(["CHAPTER", "WHAT"], [[n, d] for n, (_f, d) in chapters_mod.CHAPTERS.items()]))
    return 0


def add_parsers(sub) -> None:
    def common(p):
        p.add_argument("--spec", metavar="FILE", help="cluster spec (YAML/JSON); default: the walkthrough's hosts")
        p.add_argument("--lab", metavar="NAME", help="the hosts of this local lab (k8sfs lab up)")
        p.add_argument("--subnet", default="192.168.50.0/24", metavar="CIDR", help="the lab's subnet")
        p.add_argument("--state", metavar="DIR", help="controller state: logs, journal (default: per cluster)")
        p.add_argument("--only", action="append", metavar="CHAPTER", help="only this chapter (repeatable)")
        p.add_argument("--until", metavar="CHAPTER", help="every chapter up to and including this one")

    p = sub.add_parser("plan", help="what apply would change, per host and chapter, with file diffs; changes nothing",
                       description="Check every host (one round trip per host) and print, per chapter and host, the "
                                   "files that would change (unified diffs; secrets never shown) and the commands "
                                   "that would run.")
    common(p)
    p.add_argument("--detailed-exitcode", action="store_true",
                   help="exit 0 when nothing would change, 2 when something would, 1 on errors (as terraform plan)")
    p.set_defaults(func=cmd_plan)
    p = sub.add_parser("apply", help="make the hosts match the spec, chapter by chapter",
                       description="Apply the chapters in order; within a chapter all hosts at once. Only what "
                                   "differs is changed; each step is verified. Logs: <state>/logs/<host>.log.")
    common(p)
    p.set_defaults(func=cmd_apply)
    p = sub.add_parser("chapters", help="the chapters, in order")
    p.set_defaults(func=cmd_chapters)
