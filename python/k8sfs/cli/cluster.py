"""`k8sfs plan|apply|status|picture|verify|chapters|explain|init|spec|
spec-schema|kubectl|kubeconfig|etcd|node|reset`: the main workflow and the
day-two operations on a spec's hosts or a lab's."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from k8sfs import chapters as chapters_mod
from k8sfs.cli.target import (
    add_spec_shorthands,
    add_target_options,
    open_cluster,
    print_spec,
    shorthands_given,
    spec_from_args,
    state_dir,
    target_spec,
)
from k8sfs.spec import WALKTHROUGH_SUBNET
from k8sfs.table import render_table

if TYPE_CHECKING:
    from k8sfs.cluster import Cluster


def cmd_plan(args: argparse.Namespace) -> int:
    with open_cluster(args, "plan") as cluster:
        plan = cluster.plan(args.only, args.until, args.limit, args.exclude, args.allow_downgrade)
    print(plan.render(diff=args.diff, explain=args.explain))
    soon = _warn_expiring(cluster)
    if plan.unreachable:
        return 1
    if not args.detailed_exitcode:
        return 0
    return (2 if plan.changes else 0) | (4 if soon else 0)


def _warn_expiring(cluster: Cluster) -> list[str]:
    """Certificates within pki.expiry_warning_days of expiry, said on stderr."""
    from k8sfs import pki

    soon = pki.expiring(cluster.spec, cluster.pki_dir) if cluster.pki_dir.exists() else []
    for line in soon:
        print(f"warning: {line}", file=sys.stderr)
    return soon


def cmd_apply(args: argparse.Namespace) -> int:
    started = time.monotonic()
    with open_cluster(args, "apply") as cluster:
        done = cluster.apply(
            args.only,
            args.until,
            args.limit,
            args.exclude,
            wait=args.wait,
            allow_downgrade=args.allow_downgrade,
            forget_owed=args.forget_owed,
        )
    rows = [
        [
            sp.step.host,
            sp.step.chapter,
            sp.step.name,
            f"skipped ({sp.skipped})" if sp.skipped else "changed" if sp.changed else "ok",
        ]
        for sp in done.steps
    ]
    print(render_table(["HOST", "CHAPTER", "STEP", "RESULT"], rows))
    skipped = len(done.skipped)
    print(
        f"\n{done.changes} of {len(done.steps)} steps changed something"
        + (f"; {skipped} skipped (a full apply picks them up)" if skipped else "")
        + f"; {time.monotonic() - started:.1f}s",
        file=sys.stderr,
    )
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    with open_cluster(args, "explain") as cluster:
        views = [cluster.show(name) for name in args.chapters or chapters_mod.ORDER]
    print("\n\n".join(v.render(explain=not args.no_reasons, contents=not args.no_contents) for v in views))
    return 0


def cmd_chapters(args: argparse.Namespace) -> int:
    rows = [
        [c.name, c.title + (f" [rollout: {c.rollout.describe()}]" if c.rollout else "")] for c in chapters_mod.CHAPTERS
    ]
    print(render_table(["CHAPTER", "WHAT"], rows))
    return 0


def cmd_kubectl(args: argparse.Namespace) -> int:
    import os

    from k8sfs.artifacts import ArtifactCache
    from k8sfs.state_paths import pki_dir

    kubectl = ArtifactCache().require("kubectl", target_spec(args).kubernetes_version)
    kubeconfig = pki_dir(state_dir(args)) / "admin.conf"
    if not kubeconfig.exists():
        raise ValueError(f"{kubeconfig} does not exist yet: run k8sfs apply first")
    os.execv(str(kubectl.path), [str(kubectl.path), "--kubeconfig", str(kubeconfig), *(args.command or [])])
    return 1  # not reached


def cmd_helm(args: argparse.Namespace) -> int:
    import os

    from k8sfs.artifacts import ArtifactCache, versions_for
    from k8sfs.state_paths import pki_dir

    version = versions_for(target_spec(args).kubernetes_version)["helm"]
    helm = ArtifactCache().require("helm", version)
    kubeconfig = pki_dir(state_dir(args)) / "admin.conf"
    if not kubeconfig.exists():
        raise ValueError(f"{kubeconfig} does not exist yet: run k8sfs apply first")
    os.execve(str(helm.path), [str(helm.path), *(args.command or [])], {**os.environ, "KUBECONFIG": str(kubeconfig)})
    return 1  # not reached


def cmd_kubeconfig(args: argparse.Namespace) -> int:
    from k8sfs import kubeconfig
    from k8sfs.state_paths import pki_dir

    spec = target_spec(args)
    admin = pki_dir(state_dir(args)) / "admin.conf"
    if not admin.exists():
        raise ValueError(f"{admin} does not exist yet: run k8sfs apply first")
    context = args.context or (f"k8sfs-{args.lab}" if args.lab else f"k8sfs-{spec.cluster_name}")
    target = Path(args.output).expanduser()
    done = kubeconfig.export(admin.read_text(), context, target, merge=args.merge)
    print(done)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with open_cluster(args, "status") as cluster:
        plan = cluster.plan(args.only, args.until)
    if plan.busy:
        print(plan.busy, file=sys.stderr)
    rows = []
    for sp in plan.steps:
        if sp.step.host in plan.unreachable:
            state = "unreachable"
        elif sp.changed:
            state = "interrupted" if sp.interrupted else "left out last time" if sp.carried_over else "pending"
        else:
            state = "done"
        rows.append([sp.step.chapter, sp.step.host, sp.step.name, state])
    print(render_table(["CHAPTER", "HOST", "STEP", "STATE"], rows))
    for host, why in plan.unreachable.items():
        print(f"{host}: unreachable: {why}", file=sys.stderr)
    _warn_expiring(cluster)
    return 1 if plan.unreachable else 0


def _confirmed(args: argparse.Namespace, what_it_does: str) -> bool:
    """A command that destroys something runs only with --yes; without it, says what it would do."""
    if not args.yes:
        print(f"{what_it_does}; add --yes to do it", file=sys.stderr)
    return bool(args.yes)


def cmd_etcd_snapshot(args: argparse.Namespace) -> int:
    from k8sfs.operations.etcd_snapshot import etcd_snapshot

    with open_cluster(args, "etcd snapshot") as cluster:
        got = etcd_snapshot(cluster, Path(args.output) if args.output else None, args.keep)
    print(f"etcd snapshot from {got.host}: {got.path} ({got.size} bytes)")
    if args.keep is not None:
        print(f"kept the newest {args.keep} in {got.path.parent}")
    return 0


def cmd_etcd_restore(args: argparse.Namespace) -> int:
    from k8sfs.cli.target import progress
    from k8sfs.operations.etcd_restore import restore

    if not _confirmed(
        args,
        "k8sfs etcd restore replaces every member's data with the snapshot (the old data dirs are kept "
        "beside them) and stops kube-apiserver meanwhile",
    ):
        return 2
    with open_cluster(args, "etcd restore") as cluster:
        status = restore(cluster, Path(args.snapshot), progress)
    print(f"restored {args.snapshot}: revision {status.get('revision')}, {status.get('totalKey')} keys")
    return 0


def cmd_node_remove(args: argparse.Namespace) -> int:
    from k8sfs.cli.target import _lab, progress
    from k8sfs.operations.node_remove import remove

    if not _confirmed(
        args, f"k8sfs node remove drains {args.name} (its pods move), deletes the Node and resets the host"
    ):
        return 2
    with open_cluster(args, "node remove") as cluster:
        remaining = remove(cluster, args.name, args.timeout, progress)
    if args.lab:
        _lab(args).remove_host(args.name, remaining)
    else:
        pinned = ", ".join(f"{h.name}: {h.pod_subnet}" for h in remaining.hosts if h.worker)
        print(
            f"now take {args.name} out of {args.spec or 'your spec'}, and pin the other workers' pod subnets "
            f"(hosts[].pod_subnet) so none moves: {pinned}",
            file=sys.stderr,
        )
    print(f"{args.name} removed")
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    from k8sfs.operations.reset import reset

    if not _confirmed(
        args, "k8sfs reset removes Kubernetes from every host of the spec (units, data, CNI, iptables KUBE-* rules)"
    ):
        return 2
    with open_cluster(args, "reset") as cluster:
        done = reset(cluster)
    for host, last in done.items():
        print(f"{host}: reset ({last})")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from importlib import resources

    target = Path(args.file)
    if target.exists() and not args.force:
        raise ValueError(f"{target} exists; add --force to overwrite it")
    shorthands = shorthands_given(args)
    if shorthands or args.print_spec:
        spec = spec_from_args(args)
        if args.print_spec:
            print_spec(spec)
            return 0
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            print_spec(spec)
        target.write_text(out.getvalue())
    else:
        target.write_text(resources.files("k8sfs").joinpath("spec_example.yaml").read_text())
    print(
        f"wrote {target}; next: k8sfs plan --spec {target} (your hosts) or "
        f"k8sfs lab up --spec {target} && k8sfs apply --lab --spec {target} (a lab)"
    )
    return 0


def cmd_picture(args: argparse.Namespace) -> int:
    from k8sfs import pictures

    if args.what == "topology":
        states = None
        if args.lab:
            from k8sfs.cli.target import _lab

            states = {r["host"]: r["state"] for r in _lab(args, quiet=True).status()}
        picture = pictures.topology(target_spec(args), states)
    elif args.what == "pki":
        from k8sfs import pki
        from k8sfs.state_paths import pki_dir

        spec, directory = target_spec(args), pki_dir(state_dir(args))
        picture = pictures.pki_tree(spec, pki.days_left(spec, directory) if directory.exists() else None)
    else:
        picture = pictures.timeline(pictures.last_apply(state_dir(args)))
    written = [picture.save(Path(p)) for p in (args.svg, args.html) if p]
    if not written:
        print(picture.svg)
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_verify_cis(args: argparse.Namespace) -> int:
    from k8sfs import verify_cis
    from k8sfs.cli.target import progress

    with open_cluster(args, "verify cis") as cluster:
        reports = verify_cis.run(cluster, progress=progress)
    print(verify_cis.render(reports))
    if args.json:
        Path(args.json).write_text(verify_cis.to_json(reports))
        print(f"wrote {args.json}", file=sys.stderr)
    return 1 if any(r.error for r in reports) else 0


def cmd_verify_conformance(args: argparse.Namespace) -> int:
    from k8sfs import verify_conformance as conformance
    from k8sfs.cli.target import progress

    focus = conformance.slice_focus() if args.slice else args.focus
    skip = args.skip
    if args.storage:
        from k8sfs import verify_storage

        if args.focus == conformance.CONFORMANCE:  # not chosen: the add-on's specs
            focus = verify_storage.FOCUS
            skip = skip or verify_storage.SKIP
    # The cluster's lock: an apply during the run would restart what the
    # specs are testing, and a run during an apply would fail for that.
    with open_cluster(args, "verify conformance") as cluster, cluster.lock.held(progress=progress):
        report = conformance.run(
            cluster,
            focus=focus,
            skip=skip,
            timeout=args.timeout,
            junit=Path(args.junit) if args.junit else None,
            progress=progress,
            parallel=args.parallel,
            storage=args.storage,
        )
    print(conformance.render(report))
    if args.json:
        Path(args.json).write_text(conformance.to_json(report))
        print(f"wrote {args.json}", file=sys.stderr)
    if report.interrupted:
        return 130
    return 1 if report.count("failed") or report.exit_code or not report.results else 0


def cmd_spec_from_vagrant(args: argparse.Namespace) -> int:
    from k8sfs import vagrant
    from k8sfs.cli.target import progress

    target = Path(args.output)
    if target.exists() and not args.force:
        raise ValueError(f"{target} exists; add --force to overwrite it")
    base = spec_from_args(argparse.Namespace(kubernetes_version=args.kubernetes_version, runtime=args.runtime))
    spec = vagrant.spec_from_vagrant(
        Path(args.dir).absolute(), subnet=args.subnet, vagrant=args.vagrant, progress=progress, base=base
    )
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_spec(spec)
    target.write_text(out.getvalue())
    print(
        f"wrote {target} ({len(spec.hosts)} hosts, ssh settings in {spec.ssh_config}); next: k8sfs plan --spec {target}"
    )
    return 0


def cmd_spec_schema(args: argparse.Namespace) -> int:
    from importlib import resources

    print(resources.files("k8sfs").joinpath("spec.schema.json").read_text(), end="")
    return 0


def _chapter_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--only", action="append", metavar="CHAPTER", help="only this chapter (repeatable)")
    p.add_argument("--until", metavar="CHAPTER", help="every chapter up to and including this one")


def _version_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-downgrade",
        action="store_true",
        help="let kubernetes_version go back (refused by default: etcd's data may not go back)",
    )


def _host_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--limit",
        action="append",
        metavar="HOST[,HOST]",
        help="only these hosts (names or roles: control-plane, etcd, worker); the others are skipped",
    )
    p.add_argument(
        "--exclude",
        action="append",
        metavar="HOST[,HOST]",
        help="leave these hosts out (names or roles); their steps, and steps that need them, are "
        "skipped and journaled for the next full apply",
    )


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _parallel_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--hosts-at-once",
        type=_at_least_one,
        metavar="N",
        help="how many hosts are connected to, checked and changed at the same time (default 16); "
        "the others wait their turn",
    )


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "plan",
        help="what apply would change, per host and chapter, with file diffs; writes nothing",
        description="Check every host (one round trip per host) and print, per chapter and host, the "
        "files that would change (unified diffs; secrets never shown), the commands that "
        "would run, the order of rolling chapters, and what apply would make on the "
        "controller first. Writes nothing, here or on the hosts. A host that cannot be "
        "reached is marked and every other host is planned.",
    )
    add_target_options(p)
    _chapter_options(p)
    _host_options(p)
    _version_options(p)
    _parallel_options(p)
    p.add_argument(
        "--diff",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="new files in full and changed ones as unified diffs (default); --no-diff: one line per file",
    )
    p.add_argument(
        "--explain",
        action="store_true",
        help="with each file, what every flag and field does and why this value (with its reference page), the "
        "commands a person checks each step with, and k8sfs's own check scripts",
    )
    p.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 when nothing would change, 2 when something would, 1 when a host is unreachable "
        "(as terraform plan); 4 is added when a certificate is within pki.expiry_warning_days of expiry "
        "(4: only that, 6: that and changes)",
    )
    p.set_defaults(func=cmd_plan)
    p = sub.add_parser(
        "apply",
        help="make the hosts match the spec, chapter by chapter",
        description="Apply the chapters in order; within a chapter all hosts at once, or one at a "
        "time where a service runs already (etcd, kube-apiserver, controllers). Only what "
        "differs is changed; each step is verified. One apply per cluster at a time (a "
        "lock beside the state, and one on each control-plane host). Refuses, "
        "changing nothing, when a host cannot be reached; --exclude leaves it out. "
        "Logs: <state>/logs/<host>.log.",
    )
    add_target_options(p)
    _chapter_options(p)
    _host_options(p)
    _version_options(p)
    _parallel_options(p)
    p.add_argument(
        "--relay-uploads",
        action="store_true",
        help="hosts that have a binary pass it on to the others over SSH (a one-time key, allowed to read "
        "that one file, from that host, for 10 minutes; checked by sha256), so this machine sends each "
        "binary to two hosts, not to all; anything that fails is uploaded from here instead",
    )
    p.add_argument(
        "--wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="wait this long for another apply to finish instead of refusing",
    )
    p.add_argument(
        "--forget-owed",
        action="store_true",
        help="drop what the journal says earlier applies owe (steps they were killed in or left out) "
        "and decide from what the hosts show alone; for hosts rebuilt or reset behind k8sfs's back",
    )
    p.set_defaults(func=cmd_apply)
    p = sub.add_parser("chapters", help="the chapters, in order")
    p.set_defaults(func=cmd_chapters)
    p = sub.add_parser(
        "explain",
        help="what each chapter writes on which host, every flag and field with its reason, and how to check it",
        description="For each chapter (all, or those named): every file it writes on each host in full "
        "(secrets as a fingerprint), a reason for each flag and field with the reference page of the "
        "version rendered, the commands k8sfs runs and the commands a person checks it with. Reads the "
        "hosts' facts; changes nothing.",
    )
    add_target_options(p)
    p.add_argument("chapters", nargs="*", metavar="CHAPTER", help="chapters to explain (default: all)")
    p.add_argument("--no-contents", action="store_true", help="name the files without their contents")
    p.add_argument("--no-reasons", action="store_true", help="leave out the reasons of flags and fields")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser(
        "init", help="write a commented example spec (the walkthrough's cluster), or one from the shorthands"
    )
    p.add_argument("file", nargs="?", default="cluster.yaml")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.add_argument(
        "--subnet",
        default=None,
        metavar="CIDR",
        help="with --control-planes/--workers: number the hosts from .10 of this subnet",
    )
    p.set_defaults(spec=None)
    add_spec_shorthands(p)
    p.set_defaults(func=cmd_init)
    p = sub.add_parser(
        "picture",
        help="draw the topology, the PKI tree or the last apply's timeline (SVG)",
        description="Draw the cluster's topology (hosts, roles, components, addresses, pod ranges), "
        "its PKI as a tree (CA -> certificates -> which host holds each file), or a "
        "timeline of the last apply (steps per host over time). SVG on stdout, or "
        "--svg FILE / --html FILE.",
    )
    p.add_argument("what", choices=["topology", "pki", "timeline"])
    add_target_options(p)
    p.add_argument("--svg", metavar="FILE", help="write the SVG here")
    p.add_argument("--html", metavar="FILE", help="write an HTML page with the SVG here")
    p.set_defaults(func=cmd_picture)
    p = sub.add_parser("spec-schema", help="print the spec's JSON Schema (for editors)")
    p.set_defaults(func=cmd_spec_schema)
    p = sub.add_parser("verify", help="check the cluster with upstream's tools (cis, conformance)")
    verify_actions = p.add_subparsers(dest="verify_command", metavar="ACTION")
    verify_actions.required = True
    q = verify_actions.add_parser(
        "cis",
        help="the CIS Kubernetes Benchmark with kube-bench on every host, offline",
        description="Builds kube-bench and its check definitions from its Go module (cached), "
        "copies them to /opt/k8sfs/kube-bench on each host, runs the benchmark for the "
        "Kubernetes minor with the targets of the host's roles (master, controlplane, etcd, "
        "node) and k8sfs's file paths, and prints PASS/FAIL/WARN per section and each FAIL. "
        "docs/security.md explains every FAIL k8sfs leaves. Changes nothing else on the hosts.",
    )
    add_target_options(q)
    q.add_argument("--json", metavar="FILE", help="also write every check's result here")
    q.set_defaults(func=cmd_verify_cis)
    q = verify_actions.add_parser(
        "conformance",
        help="Kubernetes' own [Conformance] e2e specs, offline",
        description="Builds e2e.test and agnhost from the k8s.io/kubernetes module at the cluster's "
        "version (cached; about 25 minutes the first time on 2 cores), makes the images the suite "
        "runs (agnhost, busybox, pause) under the names it asks for and imports them on every worker, "
        "then runs e2e.test from this machine with the admin kubeconfig. Shows each spec as it ends, "
        "writes a JUnit file, prints passed/failed/skipped with each failure's first line, and "
        "deletes the test namespaces even when interrupted. Specs that need an image made nowhere "
        "here (httpd, nginx, ...) fail on ErrImageNeverPull; docs/conformance.md lists them.",
    )
    add_target_options(q)
    q.add_argument("--focus", default=r"\[Conformance\]", help="regular expression of the specs to run")
    q.add_argument("--skip", default="", metavar="RE", help="regular expression of specs to leave out")
    q.add_argument("--slice", action="store_true", help="the fixed slice make test runs (a few minutes)")
    q.add_argument(
        "--storage",
        action="store_true",
        help="upstream's storage suites against the spec's storage add-on as an external driver; "
        "without --focus only those (docs/addons.md)",
    )
    q.add_argument(
        "--parallel",
        type=int,
        default=1,
        metavar="N",
        help="run the specs in N e2e.test processes under Ginkgo's CLI (built like e2e.test); "
        "[Serial] specs still run one at a time, at the end (default 1)",
    )
    q.add_argument("--timeout", default="24h", help="Ginkgo's limit for the whole run (default 24h)")
    q.add_argument("--junit", metavar="FILE", help="the JUnit file (default: in the cluster's state dir)")
    q.add_argument("--json", metavar="FILE", help="also write each spec's result here")
    q.set_defaults(func=cmd_verify_conformance)
    p = sub.add_parser("spec", help="write a spec from other tools (from-vagrant)")
    spec_actions = p.add_subparsers(dest="spec_command", metavar="ACTION")
    spec_actions.required = True
    q = spec_actions.add_parser(
        "from-vagrant",
        help="a spec for running Vagrant machines (vagrant ssh-config), host keys recorded and shown",
        description="Runs `vagrant ssh-config` in DIR, writes DIR/.k8sfs/ssh_config with Vagrant's "
        "user, port and key but host keys checked against DIR/.k8sfs/known_hosts, connects to "
        "each machine once to record its key (shown; compare it with the console if you doubt "
        "it) and to find its address inside --subnet, and writes a spec: k8s-master (any name "
        "with 'master' or 'control') is the control plane with etcd, the others are workers.",
    )
    q.add_argument("dir", nargs="?", default=".", help="the Vagrantfile's directory (default: .)")
    q.add_argument("-o", "--output", default="cluster.yaml", help="the spec to write (default: %(default)s)")
    q.add_argument("--force", action="store_true", help="overwrite an existing spec")
    q.add_argument(
        "--subnet", default=WALKTHROUGH_SUBNET, help="the cluster network the addresses are in (default: %(default)s)"
    )
    q.add_argument("--vagrant", default="vagrant", metavar="CMD", help="the vagrant command (default: %(default)s)")
    q.add_argument("--version", dest="kubernetes_version", metavar="V", help="Kubernetes version, e.g. v1.21.6")
    q.add_argument("--runtime", choices=["containerd", "crio"], help="container runtime")
    q.set_defaults(func=cmd_spec_from_vagrant)
    p = sub.add_parser("kubectl", help="the cluster's kubectl with the admin kubeconfig (k8sfs kubectl -- get nodes)")
    add_target_options(p)
    p.add_argument("command", nargs="*", metavar="-- ARGS", help="kubectl arguments")
    p.set_defaults(func=cmd_kubectl)
    p = sub.add_parser(
        "helm",
        help="helm with the admin kubeconfig (k8sfs helm --lab -- install web ./chart)",
        description="Runs the helm CLI (built from helm.sh/helm/v4: k8sfs artifacts build helm) "
        "against the cluster with its admin kubeconfig. After `k8sfs kubeconfig --merge`, "
        "helm finds the cluster in ~/.kube/config by itself.",
    )
    add_target_options(p)
    p.add_argument("command", nargs="*", metavar="-- ARGS", help="helm arguments")
    p.set_defaults(func=cmd_helm)
    p = sub.add_parser(
        "kubeconfig",
        help="write the admin kubeconfig for your own kubectl, k9s or helm",
        description="Write the cluster's admin kubeconfig to ~/.kube/config (or -o FILE) with a "
        "context named after the cluster. An existing file is changed only with --merge, "
        "and backed up first (FILE.k8sfs-backup-<time>).",
    )
    add_target_options(p)
    p.add_argument("-o", "--output", default="~/.kube/config", metavar="FILE", help="default: %(default)s")
    p.add_argument("--merge", action="store_true", help="merge into an existing file (backed up first)")
    p.add_argument("--context", metavar="NAME", help="context name (default: k8sfs-<lab> or k8sfs-<cluster>)")
    p.set_defaults(func=cmd_kubeconfig)
    p = sub.add_parser("status", help="each chapter's state per host: done, pending, interrupted, unreachable")
    add_target_options(p)
    _chapter_options(p)
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("etcd", help="etcd operations: snapshot, restore")
    actions = p.add_subparsers(dest="etcd_command", metavar="ACTION")
    actions.required = True
    q = actions.add_parser("snapshot", help="save a snapshot of etcd to the controller (0600)")
    add_target_options(q)
    q.add_argument("-o", "--output", metavar="FILE", help="default: <state>/backups/etcd-<time>.db")
    q.add_argument(
        "--keep",
        type=int,
        metavar="N",
        help="then remove all but the newest N snapshots in <state>/backups (for a timer, as RKE2 keeps 5)",
    )
    q.set_defaults(func=cmd_etcd_snapshot)
    q = actions.add_parser(
        "restore",
        help="every member back to a snapshot (checked first; kube-apiserver stopped meanwhile)",
        description="Check the snapshot with etcdutl, then on every member: a new data dir from "
        "it with the same initial cluster (the old one kept beside it), etcd started "
        "on all members together, kube-apiserver started again. Takes the cluster's "
        "lock.",
    )
    add_target_options(q)
    q.add_argument("snapshot", metavar="FILE", help="a snapshot from k8sfs etcd snapshot")
    q.add_argument("--yes", action="store_true", help="really do it")
    q.set_defaults(func=cmd_etcd_restore)
    p = sub.add_parser("node", help="day-two node operations: remove")
    node_actions = p.add_subparsers(dest="node_command", metavar="ACTION")
    node_actions.required = True
    q = node_actions.add_parser(
        "remove",
        help="drain a worker, delete its Node, reset the host, update the routes",
        description="Cordon and drain the worker (PodDisruptionBudgets respected; --timeout stops it, leaving the "
        "node cordoned), delete its Node, reset the host, and remove the routes to its pod range from the other "
        "hosts. In a lab the host goes too and the lab's spec loses it; with your own spec, k8sfs says what to "
        "take out of the file. To add a worker, add it to the spec and apply.",
    )
    add_target_options(q)
    q.add_argument("name", metavar="NAME")
    q.add_argument("--timeout", type=int, default=300, metavar="SECONDS", help="for the drain (default: %(default)s)")
    q.add_argument("--yes", action="store_true", help="really do it")
    q.set_defaults(func=cmd_node_remove)
    p = sub.add_parser(
        "reset",
        help="tear Kubernetes down on the hosts, keeping SSH reachable",
        description="Undoes what the chapters did on every host, chapters backwards: pods and "
        "containers, services stopped and disabled, routes, kube-proxy's iptables chains, "
        "then every file, binary and data directory the steps declare. SSH and the "
        "machine's other firewall rules stay. The controller's PKI and artifacts stay.",
    )
    add_target_options(p)
    p.add_argument("--yes", action="store_true", help="really do it")
    p.set_defaults(func=cmd_reset)
