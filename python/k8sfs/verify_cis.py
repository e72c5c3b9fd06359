"""`k8sfs verify cis`: the CIS Kubernetes Benchmark, checked by kube-bench
on every host for its roles, offline.

kube-bench and its check definitions (cfg/) are artifacts built from its Go
module. Its config names where each component's files usually are (kubeadm
manifests, snaps, ...); k8sfs puts its own paths first, so the checks read
k8sfs's files: for the control-plane components the systemd unit is what
the benchmark calls the "pod specification file" (the file that holds a
component's flags), which is what a reviewer of this cluster would check.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from k8sfs._core import layout
from k8sfs.artifacts import build, versions_for

if TYPE_CHECKING:
    from k8sfs.cluster import Cluster

REMOTE_DIR = "/opt/k8sfs/kube-bench"

# k8sfs's files, put first in kube-bench's candidate lists (cfg/config.yaml).
PATHS: dict[tuple[str, str], dict[str, list[str]]] = {
    ("master", "apiserver"): {"confs": [layout.unit_path("kube-apiserver")]},
    ("master", "scheduler"): {"confs": [layout.unit_path("kube-scheduler")]},
    ("master", "controllermanager"): {"confs": [layout.unit_path("kube-controller-manager")]},
    ("master", "etcd"): {"confs": [layout.unit_path("etcd")], "datadirs": [layout.ETCD_DATA_DIR]},
    ("etcd", "etcd"): {"confs": [layout.unit_path("etcd")], "datadirs": [layout.ETCD_DATA_DIR]},
    ("node", "proxy"): {
        "confs": [layout.KUBE_PROXY_CONFIG],
        "kubeconfig": [layout.KUBE_PROXY_CONF],
        "svc": [layout.unit_path("kube-proxy")],
    },
}


def benchmark_for(minor: int) -> str:
    """The CIS benchmark version kube-bench maps a Kubernetes minor to (its
    cfg/config.yaml version_mapping), newer minors on the newest one."""
    table = {21: "cis-1.20", 22: "cis-1.23", 24: "cis-1.24", 25: "cis-1.7", 26: "cis-1.8", 27: "cis-1.9"}
    table |= {28: "cis-1.10", 29: "cis-1.11"}
    return table[max([k for k in table if k <= minor] or [21])]


def targets_for(control_plane: bool, etcd: bool, worker: bool) -> list[str]:
    out = []
    if control_plane:
        out += ["master", "controlplane"]
    if etcd:
        out.append("etcd")
    if worker:
        out.append("node")
    return out


def k8sfs_config(upstream: str) -> str:
    """kube-bench's config.yaml with k8sfs's paths first."""
    config = yaml.safe_load(upstream)
    for (group, component), lists in PATHS.items():
        section = config.setdefault(group, {}).setdefault(component, {})
        for key, paths in lists.items():
            section[key] = paths + [p for p in section.get(key, []) if p not in paths]
    return yaml.safe_dump(config, sort_keys=False)


@dataclass
class Check:
    number: str
    text: str
    status: str  # PASS, FAIL, WARN, INFO


@dataclass
class HostReport:
    host: str
    targets: list[str]
    checks: list[Check] = field(default_factory=list)
    error: str = ""

    def count(self, status: str) -> int:
        return sum(1 for c in self.checks if c.status == status)

    def sections(self) -> dict[str, dict[str, int]]:
        """Counts per section (1.1, 1.2, ..., 4.2)."""
        out: dict[str, dict[str, int]] = {}
        for c in self.checks:
            section = ".".join(c.number.split(".")[:2])
            counts = out.setdefault(section, {"PASS": 0, "FAIL": 0, "WARN": 0, "INFO": 0})
            counts[c.status] = counts.get(c.status, 0) + 1
        return out


def parse_kube_bench(output: str) -> list[Check]:
    """kube-bench --json: {"Controls": [{"tests": [{"results": [...]}]}]}."""
    data: Any = json.loads(output)
    controls = data.get("Controls", data if isinstance(data, list) else [])
    checks = []
    for control in controls:
        for group in control.get("tests") or []:
            for r in group.get("results") or []:
                checks.append(Check(str(r["test_number"]), str(r.get("test_desc", "")), str(r["status"])))
    return checks


def run(cluster: Cluster, progress: Callable[[str], None] = print) -> list[HostReport]:
    """kube-bench on every host for its roles; nothing on the hosts changes
    but /opt/k8sfs/kube-bench (the checker and its definitions)."""
    wanted = versions_for(cluster.spec.kubernetes_version)
    got = {
        a.name: a for a in build(cluster.spec.kubernetes_version, ["kube-bench", "kube-bench-cfg"], progress=progress)
    }
    cfg_tar = got["kube-bench-cfg"].path
    with tarfile.open(cfg_tar) as tar:
        member = tar.extractfile("cfg/config.yaml")
        assert member is not None, f"{cfg_tar} has no cfg/config.yaml"
        config = k8sfs_config(member.read().decode())
    benchmark = benchmark_for(cluster.spec.kubernetes_minor)
    reports = []
    for h in cluster.spec.hosts:
        targets = targets_for(h.control_plane, h.etcd, h.worker)
        report = HostReport(h.name, targets)
        reports.append(report)
        progress(f"cis: {h.name}: kube-bench {wanted['kube-bench']} {benchmark} --targets {','.join(targets)}")
        session = cluster.session(h.name)
        # sudo: kube-bench reads root-only files (a root login runs directly).
        session.exec(["mkdir", "-p", REMOTE_DIR], sudo=True, check=True)
        session.put(str(got["kube-bench"].path), f"{REMOTE_DIR}/kube-bench", mode=0o755, sudo=True)
        session.put(str(cfg_tar), f"{REMOTE_DIR}/cfg.tar.gz", mode=0o644, sudo=True)
        session.exec(["tar", "-xzf", f"{REMOTE_DIR}/cfg.tar.gz", "-C", REMOTE_DIR], sudo=True, check=True)
        session.put_content(config, f"{REMOTE_DIR}/cfg/config.yaml", mode=0o644, sudo=True)
        result = session.exec(
            [
                f"{REMOTE_DIR}/kube-bench",
                "run",
                "--config-dir",
                f"{REMOTE_DIR}/cfg",
                "--benchmark",
                benchmark,
                "--targets",
                ",".join(targets),
                "--json",
                "--noremediations",
            ],
            timeout=300,
            sudo=True,
        )
        try:
            report.checks = parse_kube_bench(result.stdout)
        except (ValueError, KeyError, TypeError) as error:
            tail = "\n".join(result.stderr.strip().splitlines()[-5:])
            report.error = f"kube-bench exit {result.exit_code}: {error}; stderr: {tail}"
    return reports


def render(reports: list[HostReport]) -> str:
    from k8sfs.table import render_table

    rows: list[list[object]] = []
    for r in reports:
        if r.error:
            rows.append([r.host, "-", "-", "-", "-", r.error])
            continue
        for section, counts in r.sections().items():
            rows.append([r.host, section, counts["PASS"], counts["FAIL"], counts["WARN"], ""])
        rows.append([r.host, "total", r.count("PASS"), r.count("FAIL"), r.count("WARN"), ",".join(r.targets)])
    out = [render_table(["HOST", "SECTION", "PASS", "FAIL", "WARN", "NOTE"], rows)]
    fails = [(r.host, c) for r in reports for c in r.checks if c.status == "FAIL"]
    if fails:
        out.append("\nFAIL:")
        out += [f"  {host:12} {c.number:8} {c.text}" for host, c in fails]
    return "\n".join(out)


def to_json(reports: list[HostReport]) -> str:
    return json.dumps(
        [
            {
                "host": r.host,
                "targets": r.targets,
                "error": r.error,
                "checks": [c.__dict__ for c in r.checks],
            }
            for r in reports
        ],
        indent=2,
    )
