"""The lab's image registry: CNCF distribution's `registry` command, run on
the controller's side of the lab bridge (its .1 address, port 5000).

Why there and not on a lab host: it is not part of the cluster, so it keeps
serving while hosts are stopped, killed or rebuilt, takes no memory from a
node, and `k8sfs image push` reaches it without a hop. Lab hosts reach the
bridge address already and nothing else; it listens on that address only.

Its TLS certificate comes from a CA of the registry's own, made once per
lab, not from the cluster CA: the registry outlives the cluster's PKI (it
serves before the walkthrough's PKI chapter makes the CA, and through a
`k8sfs reset` or a CA rotation), and the lab's spec names that CA file in
`registries.ca_files`, so every node's runtime verifies it.

Storage, keys and the log live in one folder outside the lab's own state,
so `lab stop`, `start` and `down` keep the images; `lab down --purge`
removes it with the cluster's state."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import secrets
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from k8sfs import _core

if TYPE_CHECKING:
    from k8sfs.spec import RegistryOptions

PORT = 5000
# The registries a lab node's runtime asks the lab registry for first; each
# has its own namespace there (docker.io/library/nginx is served as
# <registry>/docker.io/library/nginx), so names from two registries never meet.
MIRRORED = ("docker.io", "registry.k8s.io", "ghcr.io", "quay.io")
CERT_DAYS = 365
RENEW_WITHIN = datetime.timedelta(days=30)


class RegistryError(RuntimeError):
    """The lab registry could not be started; names what was tried and its log's tail."""


