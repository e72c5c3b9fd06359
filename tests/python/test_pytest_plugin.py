"""The pytest plugin (`pytest --k8sfs-lab`), run by pytester in a pytest of
its own, as another project would: its test gets a kubeconfig and kubectl
for a real from-scratch cluster; without the option it skips and says why.
It uses the test lab (already up, so the plugin leaves it up)."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from conftest import TEST_LAB, TEST_SUBNET

pytestmark = pytest.mark.lab

USER_TEST = """
import yaml

def test_nodes_through_the_plugin(k8sfs_cluster):
    nodes = k8sfs_cluster.kubectl("get", "nodes", "-o", "name")
    assert nodes.ok, nodes.stderr
    assert "node/node-1" in nodes.stdout and "node/node-2" in nodes.stdout
    config = yaml.safe_load(k8sfs_cluster.kubeconfig.read_text())
    assert config["clusters"][0]["cluster"]["server"].startswith("https://")
"""


def test_a_project_gets_a_kubeconfig_and_kubectl_for_a_lab_cluster(lab, kubectl, pytester, monkeypatch):
    # pytester gives the inner run (and this test) a HOME of its own; the
    # binaries are in the user's.
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    monkeypatch.setenv("K8SFS_CACHE", os.environ.get("K8SFS_CACHE", str(home / ".cache" / "k8sfs")))
    pytester.makepyfile(USER_TEST)
    result = pytester.runpytest_subprocess(
        "--k8sfs-lab", "--k8sfs-lab-name", TEST_LAB, "--k8sfs-subnet", TEST_SUBNET, timeout=900
    )
    result.assert_outcomes(passed=1)
    assert lab.is_up()  # it was up before: the plugin leaves it


def test_without_the_option_the_fixture_skips_and_says_why(pytester):
    pytester.makepyfile(USER_TEST)
    result = pytester.runpytest_subprocess("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*needs a lab cluster: run pytest with --k8sfs-lab*"])
