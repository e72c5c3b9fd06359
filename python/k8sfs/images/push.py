"""Pushing an image to a registry over the OCI distribution API: each blob
the registry lacks is uploaded in one PUT that names its digest (the
registry checks it), then the manifest under its tag, whose digest the
registry must answer with. Plain urllib, TLS verified against the CA file
given (the lab registry's own CA), a Basic login when one is given; the
password is never in an error or a log."""

from __future__ import annotations

import base64
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from k8sfs.images.oci import MANIFEST_TYPE, Blob, OciImage
from k8sfs.images.reference import Reference


class PushError(RuntimeError):
    """A push the registry refused or could not take; names the registry, the step and its answer."""


@dataclass
class Pushed:
    reference: Reference  # where it is stored
    digest: str  # the manifest's: what `crictl images --digests` shows after a pull
    sent: int  # bytes of blobs and manifest sent
    skipped: int  # blobs the registry had already
    name: str = ""  # as a pod names it, in full (docker.io/library/busybox:1.36)


class Registry:
    def __init__(
        self,
        registry: str,
        ca_file: Path | None = None,
        login: tuple[str, str] | None = None,
        scheme: str = "https",
        timeout: float = 120,
    ) -> None:
        self.base = f"{scheme}://{registry}"
        self.registry = registry
        self._context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else ssl.create_default_context()
        self._auth = "Basic " + base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode() if login else ""
        self.timeout = timeout

    def _request(
        self, method: str, url: str, what: str, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str]]:
        request = urllib.request.Request(url if "://" in url else self.base + url, data=data, method=method)
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        if self._auth:
            request.add_header("Authorization", self._auth)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._context) as response:
                return response.status, dict(response.headers)
        except urllib.error.HTTPError as error:
            if method == "HEAD" and error.code == 404:
                return 404, {}
            body = error.read()[:400].decode(errors="replace").strip()
            hint = " (a login is needed: registries.credentials, or --username)" if error.code == 401 else ""
            raise PushError(f"{self.registry}: {what}: HTTP {error.code} {error.reason}{hint}: {body}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise PushError(f"{self.registry}: {what}: {reason}") from None

    def manifest_digest(self, reference: Reference) -> str | None:
        """The digest the registry holds under `reference`'s tag; None when it holds none."""
        status, headers = self._request(
            "HEAD",
            f"/v2/{reference.repository}/manifests/{reference.tag}",
            f"checking {reference}",
            headers={"Accept": MANIFEST_TYPE},
        )
        return headers.get("Docker-Content-Digest") if status == 200 else None

    def _has_blob(self, repository: str, blob: Blob) -> bool:
        status, _ = self._request("HEAD", f"/v2/{repository}/blobs/{blob.digest}", f"checking {blob.digest}")
        return status == 200

    def _upload(self, repository: str, blob: Blob) -> None:
        what = f"uploading {blob.digest} ({len(blob.data)} bytes)"
        _, headers = self._request("POST", f"/v2/{repository}/blobs/uploads/", what)
        location = headers.get("Location", "")
        if not location:
            raise PushError(f"{self.registry}: {what}: the registry gave no upload location")
        url = urllib.parse.urljoin(self.base + "/", location)
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"digest": blob.digest})
        self._request("PUT", url, what, blob.data, {"Content-Type": "application/octet-stream"})

    def push(self, image: OciImage, reference: Reference, progress: Callable[[str], None] = lambda _m: None) -> Pushed:
        """The image's blobs the registry lacks, then its manifest under the tag."""
        if reference.registry != self.registry:
            raise ValueError(f"{reference} is not on {self.registry}")
        sent = skipped = 0
        for blob in [image.config, *image.layers]:
            if self._has_blob(reference.repository, blob):
                skipped += 1
                continue
            progress(f"{reference}: {blob.digest[:19]} {len(blob.data)} bytes")
            self._upload(reference.repository, blob)
            sent += len(blob.data)
        manifest = image.manifest
        _, headers = self._request(
            "PUT",
            f"/v2/{reference.repository}/manifests/{reference.tag}",
            f"putting the manifest of {reference}",
            manifest,
            {"Content-Type": MANIFEST_TYPE},
        )
        answered = headers.get("Docker-Content-Digest", image.digest)
        if answered != image.digest:
            raise PushError(f"{self.registry}: {reference}: stored as {answered}, sent {image.digest}")
        return Pushed(reference, image.digest, sent + len(manifest), skipped)


def push_archive(
    archive: Path,
    names: list[str],
    registry: str,
    ca_file: Path | None = None,
    mirrored: tuple[str, ...] = (),
    login: tuple[str, str] | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> list[Pushed]:
    """Pushes an image (a docker-archive, an OCI archive or an OCI layout
    directory) under each of `names` (as pods name it; default: the names
    the archive carries). With `mirrored`, `registry` mirrors those
    registries, each under its own namespace (the lab registry); without,
    every name must be on `registry` itself. Bad names and archives are
    refused before anything is sent."""
    from k8sfs.images.oci_layout import read_image

    image = read_image(archive)
    names = names or [t for t in image.tags if t]
    if not names:
        raise ValueError(f"{archive} carries no name (RepoTags): give one, e.g. docker.io/library/app:1.0")
    targets = []
    for name in names:
        reference = Reference.parse(name)
        if mirrored:
            targets.append(reference.in_mirror(registry, mirrored))
        elif reference.registry != registry:
            raise ValueError(f"{reference} is not on {registry}: name it {registry}/{reference.repository}")
        else:
            targets.append(reference)
    client = Registry(registry, ca_file, login)
    done = []
    for name, target in zip(names, targets, strict=True):
        pushed = client.push(image, target, progress)
        pushed.name = str(Reference.parse(name))
        done.append(pushed)
    return done


def publish(
    archives: list[tuple[str, Path, str]],
    registry: str,
    record: Path,
    ca_file: Path | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> list[Pushed]:
    """Puts each (name, docker-archive, image ID) on `registry`, which
    mirrors the name's registry under its own namespace, unless it holds
    it already. `record` keeps the manifest digest each image ID was pushed
    as, so an unchanged image costs one HEAD request, not a gzip of its
    layers. Returns what was pushed."""
    import json

    from k8sfs.images.oci_layout import read_image

    known = json.loads(record.read_text()) if record.exists() else {}
    client = Registry(registry, ca_file)
    done = []
    for name, archive, image_id in archives:
        reference = Reference.parse(name)
        target = reference.in_mirror(registry, (reference.registry,))
        if known.get(image_id) and client.manifest_digest(target) == known[image_id]:
            continue
        pushed = client.push(read_image(archive), target, progress)
        pushed.name = name
        known[image_id] = pushed.digest
        done.append(pushed)
    if done:
        record.parent.mkdir(parents=True, exist_ok=True)
        staged = record.with_suffix(".tmp")
        staged.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")
        staged.replace(record)
    return done
