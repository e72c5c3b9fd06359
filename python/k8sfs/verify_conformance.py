"""`k8sfs verify conformance`: Kubernetes' own [Conformance] e2e specs, run
from the controller against the cluster, offline.

e2e.test, agnhost and the suite's image table are artifacts built from the
k8s.io/kubernetes module at the cluster's version; the images the suite
runs are made on the controller (images/conformance.py) and imported on
every worker under the names the suite asks for, so nothing is pulled.
e2e.test runs on the controller with the admin kubeconfig; its JUnit file
is the record, and the summary lists each failure with its first line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from k8sfs.artifacts import CONFORMANCE_TOOLS, PARALLEL_TOOL, build, versions_for
from k8sfs.artifacts.gobuild import module_source_dir
from k8sfs.chapters.node import IMAGE_DIR, image_import_command, images_present_check
from k8sfs.state_paths import StateLayout

if TYPE_CHECKING:
    from k8sfs.cluster import Cluster
    from k8sfs.images import Image

Progress = Callable[[str], None]

CONFORMANCE = r"\[Conformance\]"
# The slice make test runs: a few minutes across five SIGs, on images k8sfs
# makes. The webhook spec is the one that found the missing route from
# kube-apiserver to a Service, the HostPort spec the missing portmap; the
# last five use the images made from the module and the stand-ins
# (nautilus, nonewprivs, httpd, sample-apiserver and etcd).
SLICE = (
    "[sig-api-machinery] ResourceQuota should create a ResourceQuota and ensure its status is promptly calculated.",
    "[sig-api-machinery] AdmissionWebhook [Privileged:ClusterAdmin] should mutate pod and apply defaults after "
    "mutation",
    "[sig-apps] ReplicaSet should serve a basic image on each replica with a public image",
    "[sig-apps] Job should run a job to completion when tasks sometimes fail and are locally restarted",
    "[sig-node] Secrets should be consumable via the environment",
    "[sig-node] Pods should get a host IP",
    "[sig-network] Services should serve a basic endpoint from pods",
    "[sig-network] DNS should provide DNS for services",
    "[sig-network] HostPort validates that there is no conflict between pods with same hostPort but different "
    "hostIP and protocol",
    "[sig-cli] Kubectl client Update Demo should create and stop a replication controller",
    "[sig-node] Security Context when creating containers with AllowPrivilegeEscalation should not allow privilege "
    "escalation when false",
    "[sig-apps] Deployment RollingUpdateDeployment should delete old pods and create new ones",
    "[sig-api-machinery] Aggregator Should be able to support the 1.17 Sample API Server using the current Aggregator",
)


def go_literal(text: str) -> str:
    """`text` as a literal in a Go (RE2) regular expression, escaping only
    what is special there, so the focus stays readable in the progress."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)


def slice_focus() -> str:
    """A --focus that selects exactly the SLICE specs. Not anchored: Ginkgo
    matches against a text that starts before the spec's own words."""
    return "|".join(go_literal(name) for name in SLICE)


@dataclass
class SpecResult:
    name: str
    status: str  # passed, failed, skipped
    seconds: float
    message: str = ""  # the first line of the failure


@dataclass
class Report:
    version: str
    focus: str
    skip: str
    results: list[SpecResult] = field(default_factory=list)
    seconds: float = 0.0
    junit: str = ""
    exit_code: int = 0
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)


_SUITE_NODE = re.compile(r"^\[(?:Synchronized)?(?:Before|After)Suite\]|^\[(?:Report)(?:Before|After)Suite\]")


def parse_junit(xml: str) -> list[SpecResult]:
    """The suite's JUnit file (junit_01.xml in --report-dir): one <testcase>
    per spec of the binary. A spec the focus left out is "skipped" with no
    reason and is not counted; one skipped while running says why. Suite
    nodes ([SynchronizedBeforeSuite], ...) count only when they fail."""
    root = ElementTree.fromstring(xml)
    out = []
    for case in root.iter("testcase"):
        name = re.sub(r"^\[It\]\s+", "", case.get("name", ""))
        seconds = float(case.get("time") or 0)
        failed = case.find("failure")
        if failed is None:
            failed = case.find("error")
        skipped = case.find("skipped")
        if failed is not None:
            text = (failed.get("message") or failed.text or "").strip()
            first = next((line.strip() for line in text.splitlines() if line.strip()), "")
            out.append(SpecResult(name, "failed", seconds, first[:300]))
        elif _SUITE_NODE.match(name):
            continue
        elif skipped is not None:
            reason = (skipped.get("message") or "").removeprefix("skipped").removeprefix(" - ").strip()
            if reason and reason != "pending":
                out.append(SpecResult(name, "skipped", seconds, reason[:300]))
        else:
            out.append(SpecResult(name, "passed", seconds))
    return out


