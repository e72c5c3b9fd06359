"""`k8sfs image push --daemon docker|podman NAME`: what a person sees when
the tool is not there or does not know the image, and that the export it
makes for the push never stays behind. The push itself to a lab registry
is in test_lab_registry.py."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path


def _push(*args: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path if path is not None else os.environ["PATH"]}
    return subprocess.run(
        [sys.executable, "-m", "k8sfs.cli", "image", "push", "--registry", "127.0.0.1:9", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _exports() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("k8sfs-image-*")}


def test_a_tool_that_is_not_installed_is_named_and_nothing_is_sent(tmp_path):
    before = _exports()
    refused = _push("--daemon", "docker", "busybox:1.36", path=str(tmp_path))
    assert refused.returncode == 2
    assert "docker is not installed here (looked on PATH)" in refused.stderr
    assert _exports() == before


def test_an_image_podman_does_not_hold_shows_podmans_own_words_and_leaves_no_export():
    before = _exports()
    refused = _push("--daemon", "podman", "localhost/k8sfs-never-made:1")
    assert refused.returncode == 2
    assert "podman save localhost/k8sfs-never-made:1 failed: " in refused.stderr
    assert "image not known" in refused.stderr  # podman's stderr, its tail shown
    assert _exports() == before
