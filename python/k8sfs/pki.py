"""The cluster's PKI from Python: plan, apply, check, renew, import.

The work is the C++ core's (k8sfs._core.PkiStore and the certificate
table); this module adds the spec glue and readable plan text. Pushing the
files to hosts is the engine's certificates chapter
(k8sfs.chapters.control_plane.pki_file_steps).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from k8sfs import _core
from k8sfs.spec import ClusterSpec


def default_dir(spec: ClusterSpec) -> Path:
    """Where the controller keeps a cluster's PKI: $K8SFS_STATE/<cluster>/pki
    (default ./k8sfs-state), the same directory `k8sfs apply` uses."""
    from k8sfs.state_paths import default_state_dir, pki_dir

    return pki_dir(default_state_dir(spec))


def materials(spec: ClusterSpec) -> list:
    """The certificate table for a spec: every CA, key pair, leaf and kubeconfig."""
    return list(_core.cluster_materials(spec.pki_spec()))


def store(spec: ClusterSpec, directory: str | Path | None = None) -> _core.PkiStore:
    return _core.PkiStore(str(directory if directory is not None else default_dir(spec)))


def plan_lines(plan: _core.PkiPlan) -> list[str]:
    """One line per material that changes (never key material)."""
    lines = []
    for item in plan.items:
        if item.action != "keep":
            lines.append(f"  {item.action:8} {item.name:28} {item.reason}")
    return lines


def describe_distribution(files: list[_core.FileStep]) -> list[str]:
    by_host: dict[str, list] = defaultdict(list)
    for f in files:
        by_host[f.host].append(f)
    lines = []
    for host, steps in by_host.items():
        lines.append(f"  {host}: {len(steps)} files")
        for f in steps:
            if f.local.endswith("ca.key"):
                lines.append(f"    {f.remote} ({oct(f.mode)[2:]}): {f.reason}")
    return lines


WARN_DAYS = 30  # as kubeadm's certs check-expiration; the spec's pki.expiry_warning_days


def days_left(spec: ClusterSpec, directory: str | Path) -> dict[str, int]:
    """Each issued certificate's whole days until it expires."""
    return {s.name: s.days_left for s in store(spec, directory).check(spec.pki_spec()) if s.not_after}


def expiring(spec: ClusterSpec, directory: str | Path, within: int | None = None) -> list[str]:
    """Certificates that expire within `within` days (default: the spec's
    pki.expiry_warning_days), soonest first, as lines a user can act on."""
    within = spec.pki.expiry_warning_days if within is None else within
    soon = sorted((days, name) for name, days in days_left(spec, directory).items() if days < within)
    return [f"{name} expires in {days} days: k8sfs pki renew {name}, then k8sfs apply" for days, name in soon]
