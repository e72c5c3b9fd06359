"""A real client accepts k8sfs's kubeconfigs: kubectl reads them
(`config view --raw`) and completes a mutual-TLS handshake with a small
HTTPS server that uses k8sfs's apiserver certificate and trusts its CA."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeApiserver:
    """HTTPS on 127.0.0.1 with the apiserver's certificate; client certs required."""

    def __init__(self, cert: Path, key: Path, client_ca: Path, port: int) -> None:
        seen = self.client_subjects = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                subject = dict(x[0] for x in self.connection.getpeercert()["subject"])
                seen.append(subject)
                body = json.dumps(
                    {"major": "1", "minor": "34", "gitVersion": "v1.34.4", "seenClient": subject["commonName"]}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pki(tmp_path: Path):
    port = free_port()
    spec = tmp_path / "cluster.yaml"
    spec.write_text(f"pki: {{api_server_url: 'https://127.0.0.1:{port}'}}\n")
    directory = tmp_path / "pki"
    subprocess.run(
        [sys.executable, "-m", "k8sfs.cli", "pki", "init", "--spec", str(spec), "--dir", str(directory)],
        check=True,
        capture_output=True,
    )
    return directory, port


def run_kubectl(kubectl: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([kubectl, *args], capture_output=True, text=True, timeout=60)


def test_kubectl_reads_the_kubeconfig_back(kubectl, pki):
    directory, port = pki
    view = run_kubectl(kubectl, "config", "view", "--raw", "--kubeconfig", str(directory / "admin.conf"), "-o", "json")
    assert view.returncode == 0, view.stderr
    config = json.loads(view.stdout)
    ours = yaml.safe_load((directory / "admin.conf").read_text())
    assert config["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{port}"
    assert config["users"][0]["user"]["client-certificate-data"] == ours["users"][0]["user"]["client-certificate-data"]
    assert (
        base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"])
        == (directory / "pki/ca.crt").read_bytes()
    )
    assert config["current-context"] == ours["current-context"]


@pytest.mark.parametrize(
    "kubeconfig,identity",
    [
        ("admin.conf", "kubernetes-admin"),
        ("super-admin.conf", "kubernetes-super-admin"),
        ("kube-proxy.conf", "system:kube-proxy"),
    ],
)
def test_kubectl_completes_mutual_tls_with_the_apiserver_certificate(kubectl, pki, kubeconfig, identity):
    directory, port = pki
    with FakeApiserver(
        directory / "pki/apiserver.crt", directory / "pki/apiserver.key", directory / "pki/ca.crt", port
    ) as server:
        result = run_kubectl(kubectl, "--kubeconfig", str(directory / kubeconfig), "get", "--raw", "/version")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["seenClient"] == identity
    assert server.client_subjects and server.client_subjects[0]["commonName"] == identity


def test_kubectl_refuses_a_server_from_another_pki(kubectl, pki, tmp_path):
    directory, port = pki
    other = tmp_path / "other"
    subprocess.run(
        [sys.executable, "-m", "k8sfs.cli", "pki", "init", "--dir", str(other)], check=True, capture_output=True
    )
    with FakeApiserver(other / "pki/apiserver.crt", other / "pki/apiserver.key", directory / "pki/ca.crt", port):
        result = run_kubectl(kubectl, "--kubeconfig", str(directory / "admin.conf"), "get", "--raw", "/version")
    assert result.returncode != 0
    assert "certificate" in result.stderr.lower()
