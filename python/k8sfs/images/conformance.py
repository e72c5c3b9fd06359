"""The images Kubernetes' conformance suite runs, made on the controller
(nothing is pulled) and tagged with the exact names the suite asks for
(the e2e-images artifact: its own test/utils/image/manifest.go).

- agnhost: the suite's many-purpose test server, built from the same
  k8s.io/kubernetes version, laid out as upstream's Dockerfile lays it
  out (/agnhost, /agnhost-2, /uploads, /localhost.crt and .key, the user
  1000 and the group 50000). Its tools are the ones tests call: Debian's
  OpenBSD netcat, curl, dig, getent, bash (also as /bin/sh) and ip, each with the
  shared libraries it links, copied from this machine, over busybox.
- busybox: Debian's busybox-static under the suite's busybox name, with
  bash as /bin/sh: busybox 1.35's sh drops environment variables whose
  names are not shell identifiers (data-1), which Kubernetes allows and
  the suite's newer busybox keeps.
- jessie-dnsutils: what the DNS tests' second prober needs (sh, dig,
  getent, nslookup), from the same parts: busybox, bash, Debian's dig and
  getent.
- pause: k8sfs's pause under the suite's pause name.

How they differ from upstream's is in docs/conformance.md; the tests that
need an image made nowhere here (httpd, nginx, ...) are listed there.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

from k8sfs.images import (
    BUSYBOX,
    Image,
    ImageError,
    _add_dir,
    _add_file,
    _add_link,
    _layer,
    add_busybox,
    pause_image,
    write_archive,
)

# Debian programs the suite's tests run inside agnhost, as (path on this
# machine, path in the image). Packages: netcat-openbsd, curl, bind9-dnsutils, bash,
# iproute2 (scripts/deps.sh installs them).
AGNHOST_TOOLS = (
    ("/usr/bin/nc.openbsd", "usr/bin/nc"),
    ("/usr/bin/curl", "usr/bin/curl"),
    ("/usr/bin/dig", "usr/bin/dig"),
    ("/usr/bin/bash", "bin/bash"),
    ("/usr/sbin/ip", "usr/sbin/ip"),
    ("/usr/bin/getent", "usr/bin/getent"),
)
PATH = "PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/"
# getent's lookups: /etc/hosts (the kubelet's), then DNS. glibc 2.36 has
# both sources built in, so no libnss_* file is needed.
NSSWITCH = b"hosts: files dns\npasswd: files\ngroup: files\n"


def shared_libraries(program: Path) -> list[str]:
    """The files `program` loads at start (ldd: its libraries and the
    dynamic loader), by the path it loads them from."""
    out = subprocess.run(["ldd", str(program)], capture_output=True, text=True)
    if out.returncode != 0:
        raise ImageError(f"ldd {program} failed: {out.stderr.strip() or out.stdout.strip()}")
    paths = []
    for line in out.stdout.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) > parts.index("=>") + 1 and parts[parts.index("=>") + 1].startswith("/"):
            paths.append(parts[parts.index("=>") + 1])
        elif parts and parts[0].startswith("/"):
            paths.append(parts[0])
    return paths


def add_programs(tar: tarfile.TarFile, programs: tuple[tuple[str, str], ...]) -> None:
    """Each (host path, image path) program with the libraries it links,
    at the paths its loader looks in (the file's contents, not links)."""
    files: dict[str, Path] = {}
    for source, dest in programs:
        path = Path(source)
        if not path.exists():
            raise ImageError(f"{source} is missing: make deps installs the Debian package that has it")
        files[dest] = path
        for lib in shared_libraries(path):
            files.setdefault(lib.lstrip("/"), Path(lib))
    present = set(tar.getnames())
    wanted = {str(parent) for dest in files for parent in Path(dest).parents if str(parent) != "."}
    for d in sorted(wanted - present):  # parents sort before their children
        _add_dir(tar, d)
    for dest in sorted(files):
        _add_file(tar, dest, files[dest].resolve().read_bytes())


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
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # 0600 from the start
        with os.fdopen(fd, "w") as out:
            out.write(leaf_key.to_pem())
        cert.write_text(leaf.to_pem())
    return cert.read_bytes(), key.read_bytes()


def agnhost_image(
    cache: Path,
    agnhost: Path,
    name: str,
    busybox: Path = BUSYBOX,
    file: str = "e2e-agnhost.tar",
    files: dict[str, bytes] | None = None,
    cmd: str = "pause",
) -> Image:
    """agnhost as upstream's Dockerfile lays it out; `files` (path in the
    image: contents) and `cmd` make the images built on it (kitten)."""
    crt, key = _localhost_pair(cache / "build" / "agnhost")
    binary = agnhost.read_bytes()

    def fill(tar: tarfile.TarFile) -> None:
        # bash is /bin/sh: Debian's busybox sh runs its own applets before
        # PATH (nc would be busybox's, without the -v -t the tests pass).
        add_busybox(tar, busybox, leave_out=frozenset({"sh"}))
        add_programs(tar, AGNHOST_TOOLS)
        _add_link(tar, "bin/sh", "bash")
        _add_file(tar, "etc/nsswitch.conf", NSSWITCH, 0o644)
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
        for path, data in sorted((files or {}).items()):
            _add_file(tar, path, data, 0o644)

    ports: dict[str, dict] = {f"{p}/tcp": {} for p in (80, 8080, 8081, 9376, 5000)}
    config = {
        "config": {
            "Entrypoint": ["/agnhost"],
            "Cmd": [cmd],
            "Env": [PATH],
            "ExposedPorts": ports,
            "WorkingDir": "/",
        }
    }
    return write_archive(cache / "images" / file, name, _layer(fill), config)


def update_demo_image(cache: Path, agnhost: Path, name: str, html: Path, file: str) -> Image:
    """kitten or nautilus, as upstream makes them: agnhost's test-webserver
    serving the files of the image's html/ (a picture and data.json) from /."""
    files = {f.name: f.read_bytes() for f in sorted(html.iterdir()) if f.is_file()}
    return agnhost_image(cache, agnhost, name, file=file, files=files, cmd="test-webserver")


def busybox_based_image(cache: Path, name: str, file: str, files: dict[str, tuple[bytes, int]], config: dict) -> Image:
    """busybox (as upstream's Alpine bases give a shell and coreutils), a
    root user, and `files` (path in the image: contents, mode) with their
    directories."""

    def fill(tar: tarfile.TarFile) -> None:
        add_busybox(tar, BUSYBOX)
        present = set(tar.getnames())
        for path in sorted(files):
            for parent in reversed(Path(path).parents[:-1]):  # outermost first
                if str(parent) not in present:
                    _add_dir(tar, str(parent))
                    present.add(str(parent))
        for path, (data, mode) in sorted(files.items()):
            _add_file(tar, path, data, mode)
        _add_file(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
        _add_file(tar, "etc/group", b"root:x:0:\n", 0o644)

    return write_archive(
        cache / "images" / file, name, _layer(fill), {"config": {"Env": [PATH], "WorkingDir": "/", **config}}
    )


# The web servers' stand-ins: upstream's httpd and nginx images are Apache
# and nginx from Docker Hub, which nothing here reaches. busybox's httpd
# serves the same document root on port 80 under the same command. Run by
# a shell that stops on SIGTERM (a bare PID 1 would ignore it).
_SERVE = "#!/bin/sh\ntrap 'exit 0' TERM INT QUIT WINCH\nhttpd -f -p 80 -h {root} &\nwait\n"


def web_server_image(cache: Path, name: str, file: str, root: str, index: bytes, command: list[str]) -> Image:
    """busybox httpd serving `root` (with `index` as its index.html) on
    port 80, started by `command[0]`, a script at the upstream program's path."""
    files = {
        f"{root.lstrip('/')}/index.html": (index, 0o644),
        command[0].lstrip("/"): (_SERVE.format(root=root).encode(), 0o755),
    }
    return busybox_based_image(cache, name, file, files, {"Cmd": command, "ExposedPorts": {"80/tcp": {}}})


def httpd_image(cache: Path, name: str, file: str) -> Image:
    index = b"<html><body><h1>It works!</h1></body></html>\n"  # Apache's default page
    return web_server_image(cache, name, file, "/usr/local/apache2/htdocs", index, ["/usr/local/bin/httpd-foreground"])


def nginx_image(cache: Path, name: str, file: str) -> Image:
    index = b"<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n"
    index += b"<body><h1>Welcome to nginx!</h1></body></html>\n"
    return web_server_image(cache, name, file, "/usr/share/nginx/html", index, ["/usr/sbin/nginx", "-g", "daemon off;"])


def nonewprivs_image(cache: Path, nnp: Path, name: str) -> Image:
    """nnp (it prints its effective uid) set-uid root, as upstream's
    Dockerfile makes it over Alpine."""
    files = {"usr/local/bin/nnp": (nnp.read_bytes(), 0o4755)}
    return busybox_based_image(cache, name, "e2e-nonewprivs.tar", files, {"Cmd": ["nnp"]})


def sample_apiserver_image(cache: Path, binary: Path, name: str) -> Image:
    """/sample-apiserver as its entrypoint, as upstream's Dockerfile makes it
    over Alpine."""
    files = {"sample-apiserver": (binary.read_bytes(), 0o755)}
    return busybox_based_image(cache, name, "e2e-sample-apiserver.tar", files, {"Entrypoint": ["/sample-apiserver"]})


def etcd_image(cache: Path, binary: Path, name: str) -> Image:
    """etcd at /usr/local/bin/etcd, where the Aggregator spec runs it (the
    cluster's own etcd build, under the suite's etcd image name)."""
    files = {"usr/local/bin/etcd": (binary.read_bytes(), 0o755)}
    return busybox_based_image(cache, name, "e2e-etcd.tar", files, {"Cmd": ["/usr/local/bin/etcd"]})


def suite_busybox_image(cache: Path, name: str, busybox: Path = BUSYBOX) -> Image:
    def fill(tar: tarfile.TarFile) -> None:
        add_busybox(tar, busybox, leave_out=frozenset({"sh"}))
        add_programs(tar, (("/usr/bin/bash", "bin/bash"),))
        _add_link(tar, "bin/sh", "bash")
        _add_file(
            tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n", 0o644
        )
        _add_file(tar, "etc/group", b"root:x:0:\nnogroup:x:65534:\n", 0o644)

    config = {"config": {"Cmd": ["/bin/sh"], "Env": [PATH], "WorkingDir": "/"}}
    return write_archive(cache / "images" / "e2e-busybox.tar", name, _layer(fill), config)


def dnsutils_image(cache: Path, name: str, busybox: Path = BUSYBOX) -> Image:
    def fill(tar: tarfile.TarFile) -> None:
        add_busybox(tar, busybox)
        add_programs(
            tar, (("/usr/bin/dig", "usr/bin/dig"), ("/usr/bin/bash", "bin/bash"), ("/usr/bin/getent", "usr/bin/getent"))
        )
        _add_file(tar, "etc/nsswitch.conf", NSSWITCH, 0o644)
        _add_file(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
        _add_file(tar, "etc/group", b"root:x:0:\n", 0o644)

    config = {"config": {"Cmd": ["/bin/sh"], "Env": [PATH], "WorkingDir": "/"}}
    return write_archive(cache / "images" / "e2e-jessie-dnsutils.tar", name, _layer(fill), config)


def conformance_images(cache: Path, tools: dict[str, Path], names: dict[str, str], source: Path) -> list[Image]:
    """The suite's images under its names (`names` is the e2e-images table:
    manifest.go's configs keys): agnhost, busybox, jessie-dnsutils, pause,
    kitten and nautilus, nonewprivs, sample-apiserver with etcd, and the
    httpd and nginx stand-ins. `tools`: the built agnhost, nnp,
    sample-apiserver and etcd; `source`: k8s.io/kubernetes's source at the
    same version (the Update Demo pictures)."""
    images = [
        agnhost_image(cache, tools["agnhost"], names["Agnhost"]),
        suite_busybox_image(cache, names["BusyBox"]),
        dnsutils_image(cache, names["JessieDnsutils"]),
        pause_image(cache, name=names["Pause"], file="e2e-pause.tar"),
        nonewprivs_image(cache, tools["nnp"], names["Nonewprivs"]),
        sample_apiserver_image(cache, tools["sample-apiserver"], names["APIServer"]),
        etcd_image(cache, tools["etcd"], names["Etcd"]),
    ]
    for key in ("Kitten", "Nautilus"):
        html = source / "test" / "images" / key.lower() / "html"
        images.append(update_demo_image(cache, tools["agnhost"], names[key], html, f"e2e-{key.lower()}.tar"))
    for key, make in (
        ("Httpd", httpd_image),
        ("HttpdNew", httpd_image),
        ("Nginx", nginx_image),
        ("NginxNew", nginx_image),
    ):
        images.append(make(cache, names[key], f"e2e-{key.lower()}.tar"))
    return images
