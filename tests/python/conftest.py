"""Shared fixtures. Integration tests run against a lab of their own (name
and subnet differ from the demo's, so a demo lab that is up is left alone),
which is always taken down at the end, even when tests fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

TEST_LAB = os.environ.get("K8SFS_TEST_LAB", "k8sfst")
TEST_SUBNET = os.environ.get("K8SFS_TEST_SUBNET", "192.168.77.0/24")
# The machine's forwarding setting before any test made a lab (a test's
# "before" must be read before the thing under test runs).
IP_FORWARD_AT_START = Path("/proc/sys/net/ipv4/ip_forward").read_text()


def run_k8sfs(
    *args: str, check: bool = True, timeout: float = 600, env: dict | None = None, input: str | None = None
) -> subprocess.CompletedProcess:
    """The k8sfs command as a user runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "k8sfs.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        input=input,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"k8sfs {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def artifacts_missing(version: str | None = None) -> list[str]:
    from k8sfs.artifacts import ArtifactCache, versions_for
    from k8sfs.versions import LAB_KUBERNETES_VERSION

    wanted = versions_for(version or LAB_KUBERNETES_VERSION)
    return [n for n in wanted if ArtifactCache().lookup(n, wanted[n]) is None]


def require_lab_and_artifacts() -> None:
    """Skips (saying why) where a lab cannot run or the binaries are not built."""
    reason = lab_unavailable_reason()
    if reason:
        pytest.skip(reason)
    missing = artifacts_missing()
    if missing:
        pytest.skip(f"{', '.join(missing)} not in the artifact cache; `make test` builds them (k8sfs artifacts build)")


def wait_for(what: str, check, timeout: float, interval: float = 1.0) -> float:
    """Seconds until `check()` is true; fails the test after `timeout`."""
    started = time.monotonic()
    last = None
    while time.monotonic() - started < timeout:
        try:
            last = check()
            if last:
                return time.monotonic() - started
        except Exception as error:  # not yet: the next try says
            last = error
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")


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
        pytest.skip(
            f"kubectl {LAB_KUBERNETES_VERSION} is not in the artifact cache; `make test` builds it "
            "(k8sfs artifacts build)"
        )
    return str(found.path)


# Figures the lab tests measure (restart to Ready, ...), printed at the end
# of the run for the record; no test asserts a time it measured.
MEASURED: list[tuple[str, str]] = []


def measured(what: str, value: str) -> None:
    MEASURED.append((what, value))
    print(f"[measured] {what}: {value}")


def pytest_terminal_summary(terminalreporter):
    if MEASURED:
        terminalreporter.section("measured on the lab")
        for what, value in MEASURED:
            terminalreporter.write_line(f"{what}: {value}")
