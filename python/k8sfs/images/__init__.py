"""Container images for clusters without a registry: k8sfs's own pause
image and a small busybox test image, written as docker-archive tarballs
that `ctr images import` (containerd) and `skopeo copy` (into CRI-O's
containers-storage) accept.

Nothing is pulled: the runtime's sandbox image setting names PAUSE_IMAGE
and pods use TEST_IMAGE with imagePullPolicy IfNotPresent (or Never).
Builds are deterministic (fixed mtimes and owners), so the same inputs
give the same image digest.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

# The registry name k8sfs's own images carry. No such host answers: nodes
# get the images imported, or pull them through a mirror of it (the lab
# registry, spec key registries.k8sfs_images).
OWN_REGISTRY = "k8sfs.local"
PAUSE_IMAGE = f"{OWN_REGISTRY}/pause:1.0"
TEST_IMAGE = f"{OWN_REGISTRY}/busybox:1.0"
BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static
PAUSE_SOURCE = Path(__file__).with_name("pause.c")


class ImageError(RuntimeError):
    pass


@dataclass
class Image:
    name: str
    path: Path  # the docker-archive tarball
    config_digest: str  # sha256 of the image config: the image ID runtimes show

    @property
    def id(self) -> str:
        return "sha256:" + self.config_digest

    @cached_property
    def sha256(self) -> str:
        """Digest of the archive file itself (what is uploaded), read once."""
        from k8sfs.artifacts.cache import sha256_file

        return sha256_file(self.path)


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def _add_link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, target, 0o777, 0
    tar.addfile(info)


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, 0
    tar.addfile(info)


def write_archive(path: Path, name: str, layer: bytes, config: dict) -> Image:
    """One-layer docker-archive: manifest.json, the config and the layer."""
    layer_digest = hashlib.sha256(layer).hexdigest()
    config = {
        **config,
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_digest = hashlib.sha256(config_bytes).hexdigest()
    manifest = [{"Config": f"{config_digest}.json", "RepoTags": [name], "Layers": [f"{layer_digest}/layer.tar"]}]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        _add_dir(tar, layer_digest)
        _add_file(tar, f"{layer_digest}/layer.tar", layer, 0o644)
        _add_file(tar, f"{config_digest}.json", config_bytes, 0o644)
        _add_file(tar, "manifest.json", json.dumps(manifest).encode(), 0o644)
    tmp.rename(path)
    return Image(name, path, config_digest)


def _layer(build: Callable[[tarfile.TarFile], None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        build(tar)
    return buf.getvalue()


def _build_pause_binary(work: Path) -> bytes:
    """k8sfs's pause, static, with the system's C compiler (no Go needed)."""
    work.mkdir(parents=True, exist_ok=True)
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise ImageError("no C compiler to build the pause image: install build-essential (make deps does)")
    proc = subprocess.run(
        [cc, "-Os", "-static", "-s", "-o", str(work / "pause"), str(PAUSE_SOURCE)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise ImageError(f"building the pause binary failed: {proc.stderr.strip()[-800:]}")
    return (work / "pause").read_bytes()


def pause_image(cache: Path, name: str = PAUSE_IMAGE, file: str = "pause.tar") -> Image:
    binary = _build_pause_binary(cache / "build" / "pause")

    def fill(tar: tarfile.TarFile) -> None:
        _add_file(tar, "pause", binary)

    config = {"config": {"Entrypoint": ["/pause"], "User": "65535:65535"}}
    return write_archive(cache / "images" / file, name, _layer(fill), config)


def add_busybox(tar: tarfile.TarFile, busybox: Path = BUSYBOX, leave_out: frozenset[str] = frozenset()) -> None:
    """/bin/busybox and a link per applet (but those in `leave_out`), /tmp,
    /etc, /root and /var/www."""
    if not busybox.exists():
        raise ImageError(f"{busybox} is missing: install Debian's busybox-static (make deps does)")
    applets = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True).stdout.split()
    for d in ("bin", "tmp", "etc", "root", "var", "var/www"):
        _add_dir(tar, d, 0o1777 if d == "tmp" else 0o755)
    _add_file(tar, "bin/busybox", busybox.read_bytes())
    for applet in sorted(set(applets) - {"busybox"} - leave_out):
        _add_link(tar, f"bin/{applet}", "busybox")


def busybox_image(cache: Path, busybox: Path = BUSYBOX, name: str = TEST_IMAGE, file: str = "busybox.tar") -> Image:
    def fill(tar: tarfile.TarFile) -> None:
        add_busybox(tar, busybox)
        _add_file(
            tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n", 0o644
        )
        _add_file(tar, "etc/group", b"root:x:0:\nnogroup:x:65534:\n", 0o644)
        _add_file(tar, "var/www/index.html", b"hello from k8sfs\n", 0o644)

    config = {"config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"], "WorkingDir": "/"}}
    return write_archive(cache / "images" / file, name, _layer(fill), config)


def coredns_image_name(version: str) -> str:
    return f"{OWN_REGISTRY}/coredns:{version}"


def coredns_image(cache: Path, binary: Path, version: str) -> Image:
    """CoreDNS's static binary as an image (the cluster DNS chapter)."""
    data = binary.read_bytes()

    def fill(tar: tarfile.TarFile) -> None:
        _add_file(tar, "coredns", data)
        _add_dir(tar, "etc")
        _add_file(tar, "etc/passwd", b"root:x:0:0:root:/:/coredns\nnonroot:x:65532:65532::/:/coredns\n", 0o644)

    config = {"config": {"Entrypoint": ["/coredns"], "ExposedPorts": {"53/tcp": {}, "53/udp": {}}}}
    return write_archive(cache / "images" / f"coredns-{version}.tar", coredns_image_name(version), _layer(fill), config)


