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


def with_names(archive: Path, names: list[str], out: Path) -> None:
    """A copy of a docker-archive whose image carries `names` (RepoTags), so
    a runtime's import files it under them; its files are copied as they are."""
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        for member in src.getmembers():
            if member.name.removeprefix("./") == "manifest.json":
                entries = json.loads(src.extractfile(member).read())  # type: ignore[union-attr]
                entries = [{**entries[0], "RepoTags": names}]
                data = json.dumps(entries).encode()
                info = tarfile.TarInfo("manifest.json")
                info.size, info.mode = len(data), 0o644
                dst.addfile(info, io.BytesIO(data))
            else:
                dst.addfile(member, src.extractfile(member) if member.isfile() else None)
