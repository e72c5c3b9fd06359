"""Binaries for the cluster: a verified cache on the controller, filled
from official releases (fetch), local Go builds (build) or files you bring
(import). The rest of k8sfs only asks the cache."""

from __future__ import annotations

import functools
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

from k8sfs import versions
from k8sfs.artifacts import catalog, gobuild
from k8sfs.artifacts.cache import Artifact, ArtifactCache, ArtifactError, sha256_file

__all__ = [
    "Artifact",
    "ArtifactCache",
    "ArtifactError",
    "build",
    "names_for",
    "obtain",
    "release_site_answers",
    "sha256_file",
    "versions_for",
    "LAB_TOOLS",
]


MODULES = {
    "crictl": "sigs.k8s.io/cri-tools",
    "etcd": "go.etcd.io/etcd/server/v3",
    "etcdctl": "go.etcd.io/etcd/etcdctl/v3",
    "etcdutl": "go.etcd.io/etcd/etcdutl/v3",
    "containerd": "github.com/containerd/containerd/v2",
    "containerd-shim-runc-v2": "github.com/containerd/containerd/v2",
    "ctr": "github.com/containerd/containerd/v2",
    "crio": "github.com/cri-o/cri-o",
    "pinns": "github.com/cri-o/cri-o",
    "coredns": "github.com/coredns/coredns",
    "kube-bench": "github.com/aquasecurity/kube-bench",
    "kube-bench-cfg": "github.com/aquasecurity/kube-bench",
    "registry": "github.com/distribution/distribution/v3",
    "local-path-provisioner": "github.com/rancher/local-path-provisioner",
    "metrics-server": "sigs.k8s.io/metrics-server",
    "helm": "helm.sh/helm/v4",
}
# Single-binary programs: the package each is built from within its module,
# and the version stamped in (the add-ons' binaries, the helm CLI).
PROGRAM_PACKAGES = {
    "local-path-provisioner": ("github.com/rancher/local-path-provisioner", ""),
    "metrics-server": (
        "sigs.k8s.io/metrics-server/cmd/metrics-server",
        "k8s.io/client-go/pkg/version.gitVersion",
    ),
    "helm": ("helm.sh/helm/v4/cmd/helm", "helm.sh/helm/v4/internal/version.version"),
}


def versions_for(kubernetes_version: str) -> dict[str, str]:
    """Each artifact's version for a Kubernetes version (etcd and crictl have their own)."""
    out = {name: kubernetes_version for name in catalog.KUBERNETES}
    out["crictl"] = versions.crictl_version(kubernetes_version)
    out["etcd"] = out["etcdctl"] = out["etcdutl"] = versions.etcd_version(kubernetes_version)
    out["coredns"] = versions.coredns_version(kubernetes_version)
    out["crio"] = out["pinns"] = versions.crio_version(kubernetes_version)
    for name in catalog.CONTAINERD:
        out[name] = versions.CONTAINERD_2
    out["kube-bench"] = out["kube-bench-cfg"] = versions.KUBE_BENCH_VERSION
    out["registry"] = versions.REGISTRY_VERSION
    out["local-path-provisioner"] = versions.LOCAL_PATH_PROVISIONER_VERSION
    out["metrics-server"] = versions.METRICS_SERVER_VERSION
    out["helm"] = versions.HELM_VERSION
    # ginkgo: the CLI at the version this Kubernetes requires (gobuild.build_ginkgo)
    for name in (*CONFORMANCE_TOOLS, PARALLEL_TOOL):
        out[name] = kubernetes_version
    return out


# Binaries only one container runtime uses; the others are on every host.
# containerd's only where k8sfs installs containerd 2 itself (1.36+); before
# that containerd and runc come from the host's packages.
RUNTIME_ONLY = {"crio": ("crio", "pinns"), "containerd": catalog.CONTAINERD}
# What `k8sfs verify` runs; built when it is asked for, never by default.
# nnp: the program of the suite's nonewprivs image; e2e-images: the image
# names the version's suite uses (its manifest.go); sample-apiserver: what
# the Aggregator spec deploys.
CONFORMANCE_TOOLS = ("e2e.test", "agnhost", "nnp", "e2e-images", "sample-apiserver")
PARALLEL_TOOL = "ginkgo"  # runs e2e.test in parallel processes (--parallel)
VERIFY_TOOLS = ("kube-bench", "kube-bench-cfg", *CONFORMANCE_TOOLS, PARALLEL_TOOL)
# What the lab runs on the controller's side: its image registry (lab/registry.py).
LAB_TOOLS = ("registry",)
# What a person runs on the controller against the cluster: `k8sfs helm`.
CLIENT_TOOLS = ("helm",)


