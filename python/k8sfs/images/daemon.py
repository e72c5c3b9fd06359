"""Images from a local Docker or Podman, as `kind load docker-image` takes
them: the image is exported with the tool's own `save` (a docker-archive)
into a private temporary folder, used, and removed again. k8sfs speaks to
neither daemon's API; the command line is what a person would type."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

TOOLS = ("docker", "podman")


class DaemonError(RuntimeError):
    """The tool is missing or its `save` failed; names the tool, the image and its stderr's tail."""


@contextlib.contextmanager
def saved_image(tool: str, image: str, timeout: float = 600) -> Iterator[Path]:
    """`tool save` of `image` as a docker-archive, for the length of the block."""
    if tool not in TOOLS:
        raise ValueError(f"--daemon {tool!r}: one of {', '.join(TOOLS)}")
    found = shutil.which(tool)
    if found is None:
        raise DaemonError(
            f"{tool} is not installed here (looked on PATH): save {image} with it elsewhere and push the archive"
        )
    with tempfile.TemporaryDirectory(prefix="k8sfs-image-") as directory:  # 0700: only we read the export
        archive = Path(directory) / "image.tar"
        command = [found, "save", "-o", str(archive), image]
        if tool == "podman":
            command[2:2] = ["--format", "docker-archive"]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DaemonError(f"{tool} save {image}: no answer in {timeout:.0f} s") from None
        if proc.returncode != 0 or not archive.exists():
            tail = proc.stderr.strip()[-600:] or f"exit code {proc.returncode}"
            raise DaemonError(f"{tool} save {image} failed: {tail}")
        yield archive