def _workers(cluster: Cluster) -> list[str]:
    return [h.name for h in cluster.spec.hosts if h.worker]


def served_by_registry(cluster: Cluster, images: list[Image]) -> tuple[list[Image], list[Image]]:
    """The images the nodes can pull from the registries.k8sfs_images
    registry (their registry is mirrored there, as the lab mirrors
    registry.k8s.io), and the rest. None are served without that key."""
    from k8sfs.images.reference import Reference

    host = cluster.spec.registries.k8sfs_images
    if not host:
        return [], images
    mirrors = cluster.spec.registries.all_mirrors()

    def mirrored(image: Image) -> bool:
        registry = Reference.parse(image.name).registry
        return f"https://{host}/{registry}" in mirrors.get(registry, [])

    return [i for i in images if mirrored(i)], [i for i in images if not mirrored(i)]


def import_images(cluster: Cluster, images: list[Image], progress: Progress) -> None:
    """Each image onto every worker and into its runtime, unless the same
    archive was imported there before."""
    runtime = cluster.spec.runtime.name
    for host in _workers(cluster):
        session = cluster.session(host)
        session.exec(["mkdir", "-p", IMAGE_DIR], sudo=True, check=True)
        for image in images:
            remote = f"{IMAGE_DIR}/{image.path.name}"
            # The archive kept on the host says which build the runtime has.
            sent = session.put(str(image.path), remote, mode=0o644, sudo=True)
            present = session.exec(images_present_check(runtime, [image.name]), sudo=True).exit_code == 0
            if sent.changed or not present:
                progress(f"conformance: {host}: importing {image.name}")
                session.exec(image_import_command(runtime, remote, image.name), sudo=True, check=True, timeout=300)


def prepare(cluster: Cluster, progress: Progress = print, parallel: bool = False) -> dict[str, Path]:
    """Builds (once) e2e.test, agnhost and the images, and Ginkgo's CLI when
    running in parallel; imports the images on the workers. Returns the
    tools' paths by name."""
    from k8sfs.images.conformance import conformance_images

    version = cluster.spec.kubernetes_version
    if cluster.spec.kubernetes_minor < 25:
        raise ValueError(
            f"verify conformance runs e2e.test built with Ginkgo v2 (Kubernetes 1.25 and newer); "
            f"this cluster is {version}"
        )
    tools = [*CONFORMANCE_TOOLS, *([PARALLEL_TOOL] if parallel else [])]
    got = {a.name: a.path for a in build(version, tools, progress=progress)}
    got["etcd"] = cluster.cache.require("etcd", versions_for(version)["etcd"]).path
    names = json.loads(got["e2e-images"].read_text())
    work = cluster.cache.root.parent / "build" / f"kubernetes-tests-{version}"
    source = module_source_dir("k8s.io/kubernetes", version, work)
    images = conformance_images(cluster.cache.root.parent, got, names, source)
    # Pulled on demand from the lab registry where a mirror covers them (the
    # suite's pods say IfNotPresent); uploaded to each worker otherwise.
    served, imported = served_by_registry(cluster, images)
    if served:
        cluster.publish_images(served, "the suite's images")
    import_images(cluster, imported, progress)
    return got


def delete_test_namespaces(cluster: Cluster, progress: Progress = print) -> None:
    """Deletes the namespaces e2e.test made (label e2e-run) and waits until
    they are gone: the suite deletes its own without waiting, and an
    interrupted spec leaves its namespace behind."""
    left = cluster.kubectl("get", "namespaces", "-l", "e2e-run", "-o", "name", timeout=60).stdout.split()
    if not left:
        return
    progress(f"conformance: deleting the test namespaces ({len(left)}) and waiting until they are gone")
    done = cluster.kubectl("delete", "namespace", "-l", "e2e-run", "--ignore-not-found", "--timeout=180s", timeout=200)
    if not done.ok:
        progress(f"conformance: test namespaces still there: {done.stderr.strip()[-300:]}")


