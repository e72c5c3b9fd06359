"""Everything chapters read: the spec, each host's facts, the artifact
cache and the images."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from k8sfs import artifacts as artifacts_mod
from k8sfs import images as images_mod
from k8sfs.engine.facts import Facts
from k8sfs.spec import ClusterSpec, HostSpec


@dataclass
class Context:
    spec: ClusterSpec
    facts: dict[str, Facts]
    cache: artifacts_mod.ArtifactCache = field(default_factory=artifacts_mod.ArtifactCache)
    images: list[images_mod.Image] = field(default_factory=list)
    # Template for a container host's own cgroup subtree ({host} is filled in).
    cgroup_root_template: str = "/k8sfs-{host}"
    # The cluster's PKI on the controller (k8sfs._core.PkiStore) and its
    # distribution (FileStep list); the key that encrypts secrets at rest.
    pki: object = None
    pki_files: list = field(default_factory=list)
    encryption_key: str = ""

    @property
    def workers(self) -> list[HostSpec]:
        return [h for h in self.spec.hosts if h.worker]

    @property
    def container_hosts(self) -> bool:
        return self.spec.host_profile == "container"

    def artifact(self, name: str) -> artifacts_mod.Artifact:
        version = artifacts_mod.versions_for(self.spec.kubernetes_version)[name]
        return self.cache.require(name, version)

    @property
    def control_plane(self) -> list[HostSpec]:
        return [h for h in self.spec.hosts if h.control_plane]

    @property
    def etcd_hosts(self) -> list[HostSpec]:
        return [h for h in self.spec.hosts if h.etcd]

    def cgroup_root(self, host: HostSpec) -> str:
        return self.cgroup_root_template.format(host=host.name) if self.container_hosts else ""
