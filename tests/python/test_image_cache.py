"""The controller's image cache serves clusters of different versions: after
one version's images are built, another's (another CoreDNS) does not make
the first look stale, so plan stays empty for both. An add-on's program
gets an image of its own beside them."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from k8sfs import images


def test_two_coredns_versions_keep_their_images_current(tmp_path):
    binary = Path("/bin/true")  # stands in for a CoreDNS binary: the cache rule, not CoreDNS, is under test
    old = [images.Program("coredns", "v1.8.0", binary, "a" * 64)]
    new = [images.Program("coredns", "v1.12.1", binary, "b" * 64)]
    images.ensure_images(tmp_path, new)
    images.ensure_images(tmp_path, old)
    assert images.current_images(tmp_path, new) is not None
    assert images.current_images(tmp_path, old) is not None
    rebuilt = [images.Program("coredns", "v1.12.1", binary, "c" * 64)]
    assert images.current_images(tmp_path, rebuilt) is None  # a rebuilt binary is stale


def test_an_add_on_program_becomes_an_image_with_its_binary_as_entrypoint(tmp_path):
    binary = Path("/bin/true")
    programs = [
        images.Program("coredns", "v1.12.1", binary, "b" * 64),
        images.Program("local-path-provisioner", "v0.0.30", binary, "d" * 64),
    ]
    built = images.ensure_images(tmp_path, programs)
    names = [i.name for i in built]
    assert "k8sfs.local/local-path-provisioner:v0.0.30" in names
    assert images.current_images(tmp_path, programs[:1]) is None  # another set of programs: its own stamp
    archive = next(i for i in built if "local-path" in i.name).path
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))[0]
        config = json.load(tar.extractfile(manifest["Config"]))
        with tarfile.open(fileobj=tar.extractfile(manifest["Layers"][0])) as layer:
            member = layer.getmember("local-path-provisioner")
            assert layer.extractfile(member).read() == binary.read_bytes()
            assert member.mode & 0o111
    assert config["config"]["Entrypoint"] == ["/local-path-provisioner"]