@dataclass
class LabRegistry:
    directory: Path  # storage, CA, certificate and key, config, log, pid
    address: str  # the controller's address on the lab bridge
    binary: Path
    progress: Callable[[str], None] = field(default=lambda _m: None)

    @property
    def host(self) -> str:
        return f"{self.address}:{PORT}"

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def storage(self) -> Path:
        return self.directory / "storage"

    @property
    def log_file(self) -> Path:
        return self.directory / "registry.log"

    @property
    def _config(self) -> Path:
        return self.directory / "config.yml"

    @property
    def _pid_file(self) -> Path:
        return self.directory / "registry.pid"

    def mirrors(self) -> dict[str, list[str]]:
        """The spec's `registries.mirrors` for a lab node."""
        return {registry: [f"https://{self.host}/{registry}"] for registry in MIRRORED}

    def push(self, archive: Path, names: list[str], progress: Callable[[str], None] | None = None) -> list[Any]:
        """`k8sfs image push`: an image (a docker-archive, an OCI archive or
        layout) under names as pods give them (docker.io/..., registry.k8s.io/...,
        ghcr.io/..., quay.io/...)."""
        from k8sfs.images.push import push_archive

        return push_archive(archive, names, self.host, self.ca_file, MIRRORED, progress=progress or self.progress)

    # ----- TLS ------------------------------------------------------------------
    def _ensure_tls(self) -> None:
        """The CA once; the serving certificate again when the address changed,
        it is not the CA's, or it ends within 30 days."""
        ca_key_file, cert_file, key_file = (self.directory / n for n in ("ca.key", "tls.crt", "tls.key"))
        if not (self.ca_file.exists() and ca_key_file.exists()):
            key = _core.PrivateKey.generate()
            ca = _core.make_ca(key, f"k8sfs lab registry CA ({self.directory.name})")
            _write_secret(ca_key_file, key.to_pem())
            self.ca_file.write_text(ca.to_pem())
        ca = _core.Certificate.from_pem(self.ca_file.read_text(), "the lab registry's CA")
        ca_key = _core.PrivateKey.from_pem(ca_key_file.read_text(), "the lab registry's CA key")
        if cert_file.exists():
            cert = _core.Certificate.from_pem(cert_file.read_text(), "the lab registry's certificate")
            ends = datetime.datetime.fromtimestamp(cert.not_after, datetime.UTC)
            fresh = ends - datetime.datetime.now(datetime.UTC) > RENEW_WITHIN
            if cert.ip_addresses == [self.address] and cert.is_signed_by(ca) and fresh and key_file.exists():
                return
        key = _core.PrivateKey.generate()
        cert = _core.issue_leaf(
            "k8sfs lab registry",
            usages=[_core.ExtendedUsage.SERVER_AUTH],
            ip_addresses=[self.address],
            validity_days=CERT_DAYS,
            key=key,
            ca=ca,
            ca_key=ca_key,
        )
        _write_secret(key_file, key.to_pem())
        cert_file.write_text(cert.to_pem() + ca.to_pem())

    def _write_config(self) -> None:
        secret_file = self.directory / "http-secret"
        if not secret_file.exists():  # signs upload state; kept so a restart resumes nothing half-done
            _write_secret(secret_file, secrets.token_hex(32))
        text = "\n".join(
            [
                "# Written by k8sfs lab: the lab's image registry (CNCF distribution).",
                "version: 0.1",
                "log:",
                "  level: info",
                "  accesslog:",
                "    disabled: false",
                "storage:",
                "  filesystem:",
                f"    rootdirectory: {self.storage}",
                "  delete:",
                "    enabled: true",
                "http:",
                f"  addr: {self.host}",
                f"  secret: {secret_file.read_text().strip()}",
                "  tls:",
                f"    certificate: {self.directory / 'tls.crt'}",
                f"    key: {self.directory / 'tls.key'}",
                "",
            ]
        )
        _write_secret(self._config, text)  # it holds the http secret

    # ----- the process ------------------------------------------------------------
    def pid(self) -> int | None:
        """The running registry's pid: the one k8sfs started and recorded,
        still running this config (a reused pid is not taken for it)."""
        try:
            pid = int(self._pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        return pid if str(self._config).encode() in cmdline else None

    def start(self, timeout: float = 20) -> None:
        """Runs the registry unless it runs already; returns once it answers over TLS."""
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        self._ensure_tls()
        self._write_config()
        self.storage.mkdir(exist_ok=True)
        if self.pid() is not None and self.answers():
            return
        self.stop()
        rotate_log(self.log_file)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                [str(self.binary), "serve", str(self._config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                start_new_session=True,  # not the caller's process group: a Ctrl-C there leaves it running
            )
        self._pid_file.write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if self.answers():
                self.progress(f"lab registry: serving https://{self.host} (pid {proc.pid}, storage {self.storage})")
                return
            time.sleep(0.2)
        self.stop()
        tail = "\n".join(self.log_file.read_text(errors="replace").strip().splitlines()[-10:])
        raise RegistryError(
            f"the lab registry ({self.binary} serve {self._config}) did not answer on {self.host}:\n{tail}"
        )

    def answers(self) -> bool:
        """GET /v2/ over TLS, verified against the registry's CA."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(f"https://{self.host}/v2/", timeout=2, context=context) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        """Stops the registry k8sfs started (by its recorded pid); its storage stays."""
        pid = self.pid()
        self._pid_file.unlink(missing_ok=True)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                time.sleep(0.1)
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)
        self.progress(f"lab registry: stopped (pid {pid})")


LOG_LIMIT = 20 * 1024 * 1024


def rotate_log(path: Path, limit: int = LOG_LIMIT) -> bool:
    """A log over `limit` bytes becomes path.1 (replacing the one before),
    so each start begins a new one and two at most are kept: the registry
    logs every request, and a lab can live for months."""
    try:
        if path.stat().st_size <= limit:
            return False
    except FileNotFoundError:
        return False
    path.replace(path.with_name(path.name + ".1"))
    return True


def _write_secret(path: Path, text: str) -> None:
    """Written 0600 from the start, then renamed into place: never readable by others, never half-written."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def with_lab_registry(options: RegistryOptions, registry: LabRegistry) -> RegistryOptions:
    """A lab spec's `registries`: the lab registry as the mirror of MIRRORED
    and its CA trusted; what the spec says itself wins: an offline spec
    stays offline, a registry it mirrors elsewhere keeps that."""
    if options.offline:
        return options
    mirrors = {**registry.mirrors(), **options.mirrors}
    ca_files = {registry.host: str(registry.ca_file), **options.ca_files}
    # k8sfs's own images go there once and every node pulls them, not one upload per node.
    own = options.k8sfs_images or registry.host
    return dataclasses.replace(options, mirrors=mirrors, ca_files=ca_files, k8sfs_images=own)
