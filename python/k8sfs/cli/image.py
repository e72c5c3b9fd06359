"""k8sfs image: put your own images where the nodes pull from."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any


def cmd_push(args: argparse.Namespace) -> int:
    from k8sfs.cli.target import _lab, progress
    from k8sfs.images.oci import ArchiveError, read_docker_archive
    from k8sfs.images.push import PushError, Registry
    from k8sfs.images.reference import Reference
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
    try:
        image = read_docker_archive(Path(args.source))
        names = args.names or [t for t in image.tags if t]
        if not names:
            raise ValueError(f"{args.source} carries no name (RepoTags): give one, e.g. docker.io/library/app:1.0")
        targets = [Reference.parse(n) for n in names]
        stored = [t.in_mirror(registry_host, mirrored) if mirrored else _on(t, registry_host) for t in targets]
    except (ArchiveError, ValueError, OSError) as error:
        print(f"k8sfs: {error}", file=sys.stderr)
        return 2
    client = Registry(registry_host, ca_file, login)
    for name, where in zip(targets, stored, strict=True):
        started = time.monotonic()
        try:
            pushed = client.push(image, where, progress=progress)
        except PushError as error:
            print(f"k8sfs: pushing {name}: {error}", file=sys.stderr)
            return 1
        print(
            f"pushed {name} as {where} ({pushed.digest}): {pushed.sent} bytes sent, "
            f"{pushed.skipped} blob(s) already there, {time.monotonic() - started:.1f} s"
        )
    return 0


def _on(reference: Any, registry: str) -> Any:
    """--registry: the name must be on that registry (no mirroring assumed)."""
    if reference.registry != registry:
        raise ValueError(f"{reference} is not on {registry}: name it {registry}/{reference.repository}:{reference.tag}")
    return reference


def add_parsers(sub: Any) -> None:
    from k8sfs.cli.target import add_lab_options

    p = sub.add_parser(
        "image",
        help="put your own images where the nodes pull from (the lab registry, or any registry)",
        description="Put your own images where the nodes pull from. `push` sends a docker-archive "
        "(docker save, podman save) to the lab registry, which every lab node asks first for "
        "docker.io, registry.k8s.io, ghcr.io and quay.io images, so a manifest that names "
        "nginx:1.27 pulls what you pushed under that name.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  docker save busybox:1.36 -o busybox.tar\n"
        "  k8sfs image push --lab k8sfs busybox.tar              # under the names it carries\n"
        "  k8sfs image push busybox.tar docker.io/me/tools:1.0    # under names you give\n"
        "  k8sfs kubectl --lab -- create deployment tools --image=me/tools:1.0",
    )
    actions = p.add_subparsers(dest="image_command", metavar="ACTION")
    actions.required = True
    q = actions.add_parser("push", help="send an image archive to the lab registry (or --registry)")
    add_lab_options(q)
    q.add_argument("source", metavar="ARCHIVE", help="a docker-archive (docker save / podman save)")
    q.add_argument("names", nargs="*", metavar="NAME", help="as pods name it (default: the names the archive carries)")
    q.add_argument("--registry", metavar="HOST[:PORT]", help="push to this registry instead of the lab's")
    q.add_argument("--ca-file", metavar="FILE", help="the CA the registry's certificate chains to (--registry)")
    q.add_argument("--username", metavar="USER", help="a login for the registry")
    q.add_argument("--password-file", metavar="FILE", help="the login's password, read from this file")
    q.set_defaults(func=cmd_push)