def names_for(
    runtime: str = "containerd",
    kubernetes_version: str = versions.LAB_KUBERNETES_VERSION,
    addons: Iterable[str] = (),
) -> list[str]:
    """What a cluster on `runtime` at `kubernetes_version` with `addons`
    needs: the default set of get and build, so a containerd cluster never
    waits on (or fails at) building CRI-O, nor one on the host's containerd
    1.x at containerd 2, nor one without an add-on at building it."""
    other = {n for r, ns in RUNTIME_ONLY.items() if r != runtime for n in ns}
    if not versions.containerd_from_artifacts(kubernetes_version):
        other.update(catalog.CONTAINERD)
    other.update(n for addon, n in catalog.ADDONS.items() if addon not in addons)
    return [n for n in catalog.known_names() if n not in other and n not in (*VERIFY_TOOLS, *LAB_TOOLS, *CLIENT_TOOLS)]


def build(
    kubernetes_version: str,
    names: Iterable[str] | None = None,
    cache: ArtifactCache | None = None,
    progress: Callable[[str], None] = print,
    runtime: str = "containerd",
    addons: Iterable[str] = (),
) -> list[Artifact]:
    """Build what is not cached yet from Go modules; cached ones are kept."""
    cache = cache or ArtifactCache()
    wanted = versions_for(kubernetes_version)
    names = list(names) if names else names_for(runtime, kubernetes_version, addons)
    for n in names:
        if n not in wanted:
            raise ArtifactError(f"unknown artifact {n!r}; known: {', '.join(wanted)}")
    missing = [n for n in names if cache.lookup(n, wanted[n]) is None]
    work = cache.root.parent / "build"
    staging = work / "out"
    groups: list[tuple[list[str], Callable[[], dict[str, Path]]]] = []
    kube = [n for n in missing if n in catalog.KUBERNETES]
    if kube:
        groups.append(
            (
                kube,
                lambda: gobuild.build_kubernetes(
                    kubernetes_version, staging, work / f"kubernetes-{kubernetes_version}", tuple(kube), progress
                ),
            )
        )
    crio: list[str] = [n for n in ("crio", "pinns") if n in missing]
    if crio:
        v = wanted["crio"]
        groups.append((crio, functools.partial(gobuild.build_crio, v, staging, work / f"cri-o-{v}", progress)))
    containerd = [n for n in catalog.CONTAINERD if n in missing]
    if containerd:
        v = wanted["containerd"]
        groups.append(
            (containerd, functools.partial(gobuild.build_containerd, v, staging, work / f"containerd-{v}", progress))
        )
    e2e = [n for n in CONFORMANCE_TOOLS if n in missing and n != "sample-apiserver"]
    if e2e:
        groups.append(
            (
                e2e,
                functools.partial(
                    gobuild.build_kubernetes_tests,
                    kubernetes_version,
                    staging,
                    work / f"kubernetes-tests-{kubernetes_version}",
                    progress,
                    tuple(e2e),
                ),
            )
        )
    if "sample-apiserver" in missing:
        groups.append(
            (
                ["sample-apiserver"],
                functools.partial(
                    gobuild.build_sample_apiserver,
                    kubernetes_version,
                    staging,
                    work / f"sample-apiserver-{kubernetes_version}",
                    progress,
                ),
            )
        )
    if PARALLEL_TOOL in missing:
        groups.append(
            (
                [PARALLEL_TOOL],
                functools.partial(
                    gobuild.build_ginkgo, kubernetes_version, staging, work / f"ginkgo-{kubernetes_version}", progress
                ),
            )
        )
    bench: list[str] = [n for n in ("kube-bench", "kube-bench-cfg") if n in missing]
    if bench:
        v = wanted["kube-bench"]
        groups.append(
            (bench, functools.partial(gobuild.build_kube_bench, v, staging, work / f"kube-bench-{v}", progress))
        )
    if "registry" in missing:
        v = wanted["registry"]
        groups.append(
            (["registry"], functools.partial(gobuild.build_registry, v, staging, work / f"registry-{v}", progress))
        )
    for program in (n for n in PROGRAM_PACKAGES if n in missing):
        module, v = MODULES[program], wanted[program]
        package, version_var = PROGRAM_PACKAGES[program]
        groups.append(
            (
                [program],
                functools.partial(
                    gobuild.build_module,
                    module,
                    v,
                    [package],
                    staging,
                    work / f"{program}-{v}",
                    "-s -w" + (f" -X {version_var}={v}" if version_var else ""),
                    progress=progress,
                    upstream_sums=True,
                ),
            )
        )
    if "crictl" in missing:
        v = wanted["crictl"]
        groups.append(
            (["crictl"], functools.partial(gobuild.build_critools, v, staging, work / f"cri-tools-{v}", progress))
        )
    for tool in ("etcd", "etcdctl", "etcdutl", "coredns"):
        if tool in missing:
            module, v = MODULES[tool], wanted[tool]
            groups.append(
                (
                    [tool],
                    functools.partial(
                        gobuild.build_module, module, v, [module], staging, work / f"{tool}-{v}", progress=progress
                    ),
                )
            )
    for group_names, run in groups:
        built = run()
        for n in group_names:
            source = f"build {MODULES.get(n, 'k8s.io/kubernetes')}@{wanted[n]}"
            if n == PARALLEL_TOOL:
                source = f"build {gobuild.GINKGO_MODULE} as k8s.io/kubernetes@{wanted[n]} requires"
            if n == "sample-apiserver":
                source = f"build k8s.io/sample-apiserver@v0.{wanted[n][len('v1.') :]}"
            cache.add(n, wanted[n], built[n], source)
        for path in built.values():  # a group may build more than was missing
            path.unlink(missing_ok=True)
    return [cache.require(n, wanted[n]) for n in names]


