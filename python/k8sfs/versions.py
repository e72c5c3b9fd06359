"""Which versions go together, and which one the lab uses.

The lab's Kubernetes is v1.34.4: the lab hosts run cgroup v1 and Debian
bookworm's containerd 1.6; 1.34 is the newest minor where kubelet only
warns about cgroup v1 (1.35 needs failCgroupV1: false) and containerd 1.x
is supported, and v1.34.4 is served by the Go module proxy. Rendering
supports 1.21 (the walkthrough's v1.21.6) to the newest minor.
"""

from __future__ import annotations

import re

from k8sfs import _core

# A Kubernetes release as the spec and the hosts' --version spell it.
VERSION = re.compile(r"v(\d+)\.(\d+)\.(\d+)")

LAB_KUBERNETES_VERSION = "v1.34.4"
# The CIS benchmark checker `k8sfs verify cis` runs (its cis-1.11 definitions cover 1.31-1.34).
KUBE_BENCH_VERSION = "v0.14.0"
# The lab's image registry (CNCF distribution, github.com/distribution/distribution/v3).
REGISTRY_VERSION = "v3.1.2"
# The storage add-on: rancher's local-path-provisioner. v0.0.30 (client-go
# v0.30, stable APIs only: PersistentVolumes, StorageClasses, Pods) serves
# every minor k8sfs builds; it is also the only version the Go module proxy
# here serves, so the pin is one for all minors until a minor needs another.
LOCAL_PATH_PROVISIONER_VERSION = "v0.0.30"
# The metrics add-on: metrics-server v0.8.0 (client-go v0.33; the Metrics
# API v1beta1 it serves is the same for every minor k8sfs builds).
METRICS_SERVER_VERSION = "v0.8.0"
# The helm CLI on the controller (helm.sh/helm/v4; it talks to the cluster
# through client-go v0.36, within the skew of every minor k8sfs builds).
HELM_VERSION = "v4.3.2"

# etcd as kubeadm pins it per minor (cmd/kubeadm/app/constants), nearest lower
# wins; for 1.21 the walkthrough's 3.5.1 instead of kubeadm's 3.4.13.
_ETCD = {
    21: "v3.5.1",
    22: "v3.5.0",
    26: "v3.5.6",
    27: "v3.5.7",
    29: "v3.5.10",
    31: "v3.5.15",
    33: "v3.5.21",
    34: "v3.6.5",
}
# crictl speaks CRI v1, which every runtime k8sfs configures serves (containerd
# 1.6+, CRI-O 1.21+), so one crictl serves many minors. The module proxy here
# serves only v1.34.0 and v1.37.0 of sigs.k8s.io/cri-tools (checked 2026-11-27).
_CRICTL = {21: "v1.34.0", 37: "v1.37.0"}
# CoreDNS as kubeadm pins it per minor.
_COREDNS = {
    21: "v1.8.0",
    22: "v1.8.4",
    25: "v1.9.3",
    27: "v1.10.1",
    29: "v1.11.1",
    32: "v1.11.3",
    33: "v1.12.0",
    34: "v1.12.1",
}


# containerd 2 for the minors that need it (1.36 dropped containerd 1.x);
# before that the host's package (Debian bookworm: 1.6) serves. Built from
# github.com/containerd/containerd/v2, which the module proxy serves.
CONTAINERD_2 = "v2.4.2"
CONTAINERD_2_FROM_MINOR = 36


def containerd_from_artifacts(kubernetes_version: str) -> bool:
    """Whether k8sfs installs containerd (2.x) itself rather than the host's package."""
    return minor(kubernetes_version) >= CONTAINERD_2_FROM_MINOR


def crio_version(kubernetes_version: str) -> str:
    """CRI-O's minor follows Kubernetes' (its release policy); the .0 of that minor."""
    return f"v1.{minor(kubernetes_version)}.0"


def triple(version: str) -> tuple[int, int, int]:
    """(major, minor, patch) of any release (running ones too, which the
    renderers may not support); ValueError names a malformed one."""
    found = VERSION.fullmatch(version)
    if not found:
        raise ValueError(f"{version!r} is not a version like v1.34.4")
    major, minor_, patch = (int(g) for g in found.groups())
    return major, minor_, patch


def minor(version: str) -> int:
    """The minor of a version k8sfs renders (the C++ core's KubeVersion decides which)."""
    return _core.KubeVersion.parse(version).minor


def _nearest(table: dict[int, str], mi: int) -> str:
    return table[max(k for k in table if k <= mi)]


def etcd_version(kubernetes_version: str) -> str:
    return _nearest(_ETCD, minor(kubernetes_version))


def crictl_version(kubernetes_version: str) -> str:
    return _nearest(_CRICTL, minor(kubernetes_version))


def coredns_version(kubernetes_version: str) -> str:
    return _nearest(_COREDNS, minor(kubernetes_version))
