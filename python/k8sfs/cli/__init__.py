"""The `k8sfs` command: this module builds the parser and runs one command;
cluster.py, pki.py and artifacts.py add the commands' parsers and do each
one by calling Cluster's verbs or an operation (k8sfs/operations/);
target.py defines the options that choose a cluster, once.

k8sfs lab up|down|status|start|stop|ssh       the local lab: a spec's hosts on this machine
k8sfs exec HOST -- COMMAND...                 run a command through the library
k8sfs demo                                    the main job: the lab cluster from scratch, with a smoke test
k8sfs init FILE | spec | spec-schema          write, show, or describe a cluster spec
k8sfs plan|apply [--until CHAPTER]            the main workflow (plan --explain: each file's reasons)
k8sfs status | picture | verify               how the cluster stands: per host, drawn, CIS or conformance
k8sfs chapters | explain [CHAPTER...]         the chapters; what each writes, every flag's reason, its checks
k8sfs kubectl ... | helm ... | kubeconfig     the cluster's API with the admin identity
k8sfs etcd snapshot|restore | node remove | reset   day-two operations
k8sfs pki init|plan|check|renew|import|push   the cluster's certificates
k8sfs artifacts list|build|fetch|import       the binaries, in a verified cache
k8sfs image push                              your own images into the lab registry (or any registry)
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

import k8sfs
from k8sfs._core import layout
from k8sfs.cli.target import _lab, add_lab_options, add_spec_shorthands, print_spec, shorthands_given
from k8sfs.table import render_table

EPILOG = """\
examples:
  k8sfs lab up                      create k8s-master, node-1, node-2 on this machine
  k8sfs lab status                  show each lab host, its address and state, and the lab registry
  k8sfs exec node-1 -- uname -a     run a command on a lab host over SSH
  k8sfs exec admin@10.0.0.5:2222 -- id
                                    any SSH host (honours ~/.ssh/config)
  k8sfs lab down                    remove everything the lab made

environment: K8SFS_LAB (lab name), K8SFS_LAB_SUBNET, K8SFS_CACHE (default ~/.cache/k8sfs),
             K8SFS_STATE (state of spec clusters, default ./k8sfs-state)
"""

LAB_EPILOG = """\
examples:
  k8sfs lab up                                  the walkthrough's three hosts
  k8sfs lab up --control-planes 3 --workers 2   k8s-master-1..3 and node-1..2
  k8sfs init my.yaml && k8sfs lab up --spec my.yaml && k8sfs apply --lab --spec my.yaml
  k8sfs lab stop --kill node-1                  a power cut; k8sfs lab start node-1 boots it with its disk
  k8sfs lab down --purge                        the hosts and the cluster's CAs and journal