def _inputs_digest(extra: bytes = b"") -> str:
    digest = hashlib.sha256(PAUSE_SOURCE.read_bytes())
    digest.update(BUSYBOX.read_bytes() if BUSYBOX.exists() else b"")
    digest.update(PAUSE_IMAGE.encode() + TEST_IMAGE.encode() + extra)
    return digest.hexdigest()


def _planned(cache: Path, coredns: tuple[Path, str, str] | None) -> list[tuple[str, Path]]:
    images = [(PAUSE_IMAGE, cache / "images" / "pause.tar"), (TEST_IMAGE, cache / "images" / "busybox.tar")]
    if coredns:
        images.append((coredns_image_name(coredns[1]), cache / "images" / f"coredns-{coredns[1]}.tar"))
    return images


def _stamp(cache: Path, coredns: tuple[Path, str, str] | None) -> Path:
    """Where the inputs of one set of images are recorded: one per CoreDNS
    version, so clusters of different versions on one controller do not
    take each other's images for stale."""
    return cache / "images" / f"inputs-{coredns[1] if coredns else 'no-coredns'}.sha256"


def current_images(cache: Path, coredns: tuple[Path, str, str] | None = None) -> list[Image] | None:
    """The built images when they match their inputs; None when a build is due. Reads only."""
    stamp = _stamp(cache, coredns)
    wanted = _inputs_digest(f"{coredns[1]}:{coredns[2]}".encode() if coredns else b"")
    paths = [path for _name, path in _planned(cache, coredns)]
    if stamp.exists() and stamp.read_text() == wanted and all(p.exists() for p in paths):
        return [_read_archive(p) for p in paths]
    return None


def planned_images(cache: Path, coredns: tuple[Path, str, str] | None = None) -> list[Image]:
    """The images apply would build, by name and file (their digests are not known yet)."""
    return [Image(name, path, "") for name, path in _planned(cache, coredns)]


def ensure_images(cache: Path, coredns: tuple[Path, str, str] | None = None) -> list[Image]:
    """The images, rebuilt only when their inputs changed (builds are deterministic).

    `coredns` is (binary, version, sha256) when the CoreDNS artifact is cached."""
    current = current_images(cache, coredns)
    if current is not None:
        return current
    stamp = _stamp(cache, coredns)
    wanted = _inputs_digest(f"{coredns[1]}:{coredns[2]}".encode() if coredns else b"")
    images = [pause_image(cache), busybox_image(cache)]
    if coredns:
        images.append(coredns_image(cache, coredns[0], coredns[1]))
    stamp.write_text(wanted)
    return images


def _read_archive(path: Path) -> Image:
    with tarfile.open(path) as tar:
        member = tar.extractfile("manifest.json")
        if member is None:
            raise ImageError(f"{path} has no manifest.json: not a docker archive")
        manifest = json.load(member)[0]
    return Image(manifest["RepoTags"][0], path, manifest["Config"].removesuffix(".json"))