class ProgressReader:
    """Follows Ginkgo v2's verbose output. Run serially, a spec starts with
    its full text on the line after a separator and ends with a line
    starting "•" ("• [12.3 seconds]", "• [FAILED] [...]"). Under Ginkgo's
    CLI (--parallel) each spec is reported once it ended: the separator,
    the "•" line, then its text."""

    SEPARATOR = "------------------------------"
    SUITE_NODES = ("[ReportBeforeSuite]", "[SynchronizedBeforeSuite]", "[ReportAfterSuite]", "[SynchronizedAfterSuite]")

    def __init__(self) -> None:
        self.current = ""
        self.done = 0
        self._after_separator = False
        self._pending = ""  # a verdict reported before its spec's text

    def feed(self, line: str) -> str | None:
        """The verdict ("passed", "failed", "skipped") once `line` ends a
        spec and `current` names it."""
        if line == self.SEPARATOR:
            self._after_separator = True
            return None
        after, self._after_separator = self._after_separator, False
        if line.startswith(("•", "S [SKIPPED]")):
            verdict = "passed"
            if line.startswith("S "):
                verdict = "skipped"
            elif re.match(r"^• \[(FAILED|PANICKED|TIMEDOUT|INTERRUPTED)\]", line):
                verdict = "failed"
            if after:
                self._pending = verdict
                return None
            self.done += 1
            return verdict
        # A spec's text: most start with their SIG's label, the storage
        # suites' with "External Storage"; runs of S are skipped specs.
        is_name = bool(line.strip()) and not line.startswith(self.SUITE_NODES) and not re.fullmatch(r"S+", line)
        if self._pending and is_name:
            verdict, self._pending = self._pending, ""
            self.current = self._name(line)
            self.done += 1
            return verdict
        if after and is_name:
            self.current = self._name(line)
        return None

    @staticmethod
    def _name(line: str) -> str:
        return re.sub(r" \[[^\]]*, [^\]]*\]$", "", line)  # the labels Ginkgo appends


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop(proc: subprocess.Popen, log: Path) -> int:
    """SIGINT to e2e.test (Ginkgo then runs the running spec's cleanup),
    reading its output meanwhile: a full pipe would block it forever."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        rest, _ = proc.communicate(timeout=120)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        os.killpg(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate()
    with open(log, "a") as out:
        out.write(rest or "")
    return proc.returncode


def run(
    cluster: Cluster,
    focus: str = CONFORMANCE,
    skip: str = "",
    timeout: str = "24h",
    junit: Path | None = None,
    progress: Progress = print,
    parallel: int = 1,
    storage: bool = False,
) -> Report:
    """Runs the specs `focus` selects and `skip` leaves; with `parallel` > 1
    in that many e2e.test processes under Ginkgo's CLI ([Serial] specs
    still run one at a time, at the end). With `storage`, e2e.test also
    knows the spec's storage add-on as an external driver (verify_storage)."""
    if parallel < 1:
        raise ValueError(f"--parallel must be 1 or more, not {parallel}")
    admin = cluster.pki_dir / "admin.conf"
    if not admin.exists():
        raise ValueError(f"{admin} does not exist yet: run k8sfs apply first")
    tools = prepare(cluster, progress, parallel=parallel > 1)
    e2e = tools["e2e.test"]
    reports = StateLayout(cluster.state_dir).conformance
    shutil.rmtree(reports, ignore_errors=True)  # a report is of one run
    reports.mkdir(parents=True)
    report = Report(cluster.spec.kubernetes_version, focus, skip, junit=str(junit or reports / "junit_01.xml"))
    kubectl = cluster.cache.require("kubectl", cluster.spec.kubernetes_version).path
    suite = [
        f"--kubeconfig={admin}",
        f"--kubectl-path={kubectl}",  # the cluster's own, not whatever kubectl is on PATH
        "--provider=skeleton",
    ]
    if storage:
        from k8sfs.verify_storage import driver_definition

        driver = reports / "storage-driver.json"
        driver.write_text(driver_definition(cluster.spec))
        suite.append(f"--storage.testdriver={driver}")
    selection = [f"--focus={focus}", *([f"--skip={skip}"] if skip else [])]
    dry_run = [
        str(e2e),
        *suite,
        *(f"--ginkgo.{flag[2:]}" for flag in selection),
        "--ginkgo.dry-run",
        "--ginkgo.no-color",
    ]
    listing = subprocess.run(dry_run, capture_output=True, text=True, timeout=300)
    planned = re.search(r"Will run (\d+) of (\d+) specs", listing.stdout)
    if listing.returncode != 0 or not planned:
        tail = "\n".join((listing.stdout + listing.stderr).strip().splitlines()[-8:])
        raise ValueError(f"e2e.test could not list the specs (exit {listing.returncode}):\n{tail}")
    total = int(planned.group(1))
    what = "the make test slice" if focus == slice_focus() else f"focus {focus!r}"
    what += f", skip {skip!r}" if skip else ""
    progress(f"conformance: {total} of {planned.group(2)} specs to run ({what})")
    # --report-dir: the suite writes its own, shorter JUnit file there (junit_01.xml).
    suite.append(f"--report-dir={reports}")
    ginkgo = [*selection, f"--timeout={timeout}", "--v", "--no-color"]
    if parallel > 1:
        # The CLI takes Ginkgo's flags; what follows "--" goes to every process.
        argv = [str(tools[PARALLEL_TOOL]), f"--procs={parallel}", *ginkgo, str(e2e), "--", *suite]
        progress(f"conformance: {parallel} processes; [Serial] specs run after the others, one at a time")
    else:
        argv = [str(e2e), *suite, *(f"--ginkgo.{flag[2:]}" for flag in ginkgo)]
    log = reports / "e2e.log"
    progress(f"conformance: e2e.test's output goes to {log}")
    started = time.monotonic()
    reader = ProgressReader()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    # A termination (a CI job's limit, kill) stops the run as Ctrl-C does:
    # e2e.test runs in a session of its own and would go on without us.
    on_term = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with open(log, "w") as out:
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                verdict = reader.feed(line.rstrip("\n"))
                if verdict:
                    elapsed = time.monotonic() - started
                    progress(f"conformance: {reader.done}/{total} ({elapsed:.0f} s) {verdict}: {reader.current[:120]}")
        report.exit_code = proc.wait()
    except KeyboardInterrupt:
        report.interrupted = True
        progress("conformance: interrupted; e2e.test cleans up the running spec (up to 2 minutes; ^C again stops it)")
        report.exit_code = _stop(proc, log)
    finally:
        signal.signal(signal.SIGTERM, on_term)
        delete_test_namespaces(cluster, progress)
    report.seconds = time.monotonic() - started
    written = reports / "junit_01.xml"
    if written.exists():
        report.results = parse_junit(written.read_text())
        if junit:
            shutil.copyfile(written, junit)
    return report


def render(report: Report) -> str:
    from k8sfs.table import render_table

    passed, failed, skipped = report.count("passed"), report.count("failed"), report.count("skipped")
    rows: list[list[object]] = [[report.version, passed, failed, skipped, f"{report.seconds:.0f} s"]]
    out = [render_table(["VERSION", "PASSED", "FAILED", "SKIPPED", "TIME"], rows)]
    failures = [r for r in report.results if r.status == "failed"]
    if failures:
        out.append("\nFAILED:")
        for r in failures:
            out.append(f"  {r.name}")
            out.append(f"      {r.message}")
    if report.interrupted:
        out.append("\ninterrupted: the specs that did not run are not counted")
    out.append(f"\nJUnit: {report.junit}")
    return "\n".join(out)


def to_json(report: Report) -> str:
    return json.dumps(
        {
            "version": report.version,
            "focus": report.focus,
            "skip": report.skip,
            "seconds": round(report.seconds, 1),
            "junit": report.junit,
            "exit_code": report.exit_code,
            "interrupted": report.interrupted,
            "results": [r.__dict__ for r in report.results],
        },
        indent=2,
    )