def release_site_answers(name: str, version: str, mirror: str = "", timeout: float = 5) -> str:
    """'' when the release site (or mirror) serves `name`'s published digest, else why not."""
    rel = catalog.mirrored(catalog.release(name, version), mirror)
    try:
        with urllib.request.urlopen(rel.sha256_url, timeout=timeout) as response:  # noqa: S310
            response.read(1)
        return ""
    except (OSError, ValueError) as error:
        return f"{rel.sha256_url}: {getattr(error, 'reason', error)}"


def obtain(
    kubernetes_version: str,
    names: Iterable[str] | None = None,
    cache: ArtifactCache | None = None,
    source: str = "auto",
    mirror: str = "",
    progress: Callable[[str], None] = print,
    runtime: str = "containerd",
    addons: Iterable[str] = (),
) -> list[Artifact]:
    """What is not cached yet, from where `source` says: `fetch` the official
    releases (checked against their published sha256), `build` from Go
    modules, or `auto`: fetch when the release site answers, else build. A
    download whose digest does not match is refused, never replaced by a
    build. What has no release to fetch (the add-ons) is always built."""
    cache = cache or ArtifactCache()
    wanted = versions_for(kubernetes_version)
    names = list(names) if names else names_for(runtime, kubernetes_version, addons)
    built_only = [n for n in names if not catalog.fetchable(n)]
    if built_only and source != "build":
        build(kubernetes_version, built_only, cache, progress, runtime)
        names_left = [n for n in names if n not in built_only]
        if not names_left:
            return [cache.require(n, wanted[n]) for n in names]
        obtain(kubernetes_version, names_left, cache, source, mirror, progress, runtime)
        return [cache.require(n, wanted[n]) for n in names]
    missing = [n for n in names if n in wanted and cache.lookup(n, wanted[n]) is None]
    if missing and source == "auto":
        why = release_site_answers(missing[0], wanted[missing[0]], mirror)
        source = "build" if why else "fetch"
        progress(
            f"artifacts: {why}; building from Go modules instead"
            if why
            else f"artifacts: fetching the official releases{' from ' + mirror if mirror else ''}"
        )
    if missing and source == "fetch":
        for n in missing:
            cache.fetch(n, wanted[n], progress=progress, mirror=mirror)
        return [cache.require(n, wanted[n]) for n in names]
    if source not in ("auto", "fetch", "build"):
        raise ArtifactError(f"artifact source {source!r}: use auto, fetch or build")
    return build(kubernetes_version, names, cache, progress, runtime)
