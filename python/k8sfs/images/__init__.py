"""k8sfs's own container images: its pause image, a small busybox test
image, and one image per static program it runs in pods (CoreDNS, the
add-ons), written as docker-archive tarballs.

Nodes get them from the registry of registries.k8sfs_images (the lab's) or,
without one, imported from these files (`ctr images import`, or `skopeo
copy` into CRI-O's containers-storage). The runtime's sandbox image setting
names PAUSE_IMAGE; pods name the others with imagePullPolicy Never or
IfNotPresent. Builds are deterministic (fixed mtimes and owners), so the
same inputs give the same image digest.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Sequence
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


@dataclass(frozen=True)
class Program:
    """A cached static binary that becomes a one-layer image: CoreDNS, the add-ons."""

    artifact: str  # its name in the artifact cache, e.g. coredns
    version: str
    path: Path
    sha256: str


# Each program's image: the /etc/passwd it carries (its users) and the image
# config beyond the entrypoint; the binary lands at /<artifact> and is the
# entrypoint.
_RECIPES: dict[str, tuple[bytes, dict]] = {
    "coredns": (
        b"root:x:0:0:root:/:/coredns\nnonroot:x:65532:65532::/:/coredns\n",
        {"ExposedPorts": {"53/tcp": {}, "53/udp": {}}},
    ),
    "local-path-provisioner": (b"root:x:0:0:root:/:/local-path-provisioner\n", {}),
    "metrics-server": (b"root:x:0:0:root:/:/metrics-server\nmetrics:x:1000:1000::/:/metrics-server\n", {}),
}


def program_image_name(artifact: str, version: str) -> str:
    return f"{OWN_REGISTRY}/{artifact}:{version}"


def coredns_image_name(version: str) -> str:
    return program_image_name("coredns", version)


def _program_file(cache: Path, artifact: str, version: str) -> Path:
    return cache / "images" / f"{artifact}-{version}.tar"


def program_image(cache: Path, program: Program) -> Image:
    """The program's static binary at /<artifact>, its entrypoint."""
    if program.artifact not in _RECIPES:
        raise ImageError(f"no image recipe for {program.artifact!r}; known: {', '.join(_RECIPES)}")
    passwd, extra = _RECIPES[program.artifact]
    data = program.path.read_bytes()

    def fill(tar: tarfile.TarFile) -> None:
        _add_file(tar, program.artifact, data)
        _add_dir(tar, "etc")
        _add_file(tar, "etc/passwd", passwd, 0o644)
        _add_dir(tar, "tmp", 0o1777)

    config = {"config": {"Entrypoint": [f"/{program.artifact}"], **extra}}
    return write_archive(
        _program_file(cache, program.artifact, program.version),
        program_image_name(program.artifact, program.version),
        _layer(fill),
        config,
    )


def _inputs_digest(programs: Sequence[Program]) -> str:
    digest = hashlib.sha256(PAUSE_SOURCE.read_bytes())
    digest.update(BUSYBOX.read_bytes() if BUSYBOX.exists() else b"")
    digest.update(PAUSE_IMAGE.encode() + TEST_IMAGE.encode())
    for p in programs:  # the binary and how it is wrapped
        digest.update(f"{p.artifact}:{p.version}:{p.sha256}".encode())
        digest.update(repr(_RECIPES.get(p.artifact)).encode())
    return digest.hexdigest()


def _planned(cache: Path, programs: Sequence[Program]) -> list[tuple[str, Path]]:
    images = [(PAUSE_IMAGE, cache / "images" / "pause.tar"), (TEST_IMAGE, cache / "images" / "busybox.tar")]
    images += [
        (program_image_name(p.artifact, p.version), _program_file(cache, p.artifact, p.version)) for p in programs
    ]
    return images


def _stamp(cache: Path, programs: Sequence[Program]) -> Path:
    """Where the inputs of one set of images are recorded: one per set of
    programs and versions, so clusters of different versions (another
    CoreDNS) or add-ons on one controller do not take each other's images
    for stale."""
    name = "-".join(f"{p.artifact}-{p.version}" for p in programs) or "no-programs"
    return cache / "images" / f"inputs-{name}.sha256"


def current_images(cache: Path, programs: Sequence[Program] = ()) -> list[Image] | None:
    """The built images when they match their inputs; None when a build is due. Reads only."""
    stamp = _stamp(cache, programs)
    paths = [path for _name, path in _planned(cache, programs)]
    if stamp.exists() and stamp.read_text() == _inputs_digest(programs) and all(p.exists() for p in paths):
        return [_read_archive(p) for p in paths]
    return None


def planned_images(cache: Path, programs: Sequence[Program] = ()) -> list[Image]:
    """The images apply would build, by name and file (their digests are not known yet)."""
    return [Image(name, path, "") for name, path in _planned(cache, programs)]


def pending_program_image(cache: Path, artifact: str, version: str) -> Image:
    """A program's image by name and file while its binary is not cached (a plan shows it pending)."""
    return Image(program_image_name(artifact, version), _program_file(cache, artifact, version), "")


def ensure_images(cache: Path, programs: Sequence[Program] = ()) -> list[Image]:
    """The images, rebuilt only when their inputs changed (builds are deterministic).

    `programs`: the cached binaries that become images (CoreDNS, add-ons)."""
    current = current_images(cache, programs)
    if current is not None:
        return current
    images = [pause_image(cache), busybox_image(cache)]
    images += [program_image(cache, p) for p in programs]
    _stamp(cache, programs).write_text(_inputs_digest(programs))
    return images


def _read_archive(path: Path) -> Image:
    with tarfile.open(path) as tar:
        member = tar.extractfile("manifest.json")
        if member is None:
            raise ImageError(f"{path} has no manifest.json: not a docker archive")
        manifest = json.load(member)[0]
    return Image(manifest["RepoTags"][0], path, manifest["Config"].removesuffix(".json"))
