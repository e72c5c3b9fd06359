"""Shared fixtures. Integration tests run against a lab of their own (name
and subnet differ from the demo's, so a demo lab that is up is left alone),
which is always taken down at the end, even when tests fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

TEST_LAB = os.environ.get("K8SFS_TEST_LAB", "k8sfst")
TEST_SUBNET = os.environ.get("K8SFS_TEST_SUBNET", "192.168.77.0/24")
# The machine's forwarding setting before any test made a lab (a test's
# "before" must be read before the thing under test runs).
IP_FORWARD_AT_START = Path("/proc/sys/net/ipv4/ip_forward").read_text()
# State of spec clusters (`--spec`) goes to a directory of the run's own,
# never into ./k8sfs-state of the checkout the tests run from; it holds CA
# keys, so it goes when the run ends (pytest_sessionfinish).
SPEC_STATE_OWNED = "K8SFS_STATE" not in os.environ
SPEC_STATE = Path(os.environ.setdefault("K8SFS_STATE", tempfile.mkdtemp(prefix="k8sfs-test-state-")))


# Everything k8sfs printed during the run, for the secrets scan at the end
# (test_zz_secrets.py), and what that scan found in state directories that
# were purged before it ran.
OUTPUTS: list[str] = []
SECRET_FINDINGS: list[str] = []
SECRET_PATTERNS = ("PRIVATE KEY-----", "client-key-data: LS0t", "eyJhbGciOi")


def secrets_in(text: str, where: str, keys: list[str]) -> list[str]:
    found = [f"{where}: {p!r}" for p in SECRET_PATTERNS if p in text]
    found += [f"{where}: the secrets-at-rest key" for k in keys if k and k in text]
    return found


def scan_state(state_dir: Path) -> list[str]:
    """Secrets in what k8sfs writes beside a cluster's state (logs, journal,
    timeline, lock); the PKI and the key files themselves are meant to hold them."""
    state_dir = Path(state_dir)
    keys = [p.read_text().strip() for p in state_dir.glob("secrets/*") if p.is_file()]
    found = []
    for path in [
        *state_dir.glob("logs/*.log"),
        *state_dir.glob("*.jsonl"),
        *state_dir.glob("*.json"),
        state_dir / "lock",
    ]:
        if path.is_file():
            found += secrets_in(path.read_text(errors="replace"), str(path), keys)
    return found


def purge_lab(name: str) -> None:
    """Takes a test's own lab down with its cluster state, scanning that state for secrets first."""
    from k8sfs.lab import Lab

    lab = Lab(name=name, progress=print)
    SECRET_FINDINGS.extend(scan_state(lab.cluster_state_dir))
    lab.down(purge=True)


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
    if args and args[0] not in ("kubectl", "exec"):  # those print what kubectl or the host printed
        OUTPUTS.append(f"k8sfs {' '.join(args)}\n{proc.stdout}\n{proc.stderr}")
    if check and proc.returncode != 0:
        raise AssertionError(f"k8sfs {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def artifacts_missing(version: str | None = None, runtime: str = "containerd") -> list[str]:
    from k8sfs.artifacts import ArtifactCache, names_for, versions_for
    from k8sfs.versions import LAB_KUBERNETES_VERSION

    version = version or LAB_KUBERNETES_VERSION
    wanted = versions_for(version)
    return [n for n in names_for(runtime, version) if ArtifactCache().lookup(n, wanted[n]) is None]


def require_lab_and_artifacts(runtime: str = "containerd") -> None:
    """Skips (saying why) where a lab cannot run or the binaries are not built."""
    reason = lab_unavailable_reason()
    if reason:
        pytest.skip(reason)
    missing = artifacts_missing(runtime=runtime)
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
        the_lab.down(purge=True)  # the tests' cluster state (CA, journal) goes too


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


def pytest_sessionfinish(session, exitstatus):
    if SPEC_STATE_OWNED:
        shutil.rmtree(SPEC_STATE, ignore_errors=True)


def pytest_terminal_summary(terminalreporter):
    if MEASURED:
        terminalreporter.section("measured on the lab")
        for what, value in MEASURED:
            terminalreporter.write_line(f"{what}: {value}")
