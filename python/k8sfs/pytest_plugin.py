"""A pytest plugin: integration tests against a real cluster built from
scratch by k8sfs in a local lab, as pytest-kind does with kind.

    pytest --k8sfs-lab                      # a lab named k8sfspy, made and removed by the run
    pytest --k8sfs-lab --k8sfs-spec my.yaml # that spec's cluster
    pytest --k8sfs-lab --k8sfs-lab-name k8sfs --k8sfs-keep

    def test_my_operator(k8sfs_cluster):
        k8sfs_cluster.kubectl("apply", "-f", "deploy.yaml")
        assert "Running" in k8sfs_cluster.kubectl("get", "pods").stdout
        os.environ["KUBECONFIG"] = str(k8sfs_cluster.kubeconfig)   # for any client library

A lab that is already up when the run starts is used as it is (apply makes
it match the spec) and left up; a lab the run makes is removed at the end,
with its cluster state, unless --k8sfs-keep. Needs root (the lab does).
Registered as the `k8sfs` pytest11 entry point."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from k8sfs.cluster import Cluster, CommandResult


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("k8sfs", "a from-scratch Kubernetes cluster in a k8sfs lab")
    group.addoption("--k8sfs-lab", action="store_true", help="build (or reuse) a k8sfs lab cluster for the tests")
    group.addoption("--k8sfs-lab-name", default="k8sfspy", help="lab name (default: %(default)s)")
    group.addoption("--k8sfs-subnet", default="192.168.85.0/24", help="lab subnet (default: %(default)s)")
    group.addoption("--k8sfs-spec", default=None, help="cluster spec (default: the walkthrough's)")
    group.addoption("--k8sfs-keep", action="store_true", help="leave the lab up after the run")


@dataclass
class LabCluster:
    """What a test gets: the admin kubeconfig and kubectl with it."""

    cluster: Cluster
    kubeconfig: Path

    def kubectl(self, *args: str, timeout: float = 120) -> CommandResult:
        return self.cluster.kubectl(*args, timeout=timeout)


@pytest.fixture(scope="session")
def k8sfs_cluster(request: pytest.FixtureRequest) -> Iterator[LabCluster]:
    config = request.config
    if not config.getoption("--k8sfs-lab"):
        pytest.skip("needs a lab cluster: run pytest with --k8sfs-lab (root)")
    from k8sfs import artifacts
    from k8sfs.lab import Lab
    from k8sfs.spec import load_spec

    def say(message: str) -> None:
        print(f"[k8sfs] {message}", file=sys.stderr, flush=True)

    spec_file = config.getoption("--k8sfs-spec")
    lab = Lab(name=config.getoption("--k8sfs-lab-name"), subnet=config.getoption("--k8sfs-subnet"), progress=say)
    was_up = lab.known_hosts_path.exists() and lab.is_up()
    spec = load_spec(spec_file) if spec_file else None
    wanted = spec or lab.saved_spec()
    artifacts.obtain(
        wanted.kubernetes_version,
        source=wanted.artifacts.source,
        mirror=wanted.artifacts.mirror,
        progress=say,
        runtime=wanted.runtime.name,
        addons=wanted.addons,
    )
    try:
        lab.up(spec)
        with Cluster.for_lab(lab, progress=say) as cluster:
            cluster.apply()
            yield LabCluster(cluster, cluster.pki_dir / "admin.conf")
    finally:
        if not was_up and not config.getoption("--k8sfs-keep"):
            lab.down(purge=True)
