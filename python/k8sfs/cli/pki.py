"""`k8sfs pki ...`: the cluster's certificates on the controller, and their push to hosts."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from k8sfs import _core, pki
from k8sfs.spec import ClusterSpec
from k8sfs.table import render_table

EPILOG = """\
The directory holds kubeadm's layout: pki/ca.crt, pki/etcd/ca.crt, pki/apiserver.crt, ...,
admin.conf, super-admin.conf, controller-manager.conf, scheduler.conf, kube-proxy.conf, and
hosts/<host>/ for what belongs to one host (etcd server/peer, kubelet serving cert, kubelet.conf).
Keys are 0600, certificates 0644, the directory 0700. CA keys stay here unless the spec sets
pki.ca_key_on_control_plane.

examples:
  k8sfs pki init                         walkthrough defaults into ./k8sfs-state/kubernetes/pki
  k8sfs pki init --spec cluster.yaml     hosts, ranges and PKI options from a spec
  k8sfs pki plan                         what init would do now, and why (exit 2 if anything)
  k8sfs pki check                        every certificate: subject, issuer, SANs, days left
  k8sfs pki renew apiserver              new certificate, same key, same CA
  k8sfs pki renew --all --new-key
  k8sfs pki renew --expiring 30 --apply --lab
                                         what expires within 30 days, renewed and rolled out
  k8sfs pki import ca --cert my-ca.crt --key my-ca.key
  k8sfs pki init --lab k8sfs && k8sfs pki push --lab k8sfs
                                         the lab's hosts: certificates, then copy them over SSH
"""


def _context(args: argparse.Namespace) -> tuple[ClusterSpec, _core.PkiStore]:
    """The target's spec and its PKI store (--dir, or the cluster's state)."""
    from k8sfs.cli.target import state_dir, target_spec
    from k8sfs.state_paths import pki_dir

    spec = target_spec(args)
    directory = Path(args.dir) if args.dir else pki_dir(state_dir(args))
    return spec, pki.store(spec, directory)


def _lock(args: argparse.Namespace, command: str) -> contextlib.AbstractContextManager[None]:
    """The cluster's lock (commands that write the PKI or the hosts)."""
    from k8sfs.cli.target import progress, state_dir
    from k8sfs.engine.lock import ClusterLock

    directory = Path(args.dir).parent if args.dir else state_dir(args)
    return ClusterLock(directory, target_spec_name(args), f"pki {command}").held(progress=progress)


def target_spec_name(args: argparse.Namespace) -> str:
    from k8sfs.cli.target import target_spec

    return target_spec(args).cluster_name


def _print_plan(plan: _core.PkiPlan, applied: bool) -> None:
    lines = pki.plan_lines(plan)
    verb = "done" if applied else "to do"
    if lines:
        print(f"PKI changes {verb}:")
        print("\n".join(lines))
    else:
        print("PKI: everything is present and current; nothing to do")
    extra = pki.describe_distribution(plan.files)
    print("distribution to hosts:")
    print("\n".join(extra))


def cmd_init(args: argparse.Namespace) -> int:
    spec, store = _context(args)
    started = time.monotonic()
    with _lock(args, "init"):
        plan = store.apply(spec.pki_spec(), args.renew_within)
    _print_plan(plan, applied=True)
    changed = sum(1 for i in plan.items if i.action != "keep")
    print(
        f"\n{changed} of {len(plan.items)} items written to {store.dir} in {time.monotonic() - started:.2f}s",
        file=sys.stderr,
    )
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    spec, store = _context(args)
    plan = store.plan(spec.pki_spec(), args.renew_within)
    _print_plan(plan, applied=False)
    return 2 if plan.changes else 0


def cmd_check(args: argparse.Namespace) -> int:
    spec, store = _context(args)
    rows, bad = [], 0
    warn = spec.pki.expiry_warning_days
    # Soonest to expire first; what is missing or wrong before everything.
    for s in sorted(store.check(spec.pki_spec()), key=lambda s: (not s.problem, s.days_left if s.not_after else -1)):
        expires = datetime.fromtimestamp(s.not_after, UTC).strftime("%Y-%m-%d %H:%M") if s.not_after else "-"
        status = s.problem or (
            f"expires in {s.days_left} days: renew it" if s.not_after and s.days_left < warn else "ok"
        )
        bad += bool(s.problem)
        rows.append(
            [
                s.name,
                s.subject or "-",
                s.issuer or "-",
                expires,
                s.days_left if s.not_after else "-",
                status,
                ",".join(s.sans) or "-",
            ]
        )
    # SANs last: the apiserver's list is long and may run past the screen.
    print(render_table(["NAME", "SUBJECT", "ISSUER", "EXPIRES (UTC)", "DAYS", "STATUS", "SANS"], rows))
    if bad:
        print(f"\n{bad} item(s) need attention: k8sfs pki plan says what init would do", file=sys.stderr)
    return 1 if bad else 0


