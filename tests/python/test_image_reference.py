"""Image names as runtimes read them, and where the lab registry keeps them
(a pure function: the lab tests pull what these names point at)."""

from __future__ import annotations

import pytest

from k8sfs.images.reference import Reference


@pytest.mark.parametrize(
    "name,full",
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("nginx:1.27", "docker.io/library/nginx:1.27"),
        ("me/app:1.0", "docker.io/me/app:1.0"),
        ("docker.io/library/busybox:1.36", "docker.io/library/busybox:1.36"),
        ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
        ("localhost/tools", "localhost/tools:latest"),
        ("192.168.50.1:5000/team/app:v2", "192.168.50.1:5000/team/app:v2"),
    ],
)
def test_a_name_reads_as_containerd_and_docker_read_it(name, full):
    assert str(Reference.parse(name)) == full


@pytest.mark.parametrize(
    "name,says",
    [
        ("Busybox:1", "not a repository name"),
        ("busybox@sha256:" + "0" * 64, "not a digest"),
        ("busybox:bad/tag", "not a registry host"),
        ("busybox:" + "x" * 200, "not a tag"),
    ],
)
def test_a_bad_name_is_refused_naming_what_is_wrong(name, says):
    with pytest.raises(ValueError, match=says):
        Reference.parse(name)


def test_the_lab_registry_keeps_each_mirrored_registry_under_its_own_name():
    mirrored = ("docker.io", "quay.io")
    at = "192.168.50.1:5000"
    assert str(Reference.parse("nginx:1.27").in_mirror(at, mirrored)) == f"{at}/docker.io/library/nginx:1.27"
    assert str(Reference.parse("quay.io/a/b:1").in_mirror(at, mirrored)) == f"{at}/quay.io/a/b:1"
    assert str(Reference.parse(f"{at}/mine:1").in_mirror(at, mirrored)) == f"{at}/mine:1"
    with pytest.raises(ValueError, match="only for docker.io, quay.io images"):
        Reference.parse("ghcr.io/a/b:1").in_mirror(at, mirrored)
