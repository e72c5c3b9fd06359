"""The controller's image cache serves clusters of different versions: after
one version's images are built, another's (another CoreDNS) does not make
the first look stale, so plan stays empty for both."""

from __future__ import annotations

from pathlib import Path

from k8sfs import images


def test_two_coredns_versions_keep_their_images_current(tmp_path):
    binary = Path("/bin/true")  # stands in for a CoreDNS binary: the cache rule, not CoreDNS, is under test
    old = (binary, "v1.8.0", "a" * 64)
    new = (binary, "v1.12.1", "b" * 64)
    images.ensure_images(tmp_path, new)
    images.ensure_images(tmp_path, old)
    assert images.current_images(tmp_path, new) is not None
    assert images.current_images(tmp_path, old) is not None
    assert images.current_images(tmp_path, (binary, "v1.12.1", "c" * 64)) is None  # a rebuilt binary is stale
