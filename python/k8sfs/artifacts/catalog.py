"""What each artifact is and where its official release lives.

A download is verified against the digest the project publishes next to
it; the lab, which cannot reach download sites, builds the same binaries
from Go modules instead (gobuild.py). Both end in the same cache.
"""

from __future__ import annotations

from dataclasses import dataclass

from k8sfs.addons import ADDONS  # built only for a spec that lists the add-on

# The commands of k8s.io/kubernetes k8sfs uses (kubeadm only as a reference for tests).
KUBERNETES = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
    "kubeadm",
)

# containerd 2 and what it runs containers with (the runc shim) and its CLI.
CONTAINERD = ("containerd", "containerd-shim-runc-v2", "ctr")


@dataclass(frozen=True)
class Release:
    url: str  # the file to download
    sha256_url: str  # where the project publishes its digest
    sha256_name: str = ""  # the file's name in a SHA256SUMS list ("" = the file holds one digest)
    member: str = ""  # path of the binary inside a .tar.gz ("" = the download is the binary)


def mirrored(release: Release, mirror: str) -> Release:
    """The same release from a mirror laid out like the sites: <mirror>/<host>/<path>."""
    if not mirror:
        return release
    base = mirror.rstrip("/")
    return Release(
        f"{base}/{release.url.split('://', 1)[1]}",
        f"{base}/{release.sha256_url.split('://', 1)[1]}",
        release.sha256_name,
        release.member,
    )


def release(name: str, version: str, os_name: str = "linux", arch: str = "amd64") -> Release:
    if name in KUBERNETES:
        url = f"https://dl.k8s.io/release/{version}/bin/{os_name}/{arch}/{name}"
        return Release(url, url + ".sha256")
    if name == "crictl":
        url = (
            f"https://github.com/kubernetes-sigs/cri-tools/releases/download/{version}/"
            f"crictl-{version}-{os_name}-{arch}.tar.gz"
        )
        return Release(url, url + ".sha256", member="crictl")
    if name in ("etcd", "etcdctl", "etcdutl"):
        base = f"https://github.com/etcd-io/etcd/releases/download/{version}"
        tarball = f"etcd-{version}-{os_name}-{arch}.tar.gz"
        return Release(
            f"{base}/{tarball}",
            f"{base}/SHA256SUMS",
            sha256_name=tarball,
            member=f"etcd-{version}-{os_name}-{arch}/{name}",
        )
    if name in ("crio", "pinns"):
        tarball = f"https://storage.googleapis.com/cri-o/artifacts/cri-o.{arch}.{version}.tar.gz"
        return Release(
            tarball, tarball + ".sha256sum", sha256_name=f"cri-o.{arch}.{version}.tar.gz", member=f"cri-o/bin/{name}"
        )
    if name in CONTAINERD:
        bare = version.lstrip("v")
        base = f"https://github.com/containerd/containerd/releases/download/{version}"
        tarball = f"containerd-{bare}-{os_name}-{arch}.tar.gz"
        return Release(f"{base}/{tarball}", f"{base}/{tarball}.sha256sum", sha256_name=tarball, member=f"bin/{name}")
    if name == "kube-bench":
        bare = version.lstrip("v")
        base = f"https://github.com/aquasecurity/kube-bench/releases/download/{version}"
        tarball = f"kube-bench_{bare}_{os_name}_{arch}.tar.gz"
        return Release(
            f"{base}/{tarball}", f"{base}/kube-bench_{bare}_checksums.txt", sha256_name=tarball, member="kube-bench"
        )
    if name in ("e2e.test", "ginkgo"):  # the test binaries' tarball of the release
        url = f"https://dl.k8s.io/release/{version}/kubernetes-test-{os_name}-{arch}.tar.gz"
        return Release(url, url + ".sha256", member=f"kubernetes/test/bin/{name}")
    if name in ("agnhost", "nnp", "e2e-images"):
        raise KeyError(f"{name} (from k8s.io/kubernetes's test/) is built, not fetched: k8sfs artifacts build")
    if name == "sample-apiserver":
        raise KeyError("sample-apiserver (k8s.io/sample-apiserver) is built, not fetched: k8sfs artifacts build")
    if name == "registry":
        raise KeyError("registry (the lab's, github.com/distribution/distribution/v3) is built, not fetched")
    if name == "kube-bench-cfg":
        raise KeyError("kube-bench-cfg (the cfg/ of kube-bench's module) is built, not fetched: k8sfs artifacts build")
    if name == "helm":
        raise KeyError("helm (helm.sh/helm/v4) is built from its Go module, not fetched: k8sfs artifacts build helm")
    if name in ADDONS.values():
        raise KeyError(f"{name} (an add-on) is built from its Go module, not fetched: k8sfs artifacts build {name}")
    if name == "coredns":
        bare = version.lstrip("v")
        url = f"https://github.com/coredns/coredns/releases/download/{version}/coredns_{bare}_{os_name}_{arch}.tgz"
        return Release(url, url + ".sha256", member="coredns")
    raise KeyError(f"unknown artifact {name!r}; known: {', '.join(known_names())}")


def known_names() -> list[str]:
    return [
        *KUBERNETES,
        "crictl",
        "etcd",
        "etcdctl",
        "etcdutl",
        "coredns",
        *CONTAINERD,
        "crio",
        "pinns",
        "kube-bench",
        "kube-bench-cfg",
        "e2e.test",
        "agnhost",
        "nnp",
        "e2e-images",
        "sample-apiserver",
        "ginkgo",
        "registry",
        *ADDONS.values(),
        "helm",
    ]


def fetchable(name: str) -> bool:
    """Whether `name` has an official release to fetch (else it is built)."""
    try:
        release(name, "v0")
    except KeyError:
        return False
    return True