"""


def cmd_lab_up(args: argparse.Namespace) -> int:
    from k8sfs.cli.target import spec_from_args

    lab = _lab(args)
    spec = None
    if args.spec or args.print_spec or shorthands_given(args):
        spec = spec_from_args(args, lab.saved_spec())
        if args.print_spec:
            print_spec(spec)
            return 0
    started = time.monotonic()
    lab.up(spec)
    print(
        render_table(
            ["HOST", "ADDRESS", "ROLE", "STATE"],
            [[r["host"], r["address"], r["role"], r["state"]] for r in lab.status()],
        )
    )
    print(f"\nready in {time.monotonic() - started:.1f}s; next: k8sfs apply --lab {lab.name}", file=sys.stderr)
    return 0


def cmd_lab_down(args: argparse.Namespace) -> int:
    lab = _lab(args)
    if args.purge and lab.purge_list():
        print("--purge also removes: " + ", ".join(str(p) for p in lab.purge_list()), file=sys.stderr)
    lab.down(purge=args.purge)
    return 0


def cmd_lab_status(args: argparse.Namespace) -> int:
    lab = _lab(args)
    if not lab.made():
        print(f"lab {lab.name} does not exist (k8sfs lab up --lab {lab.name} makes it)", file=sys.stderr)
        return 3
    rows = lab.status()
    print(
        render_table(
            ["HOST", "ADDRESS", "ROLE", "STATE", "PID"],
            [[r["host"], r["address"], r["role"], r["state"], r["pid"] or "-"] for r in rows],
        )
    )
    registry = lab.registry(build=False)
    pid = registry.pid()
    serving = f"https://{registry.host} (pid {pid}; k8sfs image push --lab {lab.name} pushes to it)"
    # A note on stderr: stdout stays the hosts' table, for scripts.
    print(f"\nregistry: {serving if pid else 'not running (k8sfs lab up starts it)'}", file=sys.stderr)
    return 0 if all(r["state"] == "running" for r in rows) else 3


def cmd_lab_start(args: argparse.Namespace) -> int:
    _lab(args).start(args.hosts)
    return 0


def cmd_lab_stop(args: argparse.Namespace) -> int:
    _lab(args).stop(args.hosts, kill=args.kill)
    return 0


def cmd_lab_ssh(args: argparse.Namespace) -> int:
    lab = _lab(args)
    host = lab.host(args.host)
    from k8sfs.lab import check_route

    check_route(host.address, lab.bridge)
    if not lab.ssh_config_path.exists():
        print(f"lab {lab.name} is not up (k8sfs lab up)", file=sys.stderr)
        return 1
    argv = ["ssh", "-F", str(lab.ssh_config_path), host.name, *args.command]
    os.execvp("ssh", argv)
    return 1  # not reached


def _parse_target(target: str) -> tuple[str, str, int]:
    """[user@]host[:port] -> (user, host, port); empty/0 means 'from config'."""
    user, _, rest = target.rpartition("@")
    host, port = rest, 0
    if rest.count(":") == 1:
        host, port_text = rest.split(":")
        if not port_text.isdigit():
            raise ValueError(f"invalid port in {target!r}")
        port = int(port_text)
    return user, host, port


def _session_for(args: argparse.Namespace) -> k8sfs.Session:
    from k8sfs.lab import LabError

    lab = _lab(args, quiet=True)
    try:
        lab.host(args.host)
        is_lab_host = True
    except LabError:
        is_lab_host = False
    if is_lab_host:
        # A lab host name means the lab's host; say so when the lab is down
        # rather than looking the name up elsewhere (use user@name for that).
        if not lab.known_hosts_path.exists():
            raise LabError(f"{args.host} is a host of lab {lab.name}, which is not up (k8sfs lab up --lab {lab.name})")
        return lab.session(args.host, connect_timeout=args.connect_timeout)
    user, host, port = _parse_target(args.host)
    return k8sfs.Session(
        host,
        user=user,
        port=port,
        host_key_policy=args.host_key_policy,
        identity_files=args.identity or [],
        connect_timeout=args.connect_timeout,
    )


def cmd_exec(args: argparse.Namespace) -> int:
    command = args.command
    if not command:
        print("k8sfs exec: no command given (k8sfs exec HOST -- COMMAND...)", file=sys.stderr)
        return 2
    # One word is a shell line ("ls | wc -l"); several are an argv, quoted.
    line = command[0] if len(command) == 1 else k8sfs.join_command(command)
    session = _session_for(args)
    stdin = sys.stdin.buffer.read() if args.stdin else None
    try:
        result = session.exec(
            line,
            stdin=stdin,
            timeout=args.timeout,
            sudo=args.sudo,
            on_stdout=lambda line: print(line, flush=True),
            on_stderr=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except k8sfs.TimeoutError as error:
        print(f"k8sfs: {error}", file=sys.stderr)
        return 124  # as timeout(1) does
    if result.exit_signal:
        print(f"k8sfs exec: {args.host}: command killed by signal {result.exit_signal}", file=sys.stderr)
        return 128 + 9
    return result.exit_code


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job: a lab for the spec (the walkthrough's by default), the
    binaries (built from Go modules when not cached), every chapter through
    the smoke test, and what it all shows."""
    from k8sfs import artifacts
    from k8sfs.cli.target import progress as say
    from k8sfs.cli.target import spec_from_args
    from k8sfs.cluster import Cluster

    lab = _lab(args)
    spec = spec_from_args(args, lab.saved_spec())
    if args.print_spec:
        print_spec(spec)
        return 0
    started = time.monotonic()
    try:
        # Everything the chapters use (kubeadm too), from where the spec says.
        artifacts.obtain(
            spec.kubernetes_version,
            source=spec.artifacts.source,
            mirror=spec.artifacts.mirror,
            progress=say,
            runtime=spec.runtime.name,
            addons=spec.addons,
        )
        lab.up(spec)
        say(f"lab up: {', '.join(f'{h.name} {h.address}' for h in lab.hosts)}")
        with Cluster.for_lab(lab, progress=say) as cluster:
            done = cluster.apply()
            first_worker = next(h.name for h in cluster.spec.hosts if h.worker)
            first_plane = next(h.name for h in cluster.spec.hosts if h.control_plane)
            shown = [
                cluster.crictl(first_worker, "ps"),
                cluster.exec(first_worker, "crictl exec $(crictl ps -q --name hello) wget -qO- http://127.0.0.1:8081/"),
                cluster.kubectl("get", "--raw", "/readyz"),
                cluster.kubectl("get", "nodes", "-o", "wide"),
                cluster.kubectl("-n", "k8sfs-smoke", "get", "pods,services", "-o", "wide"),
                cluster.exec(first_plane, [layout.script("k8sfs-smoke-test")], timeout=120),
            ]
        rows = [
            [sp.step.host, sp.step.chapter, sp.step.name, sp.step.description, "changed" if sp.changed else "ok"]
            for sp in done.steps
        ]
        print(render_table(["HOST", "CHAPTER", "STEP", "WHAT", "RESULT"], rows))
        for result in shown:
            print(f"\n{result.where}$ {result.command}\n{result.stdout.rstrip()}")
            if not result.ok:
                raise RuntimeError(
                    f"{result.where}: `{result.command}` exited {result.exit_code}: {result.stderr.strip()[-500:]}"
                )
        print(
            f"done in {time.monotonic() - started:.1f}s: the cluster built from scratch passed its smoke test",
            file=sys.stderr,
        )
        return 0
    finally:
        if args.keep:
            print(
                f"lab {lab.name} left up (--keep): k8sfs lab ssh --lab {lab.name} {lab.hosts[0].name}; "
                f"k8sfs lab down --lab {lab.name} when done",
                file=sys.stderr,
            )
        else:
            lab.down()


