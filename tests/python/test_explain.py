"""Every flag and field k8sfs writes is explained (k8sfs.explain): each
component rendered at every supported minor, with both runtimes, one
control plane and three, on machines and on lab hosts; a flag added
without a reason fails here. The explanations as data are checked too:
every reference page they name exists, and links go to the docs of the
version k8sfs renders."""

from __future__ import annotations

import dataclasses

import pytest

from k8sfs import chapters
from k8sfs.cluster import Cluster
from k8sfs.explain import all_entries, all_refs, doc_values, explain
from k8sfs.spec import ClusterSpec, RuntimeOptions, endpoint_for, sized_hosts

MINORS = range(21, 38)


def rendered_files(version: str, runtime: str, ha: bool, profile: str, tmp_path) -> dict[str, bytes | None]:
    spec = ClusterSpec()
    spec = dataclasses.replace(
        spec,
        kubernetes_version=version,
        runtime=RuntimeOptions(runtime, spec.runtime.cgroup_driver),
        host_profile=profile,
    )
    if ha:
        spec = dataclasses.replace(
            spec, control_plane_endpoint=endpoint_for("192.168.50.0/24"), hosts=sized_hosts(3, 2, "192.168.50.0/24")
        )
    cluster = Cluster(spec, connect=None, state_dir=tmp_path / "state")
    _, ctx = cluster.controller_plan()
    files: dict[str, bytes | None] = {}
    for step in chapters.build_steps(ctx, list(chapters.CHAPTERS)):
        for f in step.files:
            files.setdefault(f.path, f.content if isinstance(f.content, bytes) else None)
    return files


@pytest.mark.parametrize("minor", MINORS, ids=[f"1.{m}" for m in MINORS])
def test_every_flag_and_field_of_every_file_has_a_reason(minor, tmp_path, monkeypatch):
    monkeypatch.setenv("K8SFS_CACHE", str(tmp_path / "cache"))
    version = f"v1.{minor}.0"
    missing = []
    for runtime in ("containerd", "crio"):
        values = doc_values(version, runtime)
        for ha in (False, True):
            for profile in ("machine", "container"):
                for path, content in rendered_files(version, runtime, ha, profile, tmp_path).items():
                    found = explain(path, content.decode() if content else None, values)
                    missing += [f"{runtime} {profile} {'ha' if ha else '1cp'}: {path}: {k}" for k in found.unexplained]
                    if not found.what:
                        missing.append(f"{path}: no word on what the file is")
    assert sorted(set(missing)) == []


ETCD_UNIT = """[Service]
ExecStart=/usr/local/bin/etcd \\
  --name=k8s-master \\
  --data-dir=/var/lib/etcd
"""


def test_a_flag_added_without_a_reason_is_named():
    values = doc_values("v1.34.4")
    assert explain("/etc/systemd/system/etcd.service", ETCD_UNIT, values).unexplained == []
    added = ETCD_UNIT.replace("--data-dir=/var/lib/etcd", "--data-dir=/var/lib/etcd \\\n  --experimental-thing=1")
    assert explain("/etc/systemd/system/etcd.service", added, values).unexplained == ["--experimental-thing"]
    field = "cgroupDriver: systemd\nsomeNewField: true\n"
    assert explain("/var/lib/kubelet/config.yaml", field, values).unexplained == ["someNewField"]


def test_a_file_nobody_explained_is_named():
    assert explain("/etc/something-new.conf", "x", doc_values("v1.34.4")).unexplained == ["(the file itself)"]


def test_links_go_to_the_docs_of_the_version_k8sfs_renders():
    for version, docs in (
        ("v1.21.6", "https://v1-21.docs.kubernetes.io/docs/"),
        ("v1.34.4", "https://v1-34.docs.kubernetes.io/docs/"),
    ):
        unit = "ExecStart=/usr/local/bin/kube-apiserver --secure-port=6443\n"
        found = explain("/etc/systemd/system/kube-apiserver.service", unit, doc_values(version))
        assert found.reasons[0].ref == docs + "reference/command-line-tools-reference/kube-apiserver/"
    etcd = explain("/etc/systemd/system/etcd.service", ETCD_UNIT, doc_values("v1.34.4"))
    assert etcd.ref == "https://etcd.io/docs/v3.6/op-guide/configuration/"
    assert explain("/etc/systemd/system/etcd.service", ETCD_UNIT, doc_values("v1.21.6")).ref.startswith(
        "https://etcd.io/docs/v3.5/"
    )
    scheduler = (
        "apiVersion: kubescheduler.config.k8s.io/v1beta1\nkind: KubeSchedulerConfiguration\nenableProfiling: false\n"
    )
    found = explain("/etc/kubernetes/kube-scheduler.yaml", scheduler, doc_values("v1.21.6"))
    assert found.reasons[0].ref.endswith("/reference/config-api/kube-scheduler-config.v1beta1/")


def test_the_reasons_themselves_are_complete():
    refs = all_refs()
    problems = []
    for path, entry in all_entries().items():
        if not entry.get("what"):
            problems.append(f"{path}: no what")
        names = [entry.get("ref", "")] + [
            r.get("ref", "") for r in (entry.get("keys") or {}).values() if isinstance(r, dict)
        ]
        problems += [
            f"{path}: unknown page {n}" for n in names if n and n.partition("#")[0] not in refs and "://" not in n
        ]
        for key, reason in (entry.get("keys") or {}).items():
            for variant in reason if isinstance(reason, list) else [reason]:
                if not variant.get("what") or not variant.get("why"):
                    problems.append(f"{path}: {key}: a reason needs what and why")
    assert problems == []
