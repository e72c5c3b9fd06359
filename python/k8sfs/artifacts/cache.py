"""The controller's artifact cache: one verified file per name, version and
platform, with a manifest saying its sha256 and where it came from.

    ~/.cache/k8sfs/artifacts/<name>/<version>/<os>-<arch>/<name>
                                                         /<name>.json
Files enter only whole (copied to a temp name, checked, renamed).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from k8sfs.artifacts import catalog


class ArtifactError(RuntimeError):
    """An artifact is missing, cannot be fetched, or is not what it claims to be."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_root() -> Path:
    return Path(os.environ.get("K8SFS_CACHE", Path.home() / ".cache" / "k8sfs")) / "artifacts"


@dataclass
class Artifact:
    name: str
    version: str
    platform: str
    path: Path
    sha256: str
    size: int
    source: str  # "release <url>", "build <module>@<version>", "import <path>"

    def verify(self) -> None:
        """Full check of the file against its recorded digest."""
        actual = sha256_file(self.path)
        if actual != self.sha256:
            raise ArtifactError(
                f"{self.name} {self.version} in {self.path} is corrupt: sha256 {actual}, "
                f"recorded {self.sha256}; remove it and fetch/build again"
            )


class ArtifactCache:
    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else default_root()

    def _dir(self, name: str, version: str, platform: str) -> Path:
        return self.root / name / version / platform

    def lookup(self, name: str, version: str, platform: str = "linux-amd64") -> Artifact | None:
        """The cached artifact, or None. Checks the size (cheap); verify() checks the digest."""
        d = self._dir(name, version, platform)
        try:
            manifest = json.loads((d / f"{name}.json").read_text())
        except (OSError, ValueError):
            return None
        path = d / name
        if not path.exists() or path.stat().st_size != manifest["size"]:
            return None
        return Artifact(name, version, platform, path, manifest["sha256"], manifest["size"], manifest["source"])

    def require(self, name: str, version: str, platform: str = "linux-amd64") -> Artifact:
        found = self.lookup(name, version, platform)
        if found is None:
            raise ArtifactError(
                f"{name} {version} ({platform}) is not in the artifact cache {self.root}; "
                f"get it with `k8sfs artifacts build` (no internet) or `k8sfs artifacts fetch`"
            )
        return found

    def list(self) -> list[Artifact]:
        found = []
        for manifest in sorted(self.root.glob("*/*/*/*.json")):
            platform_dir = manifest.parent
            a = self.lookup(manifest.stem, platform_dir.parent.name, platform_dir.name)
            if a:
                found.append(a)
        return found

    def add(
        self,
        name: str,
        version: str,
        source_file: Path,
        source: str,
        expected_sha256: str | None = None,
        platform: str = "linux-amd64",
    ) -> Artifact:
        """Copy a file in; with `expected_sha256`, a mismatch is an error and nothing is added."""
        d = self._dir(name, version, platform)
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=d, prefix=f".{name}.")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, open(source_file, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
            actual = sha256_file(tmp)
            if expected_sha256 and actual != expected_sha256.lower():
                raise ArtifactError(
                    f"{name} {version} from {source}: sha256 is {actual} but {expected_sha256} was expected; not added"
                )
            tmp.chmod(0o755)
            tmp.rename(d / name)
        finally:
            tmp.unlink(missing_ok=True)
        size = (d / name).stat().st_size
        manifest = {
            "name": name,
            "version": version,
            "platform": platform,
            "sha256": actual,
            "size": size,
            "source": source,
            "added": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (d / f"{name}.json").write_text(json.dumps(manifest, indent=2) + "\n")
        return Artifact(name, version, platform, d / name, actual, size, source)

    # ----- official releases (needs internet) --------------------------
    def fetch(
        self,
        name: str,
        version: str,
        platform: str = "linux-amd64",
        progress: Callable[[str], None] = lambda _m: None,
        timeout: float = 60,
        mirror: str = "",
    ) -> Artifact:
        os_name, arch = platform.split("-", 1)
        rel = catalog.mirrored(catalog.release(name, version, os_name, arch), mirror)
        progress(f"fetching {rel.url}")
        try:
            digest_text = _download(rel.sha256_url, timeout).decode()
            data = _download(rel.url, timeout)
        except OSError as e:
            raise ArtifactError(
                f"cannot download {name} {version}: {e} (tried {rel.url}); without internet use "
                f"`k8sfs artifacts build` or `k8sfs artifacts import`"
            ) from None
        expected = _published_digest(digest_text, rel.sha256_name)
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise ArtifactError(f"{rel.url}: sha256 is {actual} but the release publishes {expected}; not used")
        if rel.member:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                member = tar.extractfile(rel.member)
                if member is None:
                    raise ArtifactError(f"{rel.url} has no {rel.member}")
                data = member.read()
        with tempfile.NamedTemporaryFile(delete=False) as tmp:
            tmp.write(data)
        try:
            return self.add(name, version, Path(tmp.name), f"release {rel.url}", platform=platform)
        finally:
            os.unlink(tmp.name)


def _download(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (the catalog's hosts or a mirror)
        return response.read()


def _published_digest(text: str, file_name: str) -> str:
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if not file_name or (len(words) > 1 and words[-1].lstrip("*") == file_name):
            return words[0].lower()
    raise ArtifactError(f"no sha256 for {file_name or 'the file'} in the published digest list")
