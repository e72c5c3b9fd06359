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
    add_more_parsers(sub, common)


def _state_dir(args) -> Path:
    """The controller state directory without connecting to anything."""
    if args.state:
        return Path(args.state)
    if args.lab:
        from k8sfs.lab import Lab

        return Lab(name=args.lab, subnet=args.subnet).cluster_state_dir
    from k8sfs.cluster import default_state_dir
    from k8sfs.spec import load_spec

    return default_state_dir(load_spec(args.spec))


def cmd_kubectl(args) -> int:
    import os

    from k8sfs.artifacts import ArtifactCache
    from k8sfs.spec import load_spec
    from k8sfs.versions import LAB_KUBERNETES_VERSION

    version = LAB_KUBERNETES_VERSION if args.lab or not args.spec else load_spec(args.spec).kubernetes_version
    kubectl = ArtifactCache().require("kubectl", version)
    from k8sfs.cluster import pki_dir

    kubeconfig = pki_dir(_state_dir(args)) / "admin.conf"
    if not kubeconfig.exists():
        raise ValueError(f"{kubeconfig} does not exist yet: run k8sfs apply first")
    os.execv(str(kubectl.path), [str(kubectl.path), "--kubeconfig", str(kubeconfig), *(args.command or [])])
    return 1  # not reached


def cmd_status(args) -> int:
    with open_cluster(args) as cluster:
        plan = cluster.plan(args.only, args.until)
    rows = []
    for sp in plan.steps:
        state = ("interrupted" if sp.interrupted else "pending") if sp.changed else "done"
        rows.append([sp.step.chapter, sp.step.host, sp.step.name, state])
    print(render_table(["CHAPTER", "HOST", "STEP", "STATE"], rows))
    for host, why in plan.errors.items():
        print(f"{host}: cannot check: {why}", file=sys.stderr)
    return 1 if plan.errors else 0


def cmd_etcd_snapshot(args) -> int:
    from k8sfs import _core

    with open_cluster(args) as cluster:
        host = next((h.name for h in cluster.spec.hosts if h.etcd), None)
        if host is None:
            raise ValueError("the spec has no etcd host")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        remote = f"/var/lib/k8sfs/etcd-snapshot-{stamp}.db"
        out = Path(args.output) if args.output else cluster.state_dir / "backups" / f"etcd-{stamp}.db"
        out.parent.mkdir(parents=True, exist_ok=True)
        cluster.runner.run(host, "etcd-snapshot", ["install", "-d", "-m", "0700", "/var/lib/k8sfs"])
        cluster.runner.run(host, "etcd-snapshot", ["etcdctl", *_core.etcdctl_tls_args(), "snapshot", "save", remote],
                           timeout=600)
        try:
            got = cluster.runner.session(host).get(remote, str(out))
        finally:
            cluster.runner.run(host, "etcd-snapshot", ["rm", "-f", remote], check=False)
        out.chmod(0o600)  # the keyspace: secrets are encrypted, everything else is not
    print(f"etcd snapshot from {host}: {out} ({got.bytes} bytes)")
    return 0


def cmd_reset(args) -> int:
    from k8sfs.engine.reset import reset_script

    if not args.yes:
        print("k8sfs reset removes Kubernetes from every host of the spec (units, data, CNI, iptables KUBE-* rules); "
              "add --yes to do it", file=sys.stderr)
        return 2
    with open_cluster(args) as cluster:
        from concurrent.futures import ThreadPoolExecutor

        hosts = [h.name for h in cluster.spec.hosts]

        def one(host: str):
            return cluster.runner.run(host, "reset", ["sh", "-c", reset_script(cluster.cgroup_root_template.format(
                host=host) if cluster.spec.host_profile == "container" else "")], timeout=300)
        with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
            results = list(pool.map(one, hosts))
        journal = cluster.state_dir / "journal.jsonl"
        journal.unlink(missing_ok=True)
    for host, r in zip(hosts, results):
        print(f"{host}: reset ({r.stdout.strip().splitlines()[-1] if r.stdout.strip() else 'done'})")
    return 0


def cmd_init(args) -> int:
    from importlib import resources

    target = Path(args.file)
    if target.exists() and not args.force:
        raise ValueError(f"{target} exists; add --force to overwrite it")
    target.write_text(resources.files("k8sfs").joinpath("spec_example.yaml").read_text())
    print(f"wrote {target}: the walkthrough's cluster, every key commented; next: k8sfs plan --spec {target}")
    return 0


def cmd_spec_schema(args) -> int:
    from importlib import resources

    print(resources.files("k8sfs").joinpath("spec.schema.json").read_text(), end="")
    return 0


def add_more_parsers(sub, common) -> None:
    p = sub.add_parser("init", help="write a commented example spec (the walkthrough's cluster)")
    p.add_argument("file", nargs="?", default="cluster.yaml")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_init)
    p = sub.add_parser("spec-schema", help="print the spec's JSON Schema (for editors)")
    p.set_defaults(func=cmd_spec_schema)
    p = sub.add_parser("kubectl", help="the cluster's kubectl with the admin kubeconfig (k8sfs kubectl -- get nodes)")
    for flag, kw in (("--spec", {"metavar": "FILE"}), ("--lab", {"metavar": "NAME"}),
                     ("--subnet", {"default": "192.168.50.0/24"}), ("--state", {"metavar": "DIR"})):
        p.add_argument(flag, **kw)
    p.add_argument("command", nargs="*", metavar="-- ARGS", help="kubectl arguments")
    p.set_defaults(func=cmd_kubectl)
    p = sub.add_parser("status", help="each chapter's state per host: done, pending, interrupted")
    common(p)
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("etcd", help="etcd operations: snapshot")
    actions = p.add_subparsers(dest="etcd_command", metavar="ACTION")
    actions.required = True
    q = actions.add_parser("snapshot", help="save a snapshot of etcd to the controller (0600)")
    common(q)
    q.add_argument("-o", "--output", metavar="FILE", help="default: <state>/backups/etcd-<time>.db")
    q.set_defaults(func=cmd_etcd_snapshot)
    p = sub.add_parser("reset", help="tear Kubernetes down on the hosts, keeping SSH reachable",
                       description="Stops and removes kubelet, kube-apiserver, etcd, containers, their data, CNI "
                                   "leftovers and iptables KUBE-* rules on every host. SSH and the machine's other "
                                   "firewall rules stay. The controller's PKI and artifacts stay.")
    common(p)
    p.add_argument("--yes", action="store_true", help="really do it")
    p.set_defaults(func=cmd_reset)
