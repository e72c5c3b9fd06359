"""`k8sfs pki push`: the certificates chapter alone, with a PKI directory's
material: each host gets its certificates, keys and kubeconfigs, written
only where they differ."""

from __future__ import annotations

from k8sfs import _core
from k8sfs.chapters import CHAPTERS
from k8sfs.chapters.control_plane import pki_file_steps
from k8sfs.cluster import Cluster
from k8sfs.engine.chapter import Chapter
from k8sfs.engine.plan import Plan
from k8sfs.engine.step import File


class NotInitialised(ValueError):
    """Some material the spec needs does not exist yet in the store."""


def pki_push(cluster: Cluster, store: _core.PkiStore) -> Plan:
    """Writes the store's files to every host of the cluster's spec; the
    returned plan says per host what was written. The caller holds
    `cluster.writing()`."""
    plan = store.plan(cluster.spec.pki_spec())
    missing = [i.name for i in plan.items if i.action == "create"]
    if missing:
        raise NotInitialised(f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} do not exist yet")
    files = [
        (f.host, File(f.remote, store.read(f.local), f.mode, f.owner, secret=f.mode & 0o077 == 0)) for f in plan.files
    ]
    hosts = [h.name for h in cluster.spec.hosts]
    # The certificates chapter, built from this store instead of the cluster's own.
    certificates = next(c for c in CHAPTERS if c.name == "certificates")
    chapter: Chapter[None] = Chapter(certificates.name, certificates.title, lambda _: pki_file_steps(files, hosts))
    return cluster.apply_steps(chapter.steps(None), [chapter])
