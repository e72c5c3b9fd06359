"""Reading a docker-archive into what a registry stores: the config and
gzip layers by digest and the OCI manifest naming them (images/oci.py).
Archives are made by k8sfs's own image writer, as `docker save` lays them out."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import pytest

from k8sfs.images import write_archive
from k8sfs.images.oci import LAYER_TYPE, ArchiveError, read_docker_archive


def _layer(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_an_archive_becomes_an_oci_image_whose_digests_name_its_parts(tmp_path):
    layer = _layer({"hello": b"hello from a layer\n"})
    image = write_archive(tmp_path / "a.tar", "example.org/hello:1", layer, {"config": {"Cmd": ["/hello"]}})
    oci = read_docker_archive(image.path)
    assert oci.tags == ["example.org/hello:1"]
    assert oci.config.digest == image.id  # the image ID runtimes show
    [blob] = oci.layers
    assert blob.media_type == LAYER_TYPE and gzip.decompress(blob.data) == layer
    manifest = json.loads(oci.manifest)
    assert manifest["config"]["digest"] == image.id
    assert manifest["layers"][0] == {"mediaType": LAYER_TYPE, "digest": blob.digest, "size": len(blob.data)}
    assert oci.digest == "sha256:" + hashlib.sha256(oci.manifest).hexdigest()
    # The same archive, read again, is the same image: pushes can be compared by digest.
    assert read_docker_archive(image.path).digest == oci.digest


def test_a_damaged_layer_is_named_before_anything_is_sent(tmp_path):
    good = write_archive(tmp_path / "a.tar", "x:1", _layer({"f": b"1"}), {})
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(good.path) as src, tarfile.open(damaged, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name.endswith("layer.tar"):
                data = _layer({"f": b"2"})
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    with pytest.raises(ArchiveError, match="do not match the diff_ids"):
        read_docker_archive(damaged)


def test_a_file_that_is_not_a_docker_archive_says_so(tmp_path):
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as tar:
        info = tarfile.TarInfo("readme")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(ArchiveError, match="no manifest.json"):
        read_docker_archive(plain)
    from k8sfs.images.oci_layout import read_image  # what image push reads: any of the three kinds

    with pytest.raises(ArchiveError, match="neither a docker-archive"):
        read_image(plain)
    (tmp_path / "text").write_text("hello")
    with pytest.raises(ArchiveError, match="not an image archive"):
        read_image(tmp_path / "text")
    with pytest.raises(ArchiveError, match="not a readable docker-archive"):
        read_docker_archive(tmp_path / "missing.tar")
