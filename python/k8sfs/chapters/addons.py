"""The add-ons: what a workload needs beyond the walkthrough, each a chapter
after the smoke test, run only for a spec that lists it under `addons:`.
Each runs a binary built from its Go module, from k8sfs's own image.

local-path (the storage chapter): rancher's local-path-provisioner, built from its Go
module and run from k8sfs's own image, behind the default StorageClass.
A claim gets a directory on the node its first pod is scheduled to. It
was chosen over a provisioner of k8sfs's own because it is what k3s and
kubespray ship, it needs nothing from the hosts but a directory, and its
helper pods reuse the busybox image every node already has.

metrics (the metrics chapter): metrics-server, the Metrics API behind the aggregation
layer for kubectl top and the HorizontalPodAutoscaler. It verifies each
kubelet's serving certificate with the cluster CA."""

from __future__ import annotations

import base64

from k8sfs import join_command, manifests
from k8sfs._core import layout
from k8sfs.chapters.cluster_services import applied_manifest_step, replicas_available
from k8sfs.chapters.context import Context
from k8sfs.chapters.control_plane import ADMIN_CONF, kubectl_with
from k8sfs.engine.step import File, Step
from k8sfs.images import TEST_IMAGE, program_image_name

LOCAL_PATH_MANIFEST = f"{layout.ADDONS_DIR}/local-path-storage.yaml"
STORAGE_NAMESPACE = "local-path-storage"
STORAGE_CLASS = "local-path"


def _kubectl(*args: str) -> list[str]:
    return kubectl_with(ADMIN_CONF, *args)


def _image(ctx: Context, artifact: str) -> tuple[str, str]:
    """The add-on's version and image name; an error saying what to build when it is missing."""
    version = ctx.version(artifact)
    image = program_image_name(artifact, version)
    if image not in [i.name for i in ctx.images if i.config_digest or ctx.planning]:
        raise ValueError(
            f"the {artifact} image for {version} was not built; is the artifact cached? "
            f"(k8sfs artifacts build {artifact})"
        )
    return version, image


def _wanted(ctx: Context, addon: str) -> bool:
    return addon in ctx.spec.addons and bool(ctx.control_plane) and bool(ctx.workers)


def storage_steps(ctx: Context) -> list[Step]:
    if not _wanted(ctx, "local-path"):
        return []
    version, image = _image(ctx, "local-path-provisioner")
    manifest = manifests.render(
        "local-path-storage.yaml",
        cluster=ctx.spec.cluster_name,
        version=version,
        image=image,
        helper_image=TEST_IMAGE,
        path=layout.LOCAL_VOLUMES_DIR,
    )
    class_is_default = join_command(
        _kubectl(
            "get",
            "storageclass",
            STORAGE_CLASS,
            "-o",
            "jsonpath={.metadata.annotations.storageclass\\.kubernetes\\.io/is-default-class}",
        )
    )
    available = replicas_available(STORAGE_NAMESPACE, "local-path-provisioner", 1)
    ready = ["sh", "-c", f'{join_command(available)} && test "$({class_is_default})" = true']
    return [
        applied_manifest_step(
            ctx,
            "local-path",
            f"local-path-provisioner {version}: the default StorageClass, volumes in {layout.LOCAL_VOLUMES_DIR}",
            File(LOCAL_PATH_MANIFEST, manifest),
            ready,
            by_hand=[
                join_command(_kubectl("get", "storageclass")),
                join_command(_kubectl("-n", STORAGE_NAMESPACE, "get", "pods", "-o", "wide")),
                join_command(_kubectl("-n", STORAGE_NAMESPACE, "logs", "deploy/local-path-provisioner", "--tail=5")),
            ],
        )
    ]


METRICS_MANIFEST = f"{layout.ADDONS_DIR}/metrics-server.yaml"
METRICS_SECRET = f"{layout.ADDONS_DIR}/metrics-server-tls.yaml"
METRICS_API = "v1beta1.metrics.k8s.io"


def metrics_steps(ctx: Context) -> list[Step]:
    if not _wanted(ctx, "metrics"):
        return []
    version, image = _image(ctx, "metrics-server")
    files = _metrics_manifests(ctx, version, image)
    # Available: the apiserver reached metrics-server through its Service
    # and metrics-server is ready, which it is once it has scraped the kubelets.
    available = join_command(
        _kubectl("get", "apiservice", METRICS_API, "-o", 'jsonpath={.status.conditions[?(@.type=="Available")].status}')
    )
    ready = ["sh", "-c", f'test "$({available})" = True']
    return [
        applied_manifest_step(
            ctx,
            "metrics-server",
            f"metrics-server {version}: the Metrics API ({METRICS_API}) for kubectl top and autoscaling",
            files,
            ready,
            by_hand=[
                join_command(_kubectl("get", "apiservice", METRICS_API)),
                join_command(_kubectl("top", "nodes")),
                join_command(_kubectl("top", "pods", "-A")),
            ],
        )
    ]


def _rendered(path: str, template: str, parts: dict[str, File], secret: bool = False, **values: str) -> File:
    """`template` filled with `values` and each part's content in base64;
    pending while a part is (a certificate apply has not issued yet)."""
    pending = next((f.pending for f in parts.values() if f.content is None), "")
    if pending:
        return File(path, None, 0o600, secret=secret, pending=pending)
    # File keeps content as bytes (str is encoded when it is made)
    encoded = {
        name: base64.b64encode(f.content if isinstance(f.content, bytes) else b"").decode() for name, f in parts.items()
    }
    return File(path, manifests.render(template, **values, **encoded), 0o600, secret=secret)


def _metrics_manifests(ctx: Context, version: str, image: str) -> list[File]:
    """The Secret with the serving certificate and key (pki/metrics-server),
    then the rest with the CA that verifies it (caBundle). Only the
    Secret's file is secret: the rest is shown in full."""
    cluster = ctx.spec.cluster_name
    key_pair = {
        "tls_crt": ctx.pki_file("pki/metrics-server.crt", METRICS_SECRET),
        "tls_key": ctx.pki_file("pki/metrics-server.key", METRICS_SECRET),
    }
    ca = {"ca_bundle": ctx.pki_file("pki/ca.crt", METRICS_MANIFEST)}
    return [
        _rendered(METRICS_SECRET, "metrics-server-tls.yaml", key_pair, secret=True, cluster=cluster),
        _rendered(METRICS_MANIFEST, "metrics-server.yaml", ca, cluster=cluster, version=version, image=image),
    ]
