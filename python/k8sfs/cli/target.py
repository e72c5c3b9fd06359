"""The CLI's target options, defined once: which cluster a command works
on (a spec's hosts, or a lab's), where its controller state lives, and the
shorthands that write a spec (--control-planes, --workers, --version,
--runtime, --addons) for a lab cluster.

    --spec FILE          the cluster spec (default: the walkthrough's)
    --lab [NAME]         the hosts of a local lab (NAME: $K8SFS_LAB or k8sfs)
    --subnet CIDR        the lab's subnet when it is made ($K8SFS_LAB_SUBNET)
    --state DIR          the controller state (default: per cluster)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from k8sfs.cluster import Cluster
    from k8sfs.lab import Lab
    from k8sfs.spec import ClusterSpec

DEFAULT_LAB = "k8sfs"


def lab_name_default() -> str:
    return os.environ.get("K8SFS_LAB", DEFAULT_LAB)


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def add_lab_options(parser: argparse.ArgumentParser) -> None:
    """For commands on a lab only (lab up/down/..., exec, demo)."""
    parser.add_argument(
        "--lab",
        default=lab_name_default(),
        metavar="NAME",
        help="lab name, 1-8 lower-case letters/digits (default: $K8SFS_LAB or %(default)s)",
    )
    parser.add_argument(
        "--subnet",
        default=os.environ.get("K8SFS_LAB_SUBNET"),
        metavar="CIDR",
        help="the lab's subnet when it is made; the controller takes .1, hosts .10 up "
        "(default: the lab's own, else 192.168.50.0/24)",
    )


def add_target_options(parser: argparse.ArgumentParser, state: bool = True) -> None:
    """For commands on a cluster (plan, apply, status, kubectl, reset, ...)."""
    parser.add_argument(
        "--spec",
        metavar="FILE",
        help="cluster spec (YAML/JSON); default: the walkthrough's cluster, or with --lab the lab's own spec",
    )
    parser.add_argument(
        "--lab",
        nargs="?",
        const=lab_name_default(),
        metavar="NAME",
        help="the hosts of this local lab (NAME defaults to $K8SFS_LAB or k8sfs); with --spec, "
        "that spec on the lab's hosts",
    )
    parser.add_argument(
        "--subnet",
        default=os.environ.get("K8SFS_LAB_SUBNET"),
        metavar="CIDR",
        help="the lab's subnet (only needed before the lab is made)",
    )
    if state:
        parser.add_argument(
            "--state", metavar="DIR", help="controller state: PKI, logs, journal, lock (default: per cluster)"
        )


# The attributes the shorthands set; any of them given means a new spec.
SHORTHANDS = ("control_planes", "workers", "kubernetes_version", "runtime", "addons")


def shorthands_given(args: argparse.Namespace) -> bool:
    return any(getattr(args, k, None) is not None for k in SHORTHANDS)


def add_spec_shorthands(parser: argparse.ArgumentParser) -> None:
    """Flags that produce a spec, shown with --print-spec."""
    parser.add_argument(
        "--control-planes",
        type=int,
        metavar="N",
        help="N control-plane hosts with stacked etcd (k8s-master or k8s-master-1..N)",
    )
    parser.add_argument("--workers", type=int, metavar="M", help="M workers (node-1..M)")
    parser.add_argument("--version", dest="kubernetes_version", metavar="V", help="Kubernetes version, e.g. v1.34.4")
    parser.add_argument("--runtime", choices=["containerd", "crio"], help="container runtime")
    parser.add_argument(
        "--addons",
        metavar="LIST",
        help="add-ons, comma-separated: local-path (a default StorageClass on node disks), "
        "metrics (metrics-server); '' for none",
    )
    parser.add_argument("--print-spec", action="store_true", help="print the spec these options give and stop")


def _lab(args: argparse.Namespace, quiet: bool = False) -> Lab:
    from k8sfs.lab import Lab

    return Lab(name=args.lab, subnet=args.subnet, progress=(lambda _m: None) if quiet else progress)


def spec_from_args(args: argparse.Namespace, base: ClusterSpec | None = None) -> ClusterSpec:
    """The spec of --spec (or `base`), with the shorthands applied."""
    from k8sfs.spec import RuntimeOptions, SpecError, load_spec, resized, spec_from_dict, spec_to_dict

    spec = load_spec(args.spec) if getattr(args, "spec", None) else base or load_spec(None)
    spec = resized(
        spec, getattr(args, "control_planes", None), getattr(args, "workers", None), getattr(args, "subnet", None)
    )
    if getattr(args, "kubernetes_version", None):
        spec = dataclasses.replace(spec, kubernetes_version=args.kubernetes_version)
    if getattr(args, "runtime", None):
        spec = dataclasses.replace(spec, runtime=RuntimeOptions(args.runtime, spec.runtime.cgroup_driver))
    if getattr(args, "addons", None) is not None:
        spec = dataclasses.replace(spec, addons=[a for a in args.addons.split(",") if a])
    try:
        return spec_from_dict(spec_to_dict(spec))  # every check a file gets
    except SpecError as error:
        raise SpecError(f"the spec from the command line: {error}") from None


def print_spec(spec: ClusterSpec) -> None:
    import yaml

    from k8sfs.spec import spec_to_dict

    print("# k8sfs cluster spec (k8sfs plan --spec FILE reads it back)")
    print(yaml.safe_dump(spec_to_dict(spec), sort_keys=False), end="")


def open_cluster(args: argparse.Namespace, command: str = "apply") -> Cluster:
    """The Cluster for the target options: a lab's hosts (with its own spec
    or --spec fitted to them) or a spec's hosts over SSH."""
    from k8sfs.cluster import Cluster
    from k8sfs.engine.runner import HOSTS_AT_ONCE

    state = Path(args.state) if getattr(args, "state", None) else None
    at_once = getattr(args, "hosts_at_once", None) or HOSTS_AT_ONCE
    relay = bool(getattr(args, "relay_uploads", False))
    if args.lab:
        lab = _lab(args, quiet=True)
        if not lab.known_hosts_path.exists():
            raise ValueError(
                f"lab {lab.name} is not up: k8sfs lab up --lab {lab.name}"
                + (f" --spec {args.spec}" if args.spec else "")
            )
        spec = spec_from_args(args, lab.saved_spec()) if args.spec else None
        cluster = Cluster.for_lab(
            lab, state_dir=state, progress=progress, spec=spec, hosts_at_once=at_once, relay_uploads=relay
        )
        cluster.lock.command = command
        return cluster
    import k8sfs

    spec = spec_from_args(args)

    def connect(name: str) -> k8sfs.Session:
        h = spec.host(name)
        if spec.ssh_config:  # the config says how to reach it (HostName, key, known_hosts)
            return k8sfs.Session(h.name, user=h.user, port=h.port, ssh_config=spec.ssh_config)
        return k8sfs.Session(h.name, hostname=h.address, user=h.user, port=h.port)

    return Cluster(
        spec, connect, state_dir=state, progress=progress, command=command, hosts_at_once=at_once, relay_uploads=relay
    )


def target_spec(args: argparse.Namespace) -> ClusterSpec:
    """The target's spec without connecting to anything."""
    if args.lab:
        lab = _lab(args, quiet=True)
        return lab.cluster_spec(spec_from_args(args, lab.saved_spec()) if args.spec else None)
    return spec_from_args(args)


def state_dir(args: argparse.Namespace) -> Path:
    """The controller state directory without connecting to anything."""
    if getattr(args, "state", None):
        return Path(args.state)
    if args.lab:
        return _lab(args, quiet=True).cluster_state_dir
    from k8sfs.state_paths import default_state_dir

    return default_state_dir(spec_from_args(args))
