"""`k8sfs image load`: an image (docker-archive, OCI archive or layout)
onto every worker and into its runtime, for a cluster that pulls from no registry (what `kind load` does).
The archive goes where k8sfs keeps its own images and is imported under
each name as runtimes read it (busybox:1.36 is docker.io/library/busybox:1.36);
a worker that has it already under those names is left alone."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from k8sfs.artifacts import sha256_file
from k8sfs.chapters.node import IMAGE_DIR, images_present_check
from k8sfs.cluster import Cluster
from k8sfs.images.oci import write_docker_archive
from k8sfs.images.oci_layout import read_image
from k8sfs.images.reference import Reference


def load_image(
    cluster: Cluster, archive: Path, names: list[str], progress: Callable[[str], None] = print
) -> dict[str, str]:
    """Returns per worker what was done: "loaded" or "already there". The
    image (a docker-archive, an OCI archive or layout) is read and its
    layers checked before anything is sent. The caller holds `cluster.writing()`."""
    image = read_image(archive)
    names = [str(Reference.parse(n)) for n in (names or [t for t in image.tags if t])]
    if not names:
        raise ValueError(f"{archive} carries no name (RepoTags): give one, e.g. docker.io/library/app:1.0")
    runtime = cluster.spec.runtime.name
    done = {}
    with tempfile.TemporaryDirectory(prefix="k8sfs-load-") as tmp:
        named = Path(tmp) / "image.tar"
        write_docker_archive(image, names, named)  # one kind to import, under these names
        remote = f"{IMAGE_DIR}/loaded-{sha256_file(named)[:16]}.tar"
        for host in [h.name for h in cluster.spec.hosts if h.worker]:
            session = cluster.session(host)
            session.exec(["mkdir", "-p", IMAGE_DIR], sudo=True, check=True)
            sent = session.put(str(named), remote, mode=0o644, sudo=True)
            if not sent.changed and session.exec(images_present_check(runtime, names), sudo=True).exit_code == 0:
                done[host] = "already there"
                continue
            progress(f"image load: {host}: importing {', '.join(names)}")
            for argv in _import_commands(runtime, remote, names):
                cluster.run(host, "image load", argv, timeout=300)
            done[host] = "loaded"
    return done


def _import_commands(runtime: str, archive: str, names: list[str]) -> list[list[str]]:
    if runtime == "containerd":  # ctr files it under every RepoTag
        return [["ctr", "-n", "k8s.io", "images", "import", archive]]
    # skopeo picks the image by one of its names in the archive.
    return [["skopeo", "copy", f"docker-archive:{archive}:{n}", f"containers-storage:{n}"] for n in names]
