"""k8sfs image: put your own images where the nodes pull from."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def _source(args: argparse.Namespace) -> Iterator[Path]:
    """The archive or layout to read: the argument itself, or with --daemon
    the image of that name exported by docker or podman for the while."""
    if not args.daemon:
        yield Path(args.source)
        return
    from k8sfs.images.daemon import saved_image

    with saved_image(args.daemon, args.source) as archive:
        yield archive


def cmd_push(args: argparse.Namespace) -> int:
    from k8sfs.cli.target import _lab, progress
    from k8sfs.images.daemon import DaemonError
    from k8sfs.images.oci import ArchiveError
    from k8sfs.images.push import PushError, push_archive
    from k8sfs.lab.registry import MIRRORED

    if args.registry:
        registry_host, ca_file = args.registry, Path(args.ca_file) if args.ca_file else None
        mirrored: tuple[str, ...] = ()
    else:
        lab = _lab(args)
        if not lab.made():
            print(f"k8sfs: lab {lab.name} is not made: k8sfs lab up --lab {lab.name}", file=sys.stderr)
            return 1
        registry = lab.registry(build=False)
        if registry.pid() is None:
            print(
                f"k8sfs: lab {lab.name}'s registry is not running: k8sfs lab up --lab {lab.name} starts it",
                file=sys.stderr,
            )
            return 1
        registry_host, ca_file, mirrored = registry.host, registry.ca_file, MIRRORED
    login = None
    if args.username:
        if not args.password_file:
            print("k8sfs: --username needs --password-file (a password is never an argument)", file=sys.stderr)
            return 2
        login = (args.username, Path(args.password_file).expanduser().read_text().strip())
    started = time.monotonic()
    try:
        with _source(args) as source:
            pushed = push_archive(source, args.names, registry_host, ca_file, mirrored, login, progress)
    except (ArchiveError, ValueError, OSError, DaemonError) as error:
        print(f"k8sfs: {error}", file=sys.stderr)
        return 2
    except PushError as error:
        print(f"k8sfs: pushing {args.source}: {error}", file=sys.stderr)
        return 1
    for p in pushed:
        print(f"pushed {p.name} as {p.reference} ({p.digest}): {p.sent} bytes sent, {p.skipped} blob(s) already there")
    print(f"{len(pushed)} name(s) in {time.monotonic() - started:.1f} s")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from k8sfs.cli.target import open_cluster, progress
    from k8sfs.images.daemon import DaemonError
    from k8sfs.images.oci import ArchiveError
    from k8sfs.operations.image_load import load_image

    started = time.monotonic()
    try:
        with _source(args) as source, open_cluster(args, "image load") as cluster, cluster.writing():
            done = load_image(cluster, source, args.names, progress)
    except (ArchiveError, ValueError, DaemonError) as error:
        print(f"k8sfs: {error}", file=sys.stderr)
        return 2
    for host, what in done.items():
        print(f"{host}: {what}")
    print(f"{len(done)} worker(s) in {time.monotonic() - started:.1f} s")
    return 0


def add_parsers(sub: Any) -> None:
    from k8sfs.cli.target import add_lab_options

    p = sub.add_parser(
        "image",
        help="put your own images where the nodes pull from (the lab registry, or any registry)",
        description="Put your own images where the nodes pull from. `push` sends an image "
        "(docker save, podman save, an OCI layout) to the lab registry, which every lab node asks first for "
        "docker.io, registry.k8s.io, ghcr.io and quay.io images, so a manifest that names "
        "nginx:1.27 pulls what you pushed under that name.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  docker save busybox:1.36 -o busybox.tar\n"
        "  k8sfs image push --lab k8sfs busybox.tar              # under the names it carries\n"
        "  k8sfs image push busybox.tar docker.io/me/tools:1.0    # under names you give\n"
        "  k8sfs image push --daemon podman localhost/tools:dev docker.io/me/tools:1.0\n"
        "  k8sfs kubectl --lab -- create deployment tools --image=me/tools:1.0",
    )
    actions = p.add_subparsers(dest="image_command", metavar="ACTION")
    actions.required = True
    q = actions.add_parser("push", help="send an image to the lab registry (or --registry)")
    add_lab_options(q)
    q.add_argument(
        "source",
        metavar="IMAGE",
        help="a docker-archive (docker save), an OCI archive (podman save --format oci-archive) "
        "or an OCI layout directory (skopeo copy ... oci:DIR); with --daemon, an image name in docker or podman",
    )
    q.add_argument("names", nargs="*", metavar="NAME", help="as pods name it (default: the names the archive carries)")
    _add_daemon_option(q)
    q.add_argument("--registry", metavar="HOST[:PORT]", help="push to this registry instead of the lab's")
    q.add_argument("--ca-file", metavar="FILE", help="the CA the registry's certificate chains to (--registry)")
    q.add_argument("--username", metavar="USER", help="a login for the registry")
    q.add_argument("--password-file", metavar="FILE", help="the login's password, read from this file")
    q.set_defaults(func=cmd_push)
    from k8sfs.cli.target import add_target_options

    q = actions.add_parser(
        "load",
        help="import an image archive on every worker, for clusters without a registry (like kind load)",
    )
    add_target_options(q)
    q.add_argument(
        "source",
        metavar="IMAGE",
        help="a docker-archive, an OCI archive or an OCI layout directory; "
        "with --daemon, an image name in docker or podman",
    )
    q.add_argument("names", nargs="*", metavar="NAME", help="as pods name it (default: the names the archive carries)")
    _add_daemon_option(q)
    q.set_defaults(func=cmd_load)


def _add_daemon_option(q: Any) -> None:
    q.add_argument(
        "--daemon",
        choices=("docker", "podman"),
        help="IMAGE is a name in this tool's local store, exported with its `save` (as kind load docker-image does)",
    )
