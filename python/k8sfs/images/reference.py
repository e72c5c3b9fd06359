"""Image names as a pod spells them, and where a registry that mirrors
several registries keeps them.

`nginx:1.27` is docker.io/library/nginx:1.27 and `me/app` is
docker.io/me/app:latest, as every runtime reads them. The lab registry
mirrors docker.io, registry.k8s.io, ghcr.io and quay.io, each under a
namespace of its own name, so docker.io/library/nginx:1.27 is stored there
as docker.io/library/nginx and a pod that names nginx:1.27 pulls it."""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_REGISTRY = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True)
class Reference:
    """registry/repository:tag, e.g. docker.io/library/busybox:1.36."""

    registry: str
    repository: str
    tag: str

    @classmethod
    def parse(cls, text: str) -> Reference:
        """A name as a pod's `image:` gives it (no digest): the registry is
        docker.io unless the first part has a dot, a port or is localhost."""
        if "@" in text:
            raise ValueError(f"{text!r}: give a tag, not a digest (the digest is the image's own)")
        name, tag = text, "latest"
        last = text.rsplit("/", 1)[-1]
        if ":" in last:
            name, tag = text.rsplit(":", 1)
        first, _, rest = name.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            registry, repository = first, rest
        else:
            registry, repository = "docker.io", name
        if not _REGISTRY.fullmatch(registry):
            raise ValueError(f"{text!r}: {registry!r} is not a registry host[:port]")
        if registry == "docker.io" and "/" not in repository:
            repository = "library/" + repository
        if not all(_COMPONENT.fullmatch(part) for part in repository.split("/")):
            raise ValueError(f"{text!r}: {repository!r} is not a repository name (lower-case parts split by /)")
        if not _TAG.fullmatch(tag):
            raise ValueError(f"{text!r}: {tag!r} is not a tag")
        return cls(registry, repository, tag)

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"

    def in_mirror(self, mirror: str, mirrored: tuple[str, ...]) -> Reference:
        """Where a registry at `mirror` that mirrors `mirrored` (each under
        its own name) keeps this image; a name on the mirror itself stays."""
        if self.registry == mirror:
            return self
        if self.registry not in mirrored:
            raise ValueError(
                f"{self}: the nodes ask {mirror} only for {', '.join(mirrored)} images; "
                f"name one of those, or {mirror}/{self.repository}:{self.tag}"
            )
        return Reference(mirror, f"{self.registry}/{self.repository}", self.tag)
