"""`k8sfs kubeconfig`: the admin kubeconfig for the user's own kubectl,
written 0600, or merged into an existing file only when asked, after a
backup; other contexts are kept."""

from __future__ import annotations

import pytest
import yaml

from k8sfs.kubeconfig import KubeconfigError, export

ADMIN = """apiVersion: v1
kind: Config
clusters:
- name: kubernetes
  cluster: {server: "https://192.168.50.10:6443", certificate-authority-data: Q0E=}
users:
- name: kubernetes-admin
  user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}
contexts:
- name: kubernetes-admin@kubernetes
  context: {cluster: kubernetes, user: kubernetes-admin}
current-context: kubernetes-admin@kubernetes
"""


def test_a_new_file_gets_one_context_named_after_the_cluster(tmp_path):
    target = tmp_path / ".kube" / "config"
    export(ADMIN, "k8sfs-k8sfs", target)
    config = yaml.safe_load(target.read_text())
    assert (target.stat().st_mode & 0o777) == 0o600
    assert config["current-context"] == "k8sfs-k8sfs"
    assert config["contexts"] == [{"name": "k8sfs-k8sfs", "context": {"cluster": "k8sfs-k8sfs", "user": "k8sfs-k8sfs"}}]
    assert config["clusters"][0]["cluster"]["server"] == "https://192.168.50.10:6443"


def test_an_existing_file_is_only_merged_when_asked_and_backed_up_first(tmp_path):
    target = tmp_path / "config"
    mine = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "work",
        "clusters": [{"name": "work", "cluster": {"server": "https://work:6443"}}],
        "users": [{"name": "work", "user": {"token": "t"}}],
        "contexts": [{"name": "work", "context": {"cluster": "work", "user": "work"}}],
    }
    original = yaml.safe_dump(mine)
    target.write_text(original)
    with pytest.raises(KubeconfigError, match="add --merge"):
        export(ADMIN, "k8sfs-k8sfs", target)
    assert target.read_text() == original
    message = export(ADMIN, "k8sfs-k8sfs", target, merge=True)
    merged = yaml.safe_load(target.read_text())
    assert {c["name"] for c in merged["contexts"]} == {"work", "k8sfs-k8sfs"}
    assert merged["current-context"] == "k8sfs-k8sfs"
    backups = list(tmp_path.glob("config.k8sfs-backup-*"))
    assert len(backups) == 1 and backups[0].read_text() == original and str(backups[0]) in message
    export(ADMIN, "k8sfs-k8sfs", target, merge=True)  # again: replaced, not duplicated
    assert [c["name"] for c in yaml.safe_load(target.read_text())["contexts"]].count("k8sfs-k8sfs") == 1
