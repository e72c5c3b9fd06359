"""Images in the OCI layout (a directory or an OCI archive) read for a
push: the same image as a docker-archive gives the same manifest digest,
each blob is checked, an index is followed to linux/amd64. The layouts are
written here by hand, as skopeo and podman write them."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from k8sfs.images.oci import ArchiveError, read_docker_archive
from k8sfs.images.oci_layout import read_image


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _docker_archive(directory: Path) -> Path:
    layer_buffer = io.BytesIO()
    with tarfile.open(fileobj=layer_buffer, mode="w") as layer_tar:
        data = b"hello from a layer\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        layer_tar.addfile(info, io.BytesIO(data))
    layer = layer_buffer.getvalue()
    config = json.dumps(
        {"os": "linux", "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": [_sha(layer)]}}
    )
    path = directory / "image.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in (
            ("layer.tar", layer),
            ("config.json", config.encode()),
            (
                "manifest.json",
                json.dumps([{"Config": "config.json", "Layers": ["layer.tar"], "RepoTags": []}]).encode(),
            ),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _layout(directory: Path, blobs: dict[str, bytes], index: dict) -> Path:
    (directory / "blobs" / "sha256").mkdir(parents=True)
    for digest, data in blobs.items():
        (directory / "blobs" / "sha256" / digest.removeprefix("sha256:")).write_bytes(data)
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (directory / "index.json").write_text(json.dumps(index))
    return directory


def _as_layout(archive: Path, directory: Path, name: str = "docker.io/library/hello:1") -> tuple[Path, str]:
    """The docker-archive's image written as an OCI layout (its blobs as a push would send them)."""
    image = read_docker_archive(archive)
    blobs = {image.config.digest: image.config.data, **{b.digest: b.data for b in image.layers}}
    blobs[image.digest] = image.manifest
    entry = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": image.digest,
        "size": len(image.manifest),
        "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "1"},
    }
    return _layout(directory, blobs, {"schemaVersion": 2, "manifests": [entry]}), image.digest


def test_a_layout_directory_and_an_oci_archive_give_the_digest_of_the_same_docker_archive(tmp_path):
    archive = _docker_archive(tmp_path)
    layout, digest = _as_layout(archive, tmp_path / "layout")
    image = read_image(layout)
    assert image.digest == digest and image.tags == ["docker.io/library/hello:1"]
    oci_archive = tmp_path / "image.oci.tar"
    with tarfile.open(oci_archive, "w") as tar:
        for path in sorted(layout.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(layout)), recursive=False)
    assert read_image(oci_archive).digest == digest
    assert read_image(archive).digest == digest  # and the docker-archive itself, through the same door


def test_a_blob_whose_bytes_do_not_match_its_digest_is_named(tmp_path):
    layout, digest = _as_layout(_docker_archive(tmp_path), tmp_path / "layout")
    manifest = json.loads((layout / "blobs/sha256" / digest.removeprefix("sha256:")).read_text())
    layer = layout / "blobs/sha256" / manifest["layers"][0]["digest"].removeprefix("sha256:")
    data = bytearray(layer.read_bytes())
    data[-1] ^= 0xFF
    layer.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match=manifest["layers"][0]["digest"]):
        read_image(layout)


def test_an_image_index_is_followed_to_the_linux_amd64_image(tmp_path):
    archive = _docker_archive(tmp_path)
    layout, digest = _as_layout(archive, tmp_path / "layout")
    index_path = layout / "index.json"
    single = json.loads(index_path.read_text())["manifests"][0]
    other = {**single, "digest": _sha(b"{}"), "size": 2, "platform": {"os": "linux", "architecture": "arm64"}}
    (layout / "blobs/sha256" / _sha(b"{}").removeprefix("sha256:")).write_bytes(b"{}")
    nested = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [other, {**single, "platform": {"os": "linux", "architecture": "amd64"}}],
        }
    ).encode()
    (layout / "blobs/sha256" / _sha(nested).removeprefix("sha256:")).write_bytes(nested)
    top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": _sha(nested), "size": len(nested)}
    index_path.write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    assert read_image(layout).digest == digest


def test_a_layout_written_back_as_a_docker_archive_is_the_same_image_under_the_names_given(tmp_path):
    """What `image load` imports for an OCI layout: the same image ID
    (config digest) and layers, carrying the names asked for."""
    from k8sfs.images.oci import write_docker_archive

    archive = _docker_archive(tmp_path)
    layout, _digest = _as_layout(archive, tmp_path / "layout")
    out = tmp_path / "loaded.tar"
    write_docker_archive(read_image(layout), ["docker.io/k8sfs/loaded:1"], out)
    again = read_docker_archive(out)
    original = read_docker_archive(archive)
    assert again.config.digest == original.config.digest
    assert [b.digest for b in again.layers] == [b.digest for b in original.layers]
    assert again.tags == ["docker.io/k8sfs/loaded:1"]
    write_docker_archive(read_image(layout), ["docker.io/k8sfs/loaded:1"], tmp_path / "twice.tar")
    assert (tmp_path / "twice.tar").read_bytes() == out.read_bytes()  # a second load sends nothing new
