"""Shared fixtures. Integration tests run against a lab of their own (name
and subnet differ from the demo's, so a demo lab that is up is left alone),
which is always taken down at the end, even when tests fail."""

from __future__ import annotations

import json
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


# Everything every command printed during the run (each subprocess the
# tests start, whatever helper starts it: k8sfs, kubectl, exec, notebooks'
# kernels aside), for the secrets scan at the end (test_zz_secrets.py);
# what that scan found in state directories purged before it ran; and how
# much was scanned. A command that prints key material on purpose (a test
# that reads a key to check it) is started with DELIBERATE_SECRETS in its
# environment and is counted, not scanned.
OUTPUTS: list[str] = []
DELIBERATE: list[str] = []
SECRET_FINDINGS: list[str] = []
SCANNED = {"files": 0, "bytes": 0}
SECRET_PATTERNS = ("PRIVATE KEY-----", "client-key-data: LS0t", "eyJhbGciOi")
DELIBERATE_SECRETS = {"K8SFS_TEST_PRINTS_SECRETS": "1"}

_communicate = subprocess.Popen.communicate


def _recording_communicate(self, *args, **kwargs):
    out, err = _communicate(self, *args, **kwargs)
    argv = self.args if isinstance(self.args, (list, tuple)) else [self.args]
    text = "\n".join(part.decode(errors="replace") if isinstance(part, bytes) else part for part in (out, err) if part)
    if text:
        label = " ".join(str(a) for a in argv)[:200]
        if getattr(self, "_k8sfs_deliberate", False):
            DELIBERATE.append(label)
        else:
            OUTPUTS.append(f"{label}\n{text}")
    return out, err


_init = subprocess.Popen.__init__


def _remembering_init(self, *args, **kwargs):
    env = kwargs.get("env")
    self._k8sfs_deliberate = bool(env and env.get("K8SFS_TEST_PRINTS_SECRETS") == "1")
    _init(self, *args, **kwargs)


subprocess.Popen.communicate = _recording_communicate  # type: ignore[method-assign]
subprocess.Popen.__init__ = _remembering_init  # type: ignore[method-assign]


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
            text = path.read_text(errors="replace")
            SCANNED["files"] += 1
            SCANNED["bytes"] += len(text)
            found += secrets_in(text, str(path), keys)
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
    if check and proc.returncode != 0:
        raise AssertionError(f"k8sfs {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def artifacts_missing(
    version: str | None = None, runtime: str = "containerd", addons: tuple[str, ...] = ()
) -> list[str]:
    from k8sfs.artifacts import ArtifactCache, names_for, versions_for
    from k8sfs.versions import LAB_KUBERNETES_VERSION

    version = version or LAB_KUBERNETES_VERSION
    wanted = versions_for(version)
    return [n for n in names_for(runtime, version, addons) if ArtifactCache().lookup(n, wanted[n]) is None]


def require_lab_and_artifacts(runtime: str = "containerd", addons: tuple[str, ...] = ()) -> None:
    """Skips (saying why) where a lab cannot run or the binaries are not built."""
    reason = lab_unavailable_reason()
    if reason:
        pytest.skip(reason)
    missing = artifacts_missing(runtime=runtime, addons=addons)
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
# of the run and written to its result file; no test asserts a time it measured.
MEASURED: list[tuple[str, str]] = []
STARTED = time.time()


def measured(what: str, value: str) -> None:
    MEASURED.append((what, value))
    print(f"[measured] {what}: {value}")


def run_on_both_workers(
    lab_name: str, name: str, image: str, timeout: float = 120, pull_secret: str = ""
) -> dict[str, dict]:
    """A Deployment of `image` with imagePullPolicy Always, one pod per
    worker, as a person would write it; returns each Running pod's node and
    its Pulled event's message. Deleted again before returning."""
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "DoNotSchedule",
                            "labelSelector": {"matchLabels": {"app": name}},
                        }
                    ],
                    **({"imagePullSecrets": [{"name": pull_secret}]} if pull_secret else {}),
                    "containers": [
                        {
                            "name": "main",
                            "image": image,
                            "imagePullPolicy": "Always",
                            "command": ["sh", "-c", "echo pulled and running; exec sleep 3600"],
                        }
                    ],
                },
            },
        },
    }
    lab = ["--lab", lab_name]
    run_k8sfs("kubectl", *lab, "--", "apply", "-f", "-", input=json.dumps(manifest))
    try:
        done = run_k8sfs(
            "kubectl", *lab, "--", "rollout", "status", f"deployment/{name}", f"--timeout={int(timeout)}s", check=False
        )
        pods = json.loads(run_k8sfs("kubectl", *lab, "--", "get", "pods", "-l", f"app={name}", "-o", "json").stdout)
        events = json.loads(
            run_k8sfs("kubectl", *lab, "--", "get", "events", "--field-selector", "reason=Pulled", "-o", "json").stdout
        )
        pulled = {e["involvedObject"]["name"]: e["message"] for e in events["items"]}
        assert done.returncode == 0, f"{image} did not roll out: {done.stderr[-1500:]}\n{json.dumps(pods)[-2000:]}"
        return {
            p["spec"]["nodeName"]: {"phase": p["status"]["phase"], "pulled": pulled.get(p["metadata"]["name"], "")}
            for p in pods["items"]
        }
    finally:
        run_k8sfs("kubectl", *lab, "--", "delete", "deployment", name, "--wait=false", check=False)


