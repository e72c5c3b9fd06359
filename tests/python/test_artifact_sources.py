"""Where artifacts come from: `auto` fetches from a release site (here a
local HTTP server laid out like dl.k8s.io) when it answers, a download
whose digest differs from the published one is refused and nothing is
added, and a site that does not answer is reported as such (auto then
builds from Go modules)."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading

import pytest

from k8sfs import artifacts
from k8sfs.artifacts import ArtifactCache, ArtifactError

VERSION = "v1.34.4"
BINARY = b"#!/bin/sh\necho kubectl from the mirror\n"


@pytest.fixture
def mirror(tmp_path):
    """A release site on loopback: <root>/dl.k8s.io/release/<v>/bin/linux/amd64/kubectl(.sha256)."""
    root = tmp_path / "site"
    where = root / "dl.k8s.io" / "release" / VERSION / "bin" / "linux" / "amd64"
    where.mkdir(parents=True)
    (where / "kubectl").write_bytes(BINARY)
    (where / "kubectl.sha256").write_text(hashlib.sha256(BINARY).hexdigest() + "\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", where
    finally:
        server.shutdown()


def test_auto_fetches_from_a_site_that_answers_and_checks_the_digest(tmp_path, mirror):
    url, _where = mirror
    said = []
    cache = ArtifactCache(tmp_path / "cache")
    got = artifacts.obtain(VERSION, ["kubectl"], cache, "auto", url, said.append)
    assert got[0].path.read_bytes() == BINARY
    assert got[0].source == f"release {url}/dl.k8s.io/release/{VERSION}/bin/linux/amd64/kubectl"
    assert any("fetching the official releases" in m for m in said)


def test_a_wrong_published_digest_is_refused_and_nothing_is_added(tmp_path, mirror):
    url, where = mirror
    (where / "kubectl.sha256").write_text("0" * 64 + "\n")
    cache = ArtifactCache(tmp_path / "cache")
    with pytest.raises(ArtifactError, match="sha256 is .* but the release publishes 0000"):
        artifacts.obtain(VERSION, ["kubectl"], cache, "auto", url, lambda _m: None)
    assert cache.lookup("kubectl", VERSION) is None
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))


def test_a_site_that_does_not_answer_is_reported_so_auto_builds_instead():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    why = artifacts.release_site_answers("kubectl", VERSION, f"http://127.0.0.1:{port}", timeout=2)
    assert why.startswith(f"http://127.0.0.1:{port}/dl.k8s.io/release/{VERSION}/bin/linux/amd64/kubectl.sha256")
    assert "refused" in why.lower()
