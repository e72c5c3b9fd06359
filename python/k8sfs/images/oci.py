"""An image as a registry stores it: a docker-archive (what `docker save`,
`podman save` and k8sfs's own image builds write) read into its config and
layers, and the OCI image manifest that names them by digest.

Layers are gzip-compressed without a timestamp, so the same archive always
gives the same blobs and the same manifest digest; the config's diff_ids
name the uncompressed layers, as the OCI image spec asks."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


class ArchiveError(ValueError):
    """A file that is not a docker-archive k8sfs can read; says which and why."""


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return digest_of(self.data)


@dataclass
class OciImage:
    tags: list[str]  # the RepoTags the archive carries ("" if none)
    config: Blob
    layers: list[Blob]

    @property
    def manifest(self) -> bytes:
        """The OCI image manifest, in one canonical form (its digest is the image's)."""
        body = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {
                "mediaType": self.config.media_type,
                "digest": self.config.digest,
                "size": len(self.config.data),
            },
            "layers": [{"mediaType": b.media_type, "digest": b.digest, "size": len(b.data)} for b in self.layers],
        }
        return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()

    @staticmethod
    def _descriptor(blob: Blob) -> dict[str, object]:
        return {"mediaType": blob.media_type, "digest": blob.digest, "size": len(blob.data)}

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)

    @property
    def size(self) -> int:
        """Bytes a push sends at most: config, layers and manifest."""
        return len(self.config.data) + sum(len(b.data) for b in self.layers) + len(self.manifest)


def read_docker_archive(path: Path) -> OciImage:
    """The first image of a docker-archive tarball. Each layer is checked
    against the diff_id its config records, so a damaged archive is named
    before anything is sent."""
    try:
        with tarfile.open(path) as tar:
            members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}

            def read(name: str) -> bytes:
                member = members.get(name.removeprefix("./"))
                if member is None:
                    raise ArchiveError(f"{path}: {name} is named in manifest.json but not in the archive")
                handle = tar.extractfile(member)
                assert handle is not None
                return handle.read()

            if "manifest.json" not in members:
                raise ArchiveError(f"{path}: no manifest.json (not a docker-archive; `docker save` writes one)")
            entries = json.loads(read("manifest.json"))
            if not isinstance(entries, list) or not entries:
                raise ArchiveError(f"{path}: manifest.json names no image")
            entry = entries[0]
            config = read(entry["Config"])
            layers = [read(name) for name in entry["Layers"]]
    except (tarfile.TarError, OSError, KeyError, json.JSONDecodeError) as error:
        raise ArchiveError(f"{path}: not a readable docker-archive ({error})") from None
    diff_ids = json.loads(config).get("rootfs", {}).get("diff_ids", [])
    if diff_ids != [digest_of(layer) for layer in layers]:
        raise ArchiveError(f"{path}: the layers do not match the diff_ids in the image config (a damaged archive?)")
    compressed = [Blob(LAYER_TYPE, gzip.compress(layer, compresslevel=6, mtime=0)) for layer in layers]
    return OciImage(list(entry.get("RepoTags") or []), Blob(CONFIG_TYPE, config), compressed)


UNCOMPRESSED_LAYER_TYPES = ("application/vnd.oci.image.layer.v1.tar", "application/vnd.docker.image.rootfs.diff.tar")


def write_docker_archive(image: OciImage, names: list[str], out: Path) -> None:
    """`image` as a docker-archive carrying `names`, its layers uncompressed
    (what every runtime's import reads): how an OCI archive or layout is
    loaded where only docker-archives are imported. A layer whose bytes
    do not match the config's diff_id is refused before anything is written."""
    layers = []
    for blob in image.layers:
        if blob.media_type.endswith("+gzip"):
            layers.append(gzip.decompress(blob.data))
        elif blob.media_type in UNCOMPRESSED_LAYER_TYPES:
            layers.append(blob.data)
        else:
            raise ArchiveError(f"a layer of type {blob.media_type}: k8sfs loads gzip and plain tar layers")
    diff_ids = json.loads(image.config.data).get("rootfs", {}).get("diff_ids", [])
    if diff_ids != [digest_of(layer) for layer in layers]:
        raise ArchiveError("the layers do not match the diff_ids in the image config (a damaged image?)")
    config_name = image.config.digest.removeprefix("sha256:") + ".json"
    layer_names = [f"{digest_of(layer).removeprefix('sha256:')}/layer.tar" for layer in layers]
    manifest = json.dumps([{"Config": config_name, "RepoTags": names, "Layers": layer_names}]).encode()
    with tarfile.open(out, "w") as tar:
        for name, data in [(config_name, image.config.data), *zip(layer_names, layers, strict=True)]:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("manifest.json")
        info.size, info.mode = len(manifest), 0o644
        tar.addfile(info, io.BytesIO(manifest))
