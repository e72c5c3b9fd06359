"""Distribution on the lab: `k8sfs pki push` puts each host's files where
kubeadm would, with kubeadm's modes, keeps the CA keys on the controller,
and a second push finds everything current."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import TEST_LAB, TEST_SUBNET

pytestmark = pytest.mark.lab


def k8sfs(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "k8sfs.cli", *args, "--lab", TEST_LAB, "--subnet", TEST_SUBNET],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"k8sfs {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
    return proc


def stat_files(session, paths: list[str]) -> dict[str, str]:
    result = session.exec(["stat", "-c", "%n %a %U:%G", *paths])
    return {line.split()[0]: " ".join(line.split()[1:]) for line in result.stdout.splitlines()}


def test_push_places_files_with_modes_and_keeps_ca_keys_home(lab, tmp_path):
    directory = str(tmp_path / "pki")
    k8sfs("pki", "init", "--dir", directory)
    k8sfs("pki", "push", "--dir", directory)

    with lab.session("k8s-master") as master:
        files = stat_files(
            master,
            [
                "/etc/kubernetes/pki/apiserver.key",
                "/etc/kubernetes/pki/apiserver.crt",
                "/etc/kubernetes/pki/etcd/server.key",
                "/etc/kubernetes/pki/sa.key",
                "/etc/kubernetes/pki/sa.pub",
                "/etc/kubernetes/admin.conf",
            ],
        )
        assert files["/etc/kubernetes/pki/apiserver.key"] == "600 root:root"
        assert files["/etc/kubernetes/pki/apiserver.crt"] == "644 root:root"
        assert files["/etc/kubernetes/pki/etcd/server.key"] == "600 root:root"
        assert files["/etc/kubernetes/pki/sa.pub"] == "644 root:root"
        assert files["/etc/kubernetes/admin.conf"] == "600 root:root"
        leftover = master.exec(
            "ls /etc/kubernetes/pki/ca.key /etc/kubernetes/pki/etcd/ca.key "
            "/etc/kubernetes/pki/front-proxy-ca.key 2>/dev/null | wc -l"
        )
        assert leftover.stdout.strip() == "0"
        pushed = master.exec(["cat", "/etc/kubernetes/pki/apiserver.crt"], check=True).stdout
    assert pushed == (tmp_path / "pki/pki/apiserver.crt").read_text()

    with lab.session("node-1") as node:
        files = stat_files(
            node, ["/etc/kubernetes/kubelet.conf", "/var/lib/kubelet/pki/kubelet.key", "/etc/kubernetes/pki/ca.crt"]
        )
        assert files["/etc/kubernetes/kubelet.conf"] == "600 root:root"
        assert files["/var/lib/kubelet/pki/kubelet.key"] == "600 root:root"
        assert node.exec("test -e /etc/kubernetes/pki/apiserver.key").exit_code != 0

    second = k8sfs("pki", "push", "--dir", directory)
    rows = [line.split() for line in second.stdout.splitlines()[2:]]
    assert {row[0] for row in rows} == {"k8s-master", "node-1", "node-2"}
    assert all(row[1] == "0" and int(row[2]) > 0 for row in rows), second.stdout
