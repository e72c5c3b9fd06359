"""Everything chapters read: the spec, each host's facts, the artifact
cache, the images, the cluster's PKI on the controller and the key for
secrets at rest.

A context for a plan is made without writing anything: what only apply
makes on the controller (a new CA and what it signs, the images, the
encryption key) is known by name and reason, not by content, and the steps
carry it as pending (engine/step.py)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from k8sfs import _core
from k8sfs import artifacts as artifacts_mod
from k8sfs import images as images_mod
from k8sfs.engine.facts import Facts
from k8sfs.engine.step import File, Upload
from k8sfs.spec import ClusterSpec, HostSpec

UNKNOWN_FACTS = Facts("", "", "", False, "")


@dataclass
class Context:
    spec: ClusterSpec
    facts: dict[str, Facts]
    cache: artifacts_mod.ArtifactCache = field(default_factory=artifacts_mod.ArtifactCache)
    images: list[images_mod.Image] = field(default_factory=list)
    # Template for a container host's own cgroup subtree ({host} is filled in).
    cgroup_root_template: str = "/k8sfs-{host}"
    # The cluster's PKI on the controller and its distribution to the hosts.
    pki: _core.PkiStore | None = None
    pki_files: list[_core.FileStep] = field(default_factory=list)
    # Controller paths in the PKI that only apply makes -> why (plan only).
    pki_pending: dict[str, str] = field(default_factory=dict)
    # The key that encrypts secrets at rest; None: apply creates it.
    encryption_key: str | None = ""
    images_pending: str = ""  # why images without a digest are not built yet (plan only)
    planning: bool = False  # missing artifacts are shown as pending, not errors

    @functools.cached_property
    def registries(self) -> _core.RegistriesOptions:
        """The spec's registries with their passwords and CA certificates
        read on the controller (once per context)."""
        return self.spec.registries.core_options()

    @property
    def workers(self) -> list[HostSpec]:
        return [h for h in self.spec.hosts if h.worker]

    @property
    def container_hosts(self) -> bool:
        return self.spec.host_profile == "container"

    @property
    def control_plane(self) -> list[HostSpec]:
        return [h for h in self.spec.hosts if h.control_plane]

    @property
    def etcd_hosts(self) -> list[HostSpec]:
        return [h for h in self.spec.hosts if h.etcd]

    def host_facts(self, host: HostSpec) -> Facts:
        return self.facts.get(host.name, UNKNOWN_FACTS)

    def cgroup_root(self, host: HostSpec) -> str:
        return self.cgroup_root_template.format(host=host.name) if self.container_hosts else ""

    def version(self, name: str) -> str:
        return artifacts_mod.versions_for(self.spec.kubernetes_version)[name]

    def upload(self, name: str, remote: str, mode: int = 0o755) -> Upload:
        """An artifact as an upload; pending in a plan when it is not cached."""
        version = self.version(name)
        found = self.cache.lookup(name, version)
        if found is not None:
            return Upload(found.path, remote, found.sha256, mode)
        if not self.planning:
            self.cache.require(name, version)  # raises with what to run
        return Upload(
            None,
            remote,
            "",
            mode,
            pending=f"{name} {version} is not in the artifact cache: k8sfs artifacts build (or fetch)",
        )

    def image_uploads(self, directory: str) -> list[Upload]:
        """The images as uploads; one not built yet (no digest) is pending."""
        return [
            Upload(img.path, f"{directory}/{img.path.name}", img.sha256, 0o644)
            if img.config_digest
            else Upload(
                None,
                f"{directory}/{img.path.name}",
                "",
                0o644,
                pending=self.images_pending or "the image is not built yet",
            )
            for img in self.images
        ]

    def pki_file(self, relative: str, remote: str, mode: int = 0o644, owner: str = "root:root") -> File:
        """A file of the controller's PKI; pending in a plan when apply would (re)issue it."""
        secret = mode & 0o077 == 0
        if relative in self.pki_pending:
            return File(remote, None, mode, owner, secret=secret, pending=self.pki_pending[relative])
        if self.pki is None:
            raise ValueError(f"{relative}: this context has no PKI (made without a controller's PkiStore)")
        return File(remote, self.pki.read(relative), mode, owner, secret=secret)

    def encryption_config(self, path: str) -> File:
        if self.encryption_key is None:
            return File(path, None, 0o600, secret=True, pending="the secrets-at-rest key: apply creates it")
        return File(path, _core.render_encryption_config(self.encryption_key), 0o600, secret=True)