def cmd_renew(args: argparse.Namespace) -> int:
    chosen = bool(args.names) + args.all + (args.expiring is not None)
    if chosen != 1:
        print("k8sfs pki renew: name the certificates to renew, or --all, or --expiring DAYS", file=sys.stderr)
        return 2
    if args.apply and args.dir:
        print("k8sfs pki renew: --apply uses the cluster's own PKI; leave out --dir", file=sys.stderr)
        return 2
    spec, store = _context(args)
    names = [] if args.all else args.names
    if args.expiring is not None:
        names = sorted(n for n, days in pki.days_left(spec, store.dir).items() if days < args.expiring)
        if not names:
            print(f"nothing expires within {args.expiring} days: nothing renewed")
            return 0
    with _lock(args, "renew"):
        done = store.renew(spec.pki_spec(), names, args.new_key)
    key = "new keys" if args.new_key else "same keys"
    print(f"renewed {len(done)} ({key}, CAs kept): {', '.join(done)}")
    if not args.apply:
        print("roll them out to the hosts with: k8sfs apply (or k8sfs pki push)", file=sys.stderr)
        return 0
    from k8sfs.cli.target import open_cluster

    # The same apply a person would run next: each file to its host, each reader restarted once.
    with open_cluster(args, "pki renew --apply") as cluster:
        applied = cluster.apply()
    print(f"applied: {applied.changes} of {len(applied.steps)} steps changed something")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    spec, store = _context(args)
    with _lock(args, "import"):
        store.import_ca(
            args.which, Path(args.cert).read_text(), Path(args.key).read_text(), f"{args.cert} + {args.key}"
        )
    print(f"imported {args.which} into {store.dir}; `k8sfs pki plan` shows the certificates to reissue")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    """The certificates chapter alone, with this directory's PKI (operations/pki_push.py)."""
    from k8sfs.cli.target import open_cluster
    from k8sfs.operations.pki_push import NotInitialised, pki_push

    _spec, store = _context(args)
    with open_cluster(args, "pki push") as cluster, cluster.writing():
        try:
            done = pki_push(cluster, store)
        except NotInitialised as error:
            print(f"k8sfs pki push: {error}; run k8sfs pki init first", file=sys.stderr)
            return 1
    rows = [[sp.step.host, len(sp.changes), len(sp.step.files) - len(sp.changes)] for sp in done.steps]
    print(render_table(["HOST", "WRITTEN", "CURRENT"], rows))
    return 0


def _days(text: str) -> int:
    value = text.removesuffix("d")
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days like 30 or 30d")
    return int(value)


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "pki",
        help="the cluster's CAs, certificates and kubeconfigs",
        description="Create and manage every CA, key, certificate and kubeconfig the cluster "
        "needs, on the controller, with OpenSSL in process.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="pki_command", metavar="ACTION")
    actions.required = True

    def common(q: argparse.ArgumentParser, renew_within: bool = False) -> None:
        from k8sfs.cli.target import add_target_options

        add_target_options(q)
        q.add_argument(
            "--dir",
            metavar="DIR",
            help="PKI directory (default: <state>/pki: $K8SFS_STATE/<cluster>/pki, "
            "K8SFS_STATE defaults to ./k8sfs-state; with --lab: the lab "
            "cluster's)",
        )
        if renew_within:
            q.add_argument(
                "--renew-within",
                type=int,
                default=30,
                metavar="DAYS",
                help="renew leaves that expire within DAYS (default: %(default)s)",
            )

    q = actions.add_parser(
        "init",
        help="create what is missing, reissue what no longer matches the spec",
        description="Create what is missing and reissue what no longer matches the spec; "
        "valid material is kept. Prints what it did and why.",
    )
    common(q, True)
    q.set_defaults(func=cmd_init)
    q = actions.add_parser("plan", help="what init would do, and why; changes nothing (exit 2 if anything)")
    common(q, True)
    q.set_defaults(func=cmd_plan)
    q = actions.add_parser("check", help="table of every certificate with subject, issuer, SANs and days left")
    common(q)
    q.set_defaults(func=cmd_check)
    q = actions.add_parser("renew", help="reissue leaf certificates (CAs kept)")
    common(q)
    q.add_argument("names", nargs="*", metavar="NAME", help="e.g. apiserver, admin.conf, kubelet@node-1")
    q.add_argument("--all", action="store_true", help="every leaf certificate and kubeconfig")
    q.add_argument("--new-key", action="store_true", help="generate new keys instead of keeping them")
    q.add_argument(
        "--expiring",
        type=_days,
        metavar="DAYS",
        help="the leaves that expire within DAYS (30 or 30d); nothing, and exit 0, when none do",
    )
    q.add_argument(
        "--apply",
        action="store_true",
        help="then apply, as `k8sfs apply` would: the files to their hosts, each reader restarted once "
        "(for a daily timer: k8sfs pki renew --expiring 30 --apply --spec FILE)",
    )
    q.set_defaults(func=cmd_renew)
    q = actions.add_parser("import", help="bring your own CA (the key must match the certificate)")
    common(q)
    q.add_argument("which", choices=["ca", "etcd-ca", "front-proxy-ca"])
    q.add_argument("--cert", required=True, metavar="FILE")
    q.add_argument("--key", required=True, metavar="FILE")
    q.set_defaults(func=cmd_import)
    q = actions.add_parser("push", help="copy each host's certificates and kubeconfigs to it over SSH")
    common(q)
    q.set_defaults(func=cmd_push)
