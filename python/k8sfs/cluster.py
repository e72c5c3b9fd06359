"""The main workflow from Python: a spec, hosts to reach, a plan to read,
an apply that changes only what differs.

    from k8sfs.cluster import Cluster
    c = Cluster.for_lab(Lab())           # or Cluster(spec, connect)
    print(c.plan(until="static-pod").render())
    c.apply(until="static-pod")
"""
from __future__ import annotations

import base64
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from k8sfs import _core
from k8sfs import chapters as chapters_mod
from k8sfs import images
from k8sfs.artifacts import ArtifactCache, versions_for
from k8sfs.chapters import Context
from k8sfs.engine import facts as facts_mod
from k8sfs.engine.runner import Plan, Runner
from k8sfs.spec import ClusterSpec

Progress = Callable[[str], None]


def default_state_dir(spec: ClusterSpec) -> Path:
    return Path(os.environ.get("K8SFS_STATE", "k8sfs-state")) / spec.cluster_name


def pki_dir(state_dir: Path) -> Path:
    """The PKI directory inside a cluster's controller state."""
    return Path(state_dir) / "pki"


class HostFactsError(ValueError):
    """The spec cannot work on a host as it is (names the host and what to change)."""


def check_facts(spec: ClusterSpec, facts: dict) -> None:
    minor = spec.kubernetes_minor
    for h in spec.hosts:
        f = facts[h.name]
        if not h.worker:
            continue
        if spec.runtime.name == "containerd" and minor >= 36 and f.containerd_version and f.containerd_major < 2:
            raise HostFactsError(f"{h.name}: Kubernetes {spec.kubernetes_version} needs containerd >= 2.0, the host "
                                 f"has {f.containerd_version} (1.35 is the last minor that supports containerd 1.x)")
        if minor >= 35 and not f.cgroup_v2 and spec.host_profile == "machine":
            raise HostFactsError(f"{h.name}: the host uses cgroup v1 and kubelet {spec.kubernetes_version} refuses "
                                 f"it by default (failCgroupV1); use Kubernetes 1.34 or move the host to cgroup v2")


class Cluster:
    """A spec and the way to reach its hosts (`connect(name) -> Session`).

    State on the controller (PKI, secrets-at-rest key, logs, journal) lives
    in `state_dir`. `plan()` reads, `apply()` changes only what differs;
    both take `only=[chapters]` and `until=chapter`."""

    def __init__(self, spec: ClusterSpec, connect, state_dir: Path | None = None, progress: Progress = lambda _m: None,
                 cgroup_root_template: str = "/k8sfs-{host}") -> None:
        self.spec = spec
        self.state_dir = Path(state_dir) if state_dir else default_state_dir(spec)
        self.progress = progress
        self.runner = Runner(connect, self.state_dir, progress)
        self.cache = ArtifactCache()
        self.cgroup_root_template = cgroup_root_template
        self._context: Context | None = None

    @classmethod
    def for_lab(cls, lab, state_dir: Path | None = None, progress: Progress = lambda _m: None, **spec_overrides):
        spec = lab.cluster_spec(**spec_overrides)
        return cls(spec, lab.session, state_dir or lab.cluster_state_dir, progress,
                   cgroup_root_template=f"/{lab.cgroup_prefix}{{host}}")

    def close(self) -> None:
        self.runner.close()

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def context(self) -> Context:
        """Facts of every host (one command each, in parallel) and the images."""
        if self._context is None:
            hosts = [h.name for h in self.spec.hosts]
            with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
                gathered = dict(zip(hosts, pool.map(lambda h: facts_mod.gather(self.runner.session(h)), hosts)))
            check_facts(self.spec, gathered)
            store = _core.PkiStore(str(self.pki_dir))
            pki_plan = store.apply(self.spec.pki_spec())  # keeps what is valid, creates what is missing
            for item in pki_plan.items:
                if item.action != "keep":
                    self.progress(f"pki: {item.action} {item.name} ({item.reason})")
            coredns = self.cache.lookup("coredns", versions_for(self.spec.kubernetes_version)["coredns"])
            built = images.ensure_images(self.cache.root.parent,
                                         (coredns.path, coredns.version, coredns.sha256) if coredns else None)
            self._context = Context(self.spec, gathered, self.cache, built, self.cgroup_root_template, store,
                                    list(pki_plan.files), self.encryption_key())
        return self._context

    @property
    def pki_dir(self) -> Path:
        return pki_dir(self.state_dir)

    def encryption_key(self) -> str:
        """The aescbc key for secrets at rest: made once, kept 0600 on the controller."""
        path = self.state_dir / "secrets" / "encryption-key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(base64.b64encode(os.urandom(32)).decode())
        return path.read_text().strip()

    def steps(self, chapters: list[str]):
        return chapters_mod.build_steps(self.context(), chapters)

    def plan(self, only: list[str] | None = None, until: str | None = None) -> Plan:
        chosen = chapters_mod.select(only, until)
        return self.runner.plan(self.steps(chosen), chosen)

    def apply(self, only: list[str] | None = None, until: str | None = None) -> Plan:
        chosen = chapters_mod.select(only, until)
        return self.runner.apply(self.steps(chosen), chosen)
