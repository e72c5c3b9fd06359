"""Shared fixtures. Integration tests run against a lab of their own (name
and subnet differ from the demo's, so a demo lab that is up is left alone),
which is always taken down at the end, even when tests fail."""

from __future__ import annotations

import os
import shutil

import pytest

TEST_LAB = os.environ.get("K8SFS_TEST_LAB", "k8sfst")
TEST_SUBNET = os.environ.get("K8SFS_TEST_SUBNET", "192.168.77.0/24")


def lab_unavailable_reason() -> str | None:
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, mounts, systemd-nspawn); run make test as root"
    for tool in ("systemd-nspawn", "debootstrap", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed; make test installs it (scripts/deps.sh)"
    return None


@pytest.fixture(scope="session")
def lab():
    reason = lab_unavailable_reason()
    if reason:
        pytest.skip(reason)
    from k8sfs.lab import Lab

    the_lab = Lab(name=TEST_LAB, subnet=TEST_SUBNET, progress=lambda m: print(f"[lab] {m}"))
    try:
        the_lab.up()
        yield the_lab
    finally:
        the_lab.down()


@pytest.fixture
def master(lab):
    with lab.session("k8s-master") as session:
        yield session


@pytest.fixture
def node1(lab):
    with lab.session("node-1") as session:
        yield session


@pytest.fixture(scope="session")
def kubectl() -> str:
    """The cluster's kubectl from the artifact cache (make test builds it first)."""
    from k8sfs.artifacts import ArtifactCache
    from k8sfs.versions import LAB_KUBERNETES_VERSION

    found = ArtifactCache().lookup("kubectl", LAB_KUBERNETES_VERSION)
    if found is None:
        pytest.skip(f"kubectl {LAB_KUBERNETES_VERSION} is not in the artifact cache; `make test` builds it "
                    "(k8sfs artifacts build)")
    return str(found.path)