# The module that adds each command's parser. A command line builds only
# its own command's (k8sfs pki init then imports no chapters, artifacts or
# urllib: start-up is most of a short command's time); --help, no command or
# an unknown one builds them all. A test keeps this table true.
COMMAND_MODULES = {
    "cluster": (
        "plan",
        "apply",
        "chapters",
        "explain",
        "init",
        "picture",
        "spec-schema",
        "verify",
        "spec",
        "kubectl",
        "helm",
        "kubeconfig",
        "status",
        "etcd",
        "node",
        "reset",
    ),
    "pki": ("pki",),
    "artifacts": ("artifacts",),
    "image": ("image",),
}
BUILT_IN = ("lab", "exec", "demo")  # added here, in build_parser


def add_module_parsers(sub: argparse._SubParsersAction, module: str) -> None:
    importlib.import_module(f"k8sfs.cli.{module}").add_parsers(sub)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with `command` only what that command needs."""
    parser = argparse.ArgumentParser(
        prog="k8sfs",
        description="Build a Kubernetes cluster from scratch, component by component, over SSH.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"k8sfs {k8sfs.__version__}")
    sub = parser.add_subparsers(dest="command_name", metavar="COMMAND")
    sub.required = True

    lab = sub.add_parser(
        "lab",
        help="the local lab: a spec's hosts on this machine (root)",
        description="A spec's hosts (by default the walkthrough's k8s-master, node-1, node-2) as "
        "systemd-nspawn containers in network namespaces on a bridge, reachable over "
        "SSH from this machine. Hosts keep their disks until `lab down`; the "
        "cluster's state (CAs, keys, journal) stays until `lab down --purge`.",
        epilog=LAB_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lab_sub = lab.add_subparsers(dest="lab_command", metavar="ACTION")
    lab_sub.required = True
    p = lab_sub.add_parser(
        "up",
        help="make the lab, or bring stopped hosts back with their disks",
        description="Make one lab host per spec host (same names and roles; addresses from the "
        "spec when they lie in the lab subnet, else assigned and reported). A lab "
        "that is up is left alone; stopped or crashed hosts boot again with their "
        "disks; new spec hosts are added.",
    )
    add_lab_options(p)
    p.add_argument(
        "--spec", metavar="FILE", help="make the lab for this spec (default: the lab's own, or the walkthrough's)"
    )
    add_spec_shorthands(p)
    p.set_defaults(func=cmd_lab_up)
    p = lab_sub.add_parser(
        "down",
        help="remove the hosts and their disks (the cluster's state stays)",
        description="Remove every process, mount, namespace, link and file the lab made, the "
        "hosts' disks included (safe to repeat). The cluster's state on the controller "
        "(CAs, secrets-at-rest key, journal) stays unless --purge.",
    )
    add_lab_options(p)
    p.add_argument("--purge", action="store_true", help="also remove the cluster's state (it says what)")
    p.set_defaults(func=cmd_lab_down)
    p = lab_sub.add_parser("status", help="each host's address and state (exit 3 if not all up)")
    add_lab_options(p)
    p.set_defaults(func=cmd_lab_status)
    p = lab_sub.add_parser("start", help="boot stopped hosts again with their disks")
    add_lab_options(p)
    p.add_argument("hosts", nargs="+", metavar="HOST")
    p.set_defaults(func=cmd_lab_start)
    p = lab_sub.add_parser("stop", help="power hosts off (disks kept); --kill: a power cut")
    add_lab_options(p)
    p.add_argument("hosts", nargs="+", metavar="HOST")
    p.add_argument(
        "--kill", action="store_true", help="SIGKILL the host's nspawn and every process in it, as a power cut would"
    )
    p.set_defaults(func=cmd_lab_stop)
    p = lab_sub.add_parser(
        "ssh",
        help="open a shell (or run a command) on a lab host with OpenSSH",
        description="Open an interactive shell on a lab host with OpenSSH.",
    )
    add_lab_options(p)
    p.add_argument("host", help="a lab host (k8s-master, node-1, ...)")
    p.add_argument("command", nargs="*", help="optional command (after --) instead of a shell")
    p.set_defaults(func=cmd_lab_ssh)

    p = sub.add_parser(
        "exec",
        help="run a command on a host through k8sfs and exit with its code",
        description="Run a command on one host over SSH (k8sfs's libssh transport), streaming its "
        "output, and exit with its exit code. HOST is a lab host name or "
        "[user@]host[:port] (honouring ~/.ssh/config).",
    )
    add_lab_options(p)
    p.add_argument("host", metavar="HOST")
    p.add_argument(
        "command",
        nargs="*",
        metavar="-- COMMAND...",
        help="one word is run as a shell line; several words are quoted as an argument vector",
    )
    p.add_argument("--timeout", type=float, default=0, help="kill the command after this many seconds")
    p.add_argument("--sudo", action="store_true", help="run through sudo when the login user is not root")
    p.add_argument("--stdin", action="store_true", help="send this command's standard input to the remote command")
    p.add_argument("-i", "--identity", action="append", metavar="KEY", help="private key file (repeatable)")
    p.add_argument(
        "--host-key-policy",
        choices=["strict", "accept-new", "off"],
        default="strict",
        help="known_hosts checking for non-lab hosts (default: %(default)s)",
    )
    p.add_argument("--connect-timeout", type=float, default=10, help="seconds (default: %(default)s)")
    p.set_defaults(func=cmd_exec)

    for module, commands in COMMAND_MODULES.items():
        if command is None or command in commands:
            add_module_parsers(sub, module)

    p = sub.add_parser(
        "demo",
        help="the main job: a lab cluster from scratch through the smoke test",
        description="Build the binaries if they are not cached, bring the lab up for the spec (the "
        "walkthrough's by default), apply every chapter (certificates, swap, runtime, "
        "kubelet, crictl, static pod, etcd, kube-apiserver, authorization, kubectl, "
        "nodes, controllers, pod network, kube-proxy, DNS, smoke test), print what ran "
        "where and what the smoke test saw, then take the lab down (unless --keep).",
    )
    add_lab_options(p)
    p.add_argument("--spec", metavar="FILE", help="the cluster to build (default: the walkthrough's)")
    add_spec_shorthands(p)
    p.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first "--" is the remote command, verbatim; options
    # may stand anywhere before it (k8sfs exec node-1 --timeout 5 -- cmd).
    tail = None
    if "--" in argv:
        cut = argv.index("--")
        argv, tail = argv[:cut], argv[cut + 1 :]
    named = argv[0] if argv and not argv[0].startswith("-") else None
    known = named in BUILT_IN or any(named in commands for commands in COMMAND_MODULES.values())
    args = build_parser(named if known else None).parse_args(argv)
    if tail is not None:
        if not hasattr(args, "command"):
            build_parser(named if known else None).error("'--' is only used before a command (exec, lab ssh)")
        args.command = list(args.command or []) + tail
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("k8sfs: interrupted", file=sys.stderr)
        return 130
    except (k8sfs.SSHError, RuntimeError, ValueError, OSError) as error:
        print(f"k8sfs: {error}", file=sys.stderr)
        return 1
