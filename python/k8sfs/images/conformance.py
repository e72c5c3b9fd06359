"""The images Kubernetes' conformance suite runs, made on the controller
(nothing is pulled) and tagged with the exact names the suite asks for
(the e2e-images artifact: its own test/utils/image/manifest.go).

- agnhost: the suite's many-purpose test server, built from the same
  k8s.io/kubernetes version, laid out as upstream's Dockerfile lays it
  out (/agnhost, /agnhost-2, /uploads, /localhost.crt and .key, the user
  1000 and the group 50000), with Debian's busybox for the shell tools.
- busybox: Debian's busybox-static under the suite's busybox name.
- pause: k8sfs's pause under the suite's pause name.

How they differ from upstream's is in docs/conformance.md; the tests that
need an image made nowhere here (httpd, nginx, ...) are listed by the run.
"""

from __future__ import annotations

from pathlib import Path

from k8sfs.images import (
    BUSYBOX,
    Image,
    _add_dir,
    _add_file,
    _add_link,
    _layer,
    add_busybox,
    busybox_image,
    pause_image,
    write_archive,
)

# The suite's image keys (manifest.go's configs[...]) that k8sfs makes.
MADE = ("Agnhost", "BusyBox", "Pause")


def _localhost_pair(work: Path) -> tuple[bytes, bytes]:
    """A certificate and key for "localhost" (agnhost's porter serves TLS
    with them), made once by k8sfs's own PKI and kept for the next build."""
    from k8sfs import _core

    cert, key = work / "localhost.crt", work / "localhost.key"
    if not (cert.exists() and key.exists()):
        work.mkdir(parents=True, exist_ok=True)
        ca_key = _core.PrivateKey.generate()
        ca = _core.make_ca(ca_key, "k8sfs agnhost test CA")
        leaf_key = _core.PrivateKey.generate()
        leaf = _core.issue_leaf(
            "localhost",
            usages=[_core.ExtendedUsage.SERVER_AUTH],
            dns_names=["localhost"],
            ip_addresses=["127.0.0.1"],
            validity_days=3650,
            key=leaf_key,
            ca=ca,
            ca_key=ca_key,
        )
        key.write_text(leaf_key.to_pem())
        key.chmod(0o600)
        cert.write_text(leaf.to_pem())
    return cert.read_bytes(), key.read_bytes()


def agnhost_image(cache: Path, agnhost: Path, name: str, busybox: Path = BUSYBOX) -> Image:
    crt, key = _localhost_pair(cache / "build" / "agnhost")
    binary = agnhost.read_bytes()

    def fill(tar):
        add_busybox(tar, busybox)
        _add_file(tar, "agnhost", binary)
        _add_link(tar, "agnhost-2", "agnhost")
        _add_dir(tar, "uploads", 0o777)
        _add_file(tar, "localhost.crt", crt, 0o644)
        _add_file(tar, "localhost.key", key, 0o644)  # a test-only key inside a test image, as upstream's
        _add_file(
            tar,
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\n"
            b"user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\n"
            b"nobody:x:65534:65534:nobody:/:/bin/false\n",
            0o644,
        )
        _add_file(
            tar,
            "etc/group",
            b"root:x:0:\nuser-defined-in-image:x:1000:\n"
            b"group-defined-in-image:x:50000:user-defined-in-image\nnogroup:x:65534:\n",
            0o644,
        )

    ports: dict[str, dict] = {f"{p}/tcp": {} for p in (80, 8080, 8081, 9376, 5000)}
    config = {
        "config": {
            "Entrypoint": ["/agnhost"],
            "Cmd": ["pause"],
            "Env": ["PATH=/bin:/"],
            "ExposedPorts": ports,
            "WorkingDir": "/",
        }
    }
    return write_archive(cache / "images" / "e2e-agnhost.tar", name, _layer(fill), config)


def conformance_images(cache: Path, agnhost: Path, names: dict[str, str]) -> list[Image]:
    """agnhost, busybox and pause under the suite's names (`names` is the
    e2e-images table)."""
    return [
        agnhost_image(cache, agnhost, names["Agnhost"]),
        busybox_image(cache, name=names["BusyBox"], file="e2e-busybox.tar"),
        pause_image(cache, name=names["Pause"], file="e2e-pause.tar"),
    ]