SMOKE_TEST = "/usr/local/sbin/k8sfs-smoke-test"


def smoke_test_by_hand(session, who: str):
    """The cluster's smoke test run by hand on a control plane, as a person
    would after an apply. Under the full suite on 2 cores it has met a 5 s
    wget timeout between pods about once a run (never in 120 tries of each
    direction on an idle lab), so it gets three tries 10 s apart and every
    retry is reported as a measured line with what failed."""
    for _attempt in range(3):
        smoke = session.exec([SMOKE_TEST], timeout=180)
        if smoke.exit_code == 0:
            break
        measured(f"{who}: smoke test retried after", (smoke.stdout + smoke.stderr).strip()[-200:])
        time.sleep(10)
    return smoke


# Skips a `make test` run allows (K8SFS_STRICT_SKIPS=1): facts of the
# machine that make a test meaningless here, each reviewed. Any other skip
# (a missing artifact, no root, a tool not installed) fails the run.
ALLOWED_SKIPS = (
    "this machine mounts the hugetlb controller",  # test_oci_wrapper: the wrapper rightly keeps the limit
    "exists on this machine",  # test_manifests: a containerd socket of the machine's own
)
SKIPS: list[tuple[str, str]] = []


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        SKIPS.append((report.nodeid, reason.removeprefix("Skipped: ")))


def unexpected_skips() -> list[tuple[str, str]]:
    return [(test, why) for test, why in SKIPS if not any(allowed in why for allowed in ALLOWED_SKIPS)]


INTERRUPTED = []  # a run stopped with Ctrl-C records no figures: they would be of part of it


def pytest_sessionfinish(session, exitstatus):
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        INTERRUPTED.append(True)
    if SPEC_STATE_OWNED:
        shutil.rmtree(SPEC_STATE, ignore_errors=True)
    if os.environ.get("K8SFS_STRICT_SKIPS") == "1" and unexpected_skips() and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config):
    """The run's closing line: passed, skipped (and how many of those the
    reviewed list allows), failed."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not hasattr(reporter, "stats"):
        return
    count = {
        k: len([r for r in reporter.stats.get(k, []) if getattr(r, "when", "call") in ("call", "setup")])
        for k in ("passed", "failed", "error")
    }
    unexpected = unexpected_skips()
    strict = os.environ.get("K8SFS_STRICT_SKIPS") == "1"
    line = (
        f"k8sfs tests: {count['passed']} passed, {len(SKIPS)} skipped "
        f"({len(SKIPS) - len(unexpected)} allowed on this machine), {count['failed'] + count['error']} failed"
    )
    if strict and unexpected:
        line += f"; {len(unexpected)} unexpected skip(s) fail the run"
    print(line)
    name = os.environ.get("K8SFS_RESULTS_NAME")
    if name and not INTERRUPTED:  # make test and make test-long: the run's figures into results/<name>.json
        from k8sfs.results import record

        path = record(
            name,
            {
                "passed": count["passed"],
                "skipped": len(SKIPS),
                "failed": count["failed"] + count["error"],
                "pytest_seconds": round(time.time() - STARTED, 1),
                "measured": dict(MEASURED),
            },
            command=os.environ.get("K8SFS_RESULTS_COMMAND"),
        )
        print(f"k8sfs tests: figures in {path}")


def pytest_terminal_summary(terminalreporter):
    if SKIPS:
        terminalreporter.section("skipped")
        allowed = set(SKIPS) - set(unexpected_skips())
        for test, why in SKIPS:
            terminalreporter.write_line(f"{'allowed' if (test, why) in allowed else 'UNEXPECTED'} {test}: {why}")
    if MEASURED:
        terminalreporter.section("measured on the lab")
        for what, value in MEASURED:
            terminalreporter.write_line(f"{what}: {value}")
