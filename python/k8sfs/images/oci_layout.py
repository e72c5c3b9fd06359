"""Images in the OCI image layout: a directory (`oci-layout`, `index.json`,
`blobs/sha256/...`, what `skopeo copy ... oci:DIR` and buildah write) or
the same as a tarball (an OCI archive: `podman save --format oci-archive`,
`docker save` since Docker 25 writes both layouts in one tar).

Blobs are taken as they are (already compressed), each checked against its
digest before anything is sent. An image index is followed to its
linux/amd64 manifest."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable
from pathlib import Path

from k8sfs.images.oci import CONFIG_TYPE, LAYER_TYPE, ArchiveError, Blob, OciImage, digest_of, read_docker_archive

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
# Docker's media types for the same bytes, written as the OCI ones in the OCI manifest k8sfs pushes.
AS_OCI = {
    "application/vnd.docker.container.image.v1+json": CONFIG_TYPE,
    "application/vnd.docker.image.rootfs.diff.tar.gzip": LAYER_TYPE,
}


def read_image(path: Path) -> OciImage:
    """An image from a docker-archive, an OCI archive or an OCI layout directory."""
    if path.is_dir():
        return read_oci_layout(path)
    try:
        with tarfile.open(path) as tar:
            names = {m.name.removeprefix("./") for m in tar.getmembers()}
    except (tarfile.TarError, OSError) as error:
        raise ArchiveError(f"{path}: not an image archive or OCI layout directory ({error})") from None
    if "manifest.json" in names:
        return read_docker_archive(path)
    if "oci-layout" in names:
        return read_oci_layout(path)
    raise ArchiveError(f"{path}: neither a docker-archive (manifest.json) nor an OCI archive (oci-layout)")


def read_oci_layout(path: Path) -> OciImage:
    if path.is_dir():
        return _read(path, lambda name: (path / name).read_bytes())
    try:
        with tarfile.open(path) as tar:
            members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}

            def read(name: str) -> bytes:
                handle = tar.extractfile(members[name]) if name in members else None
                if handle is None:
                    raise FileNotFoundError(name)
                return handle.read()

            return _read(path, read)
    except (tarfile.TarError, OSError) as error:
        raise ArchiveError(f"{path}: not a readable OCI archive ({error})") from None


def _full_name(annotations: dict[str, str]) -> str:
    """The image's full name, when the layout records one: containerd's
    annotation, or a ref.name that is a whole reference (it is often only
    a tag, which names no repository)."""
    name = annotations.get(CONTAINERD_NAME) or annotations.get(REF_NAME, "")
    return name if "/" in name or ":" in name else ""


def _read(path: Path, read: Callable[[str], bytes]) -> OciImage:
    def blob(descriptor: dict) -> bytes:
        digest = descriptor.get("digest", "")
        if not digest.startswith("sha256:"):
            raise ArchiveError(f"{path}: a blob named {digest!r}, not by sha256")
        try:
            data = read(f"blobs/sha256/{digest.removeprefix('sha256:')}")
        except (OSError, KeyError):
            raise ArchiveError(f"{path}: {digest} is named but not in the layout") from None
        if digest_of(data) != digest:
            raise ArchiveError(f"{path}: the blob {digest} does not match its digest (a damaged layout?)")
        return data

    try:
        layout = json.loads(read("oci-layout"))
        index = json.loads(read("index.json"))
    except (OSError, KeyError, json.JSONDecodeError) as error:
        raise ArchiveError(f"{path}: no readable oci-layout and index.json ({error})") from None
    if layout.get("imageLayoutVersion") != "1.0.0":
        raise ArchiveError(f"{path}: OCI layout version {layout.get('imageLayoutVersion')!r}, k8sfs reads 1.0.0")
    entries = index.get("manifests") or []
    if not entries:
        raise ArchiveError(f"{path}: index.json names no image")
    entry = entries[0]
    tags = [name for m in entries if (name := _full_name(m.get("annotations") or {}))]
    manifest = json.loads(blob(entry))
    while entry.get("mediaType") in INDEX_TYPES or manifest.get("mediaType") in INDEX_TYPES:
        platforms = manifest.get("manifests") or []
        chosen = [
            m
            for m in platforms
            if m.get("platform", {}).get("os") == "linux" and m.get("platform", {}).get("architecture") == "amd64"
        ]
        if not chosen:
            raise ArchiveError(f"{path}: the image index has no linux/amd64 image")
        entry = chosen[0]
        manifest = json.loads(blob(entry))
    config = manifest["config"]
    layers = [Blob(AS_OCI.get(d["mediaType"], d["mediaType"]), blob(d)) for d in manifest.get("layers", [])]
    config_type = config.get("mediaType", CONFIG_TYPE)
    return OciImage(tags, Blob(AS_OCI.get(config_type, config_type), blob(config)), layers)
