"""`k8sfs artifacts ...`: the binaries the cluster runs, in a verified cache."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from k8sfs import artifacts, versions
from k8sfs.spec import RUNTIMES
from k8sfs.table import render_table

EPILOG = """\
The cache (default ~/.cache/k8sfs/artifacts, or $K8SFS_CACHE/artifacts) holds one verified file per
name, version and platform. `fetch` needs internet and checks each download against the digest the
project publishes; `build` makes the same binaries from Go modules (k8s.io/kubernetes,
sigs.k8s.io/cri-tools, go.etcd.io/etcd) with the version stamped in: about 7 minutes cold on 2 cores,
seconds when Go's build cache is warm; cached artifacts are never rebuilt.

examples:
  k8sfs artifacts get                       what is missing: releases if reachable, else Go builds
  k8sfs artifacts get --source fetch        releases only (no Go needed)
  k8sfs artifacts build                     everything for the lab's Kubernetes version
  k8sfs artifacts build kubelet crictl --version v1.34.4
  k8sfs artifacts build --addons local-path,metrics
                                            the default set and the add-ons' binaries (always built)
  k8sfs artifacts fetch --version v1.34.4   official releases (internet)
  k8sfs artifacts import kubelet ./kubelet --version v1.34.4 --sha256 <hex>
  k8sfs artifacts list
"""


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cmd_list(args: argparse.Namespace) -> int:
    cache = artifacts.ArtifactCache(args.cache)
    rows = [[a.name, a.version, a.platform, f"{a.size / 1e6:.1f} MB", a.sha256[:16], a.source] for a in cache.list()]
    if not rows:
        print(f"the artifact cache {cache.root} is empty: k8sfs artifacts build", file=sys.stderr)
        return 0
    print(render_table(["NAME", "VERSION", "PLATFORM", "SIZE", "SHA256", "SOURCE"], rows))
    return 0


def _addons(args: argparse.Namespace) -> list[str]:
    from k8sfs.addons import ADDONS

    chosen = [a for a in args.addons.split(",") if a]
    for addon in chosen:
        if addon not in ADDONS:
            raise artifacts.ArtifactError(f"--addons: unknown add-on {addon!r}; known: {', '.join(ADDONS)}")
    return chosen


def cmd_build(args: argparse.Namespace) -> int:
    started = time.monotonic()
    built = artifacts.build(
        args.version, args.names or None, artifacts.ArtifactCache(args.cache), _progress, args.runtime, _addons(args)
    )
    print(
        render_table(
            ["NAME", "VERSION", "SHA256", "SOURCE"], [[a.name, a.version, a.sha256[:16], a.source] for a in built]
        )
    )
    _progress(f"done in {time.monotonic() - started:.0f}s")
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    started = time.monotonic()
    got = artifacts.obtain(
        args.version,
        args.names or None,
        artifacts.ArtifactCache(args.cache),
        args.source,
        args.mirror,
        _progress,
        args.runtime,
        _addons(args),
    )
    print(
        render_table(
            ["NAME", "VERSION", "SHA256", "SOURCE"], [[a.name, a.version, a.sha256[:16], a.source] for a in got]
        )
    )
    _progress(f"done in {time.monotonic() - started:.0f}s")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    cache = artifacts.ArtifactCache(args.cache)
    wanted = artifacts.versions_for(args.version)
    for name in args.names or artifacts.names_for(args.runtime, args.version, _addons(args)):
        if name not in wanted:
            raise artifacts.ArtifactError(f"unknown artifact {name!r}; known: {', '.join(wanted)}")
        if cache.lookup(name, wanted[name]) is None:
            cache.fetch(name, wanted[name], progress=_progress, mirror=args.mirror)
    return cmd_list(args)


def cmd_import(args: argparse.Namespace) -> int:
    cache = artifacts.ArtifactCache(args.cache)
    path = Path(args.file)
    if not path.is_file():
        raise artifacts.ArtifactError(f"{path} is not a file")
    a = cache.add(args.name, args.version, path, f"import {path.resolve()}", args.sha256)
    print(f"imported {a.name} {a.version}: sha256 {a.sha256}")
    return 0


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "artifacts",
        help="binaries for the cluster: get, list, fetch, build, import",
        description="The binaries the cluster runs, kept in a verified cache on this machine.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="artifacts_command", metavar="ACTION")
    actions.required = True

    def common(q: argparse.ArgumentParser, with_names: bool = True) -> None:
        q.add_argument(
            "--version",
            default=versions.LAB_KUBERNETES_VERSION,
            help="Kubernetes version; etcd and crictl follow it (default: %(default)s)",
        )
        q.add_argument("--cache", metavar="DIR", help="artifact cache (default: $K8SFS_CACHE/artifacts)")
        if with_names:
            q.add_argument("names", nargs="*", metavar="NAME", help="default: what a cluster on --runtime needs")
            q.add_argument(
                "--runtime",
                choices=RUNTIMES,
                default="containerd",
                help="with crio, CRI-O's crio and pinns are in the default set too (default: %(default)s)",
            )
            q.add_argument(
                "--addons",
                default="",
                metavar="LIST",
                help="add-ons (comma-separated: local-path, metrics) whose binaries join the default set",
            )

    q = actions.add_parser(
        "get",
        help="what is missing, from the release site when it answers, else built",
        description="Get every artifact that is not cached: --source auto (default) fetches the "
        "official releases when their site answers and builds from Go modules "
        "otherwise; fetch needs no Go; build needs no internet beyond the module "
        "proxy. A download whose sha256 differs from the published one is refused.",
    )
    common(q)
    q.add_argument(
        "--source",
        choices=["auto", "fetch", "build"],
        default=os.environ.get("K8SFS_ARTIFACT_SOURCE", "auto"),
        help="where from (default: $K8SFS_ARTIFACT_SOURCE or %(default)s)",
    )
    q.add_argument("--mirror", default="", metavar="URL", help="a mirror laid out like the release sites")
    q.set_defaults(func=cmd_get)
    q = actions.add_parser("list", help="what the cache holds")
    common(q, with_names=False)
    q.set_defaults(func=cmd_list)
    q = actions.add_parser("build", help="build from Go modules (no internet needed beyond the module proxy)")
    common(q)
    q.set_defaults(func=cmd_build)
    q = actions.add_parser("fetch", help="download official releases and check their published sha256")
    common(q)
    q.add_argument("--mirror", default="", metavar="URL", help="a mirror laid out like the release sites")
    q.set_defaults(func=cmd_fetch)
    q = actions.add_parser("import", help="add a file you already have")
    q.add_argument("name")
    q.add_argument("file")
    q.add_argument("--version", required=True)
    q.add_argument("--sha256", help="expected digest; a mismatch is an error and nothing is added")
    q.add_argument("--cache", metavar="DIR")
    q.set_defaults(func=cmd_import)
