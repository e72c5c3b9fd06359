"""The lab's image registry, as a person uses it: `k8sfs image push` an
archive under a docker.io name, then a Deployment that names it runs on
both workers, pulled through the lab registry (the runtime is told nothing
but the spec's mirrors). A layer whose bytes do not match its digest is
refused by the runtime, and the registry keeps its images across
`lab down` and `lab up`; `down --purge` removes them. CRI-O's pull from it
is in test_crio.py."""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import tarfile
from pathlib import Path

import pytest

from conftest import measured, purge_lab, require_lab_and_artifacts, run_k8sfs, run_on_both_workers

pytestmark = pytest.mark.lab

NAME, SUBNET = "k8sfsi", "192.168.67.0/24"
LAB = ["--lab", NAME]
BUSYBOX = Path(os.environ.get("K8SFS_CACHE", Path.home() / ".cache" / "k8sfs")) / "images" / "busybox.tar"


@pytest.fixture(scope="module")
def lab():
    require_lab_and_artifacts()
    from k8sfs.lab import Lab

    try:
        run_k8sfs("lab", "up", *LAB, "--subnet", SUBNET)
        run_k8sfs("apply", *LAB, timeout=900)
        yield Lab(name=NAME, progress=print)
    finally:
        purge_lab(NAME)


def _archive(directory: Path, content: bytes) -> Path:
    """A one-layer docker-archive holding a file with `content`: an image no
    registry has seen (it is never run, only pulled)."""
    layer_buffer = io.BytesIO()
    with tarfile.open(fileobj=layer_buffer, mode="w") as layer_tar:
        info = tarfile.TarInfo("data.txt")
        info.size = len(content)
        layer_tar.addfile(info, io.BytesIO(content))
    layer = layer_buffer.getvalue()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/true"]},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
        }
    ).encode()
    path = directory / "image.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in (
            ("layer.tar", layer),
            ("config.json", config),
            ("manifest.json", json.dumps([{"Config": "config.json", "Layers": ["layer.tar"]}]).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_an_image_pushed_under_a_docker_io_name_runs_on_both_workers_pulled_from_the_lab_registry(lab):
    tag = f"pushed-{secrets.token_hex(3)}"
    pushed = run_k8sfs("image", "push", *LAB, str(BUSYBOX), f"busybox:{tag}")
    where = f"{lab.controller_address}:5000/docker.io/library/busybox:{tag}"
    assert f"pushed docker.io/library/busybox:{tag} as {where}" in pushed.stdout  # the name as every runtime reads it
    first, took = pushed.stdout.strip().splitlines()
    measured("lab registry: push of busybox (first time)", f"{first.rsplit('): ', 1)[-1]}; {took}")
    pods = run_on_both_workers(NAME, "pushed", f"busybox:{tag}")
    assert sorted(pods) == ["node-1", "node-2"]
    for node, pod in pods.items():
        assert pod["phase"] == "Running", node
        assert f'Successfully pulled image "busybox:{tag}"' in pod["pulled"], (node, pod)
    log = (lab.registry_dir / "registry.log").read_text()
    for host in lab.hosts[1:]:  # each worker asked the lab registry itself, under docker.io's namespace
        assert f"{host.address}:" in log and f"/v2/docker.io/library/busybox/manifests/{tag}" in log
    again = run_k8sfs("image", "push", *LAB, str(BUSYBOX), f"busybox:{tag}")
    assert "2 blob(s) already there" in again.stdout  # config and layer: only the manifest is sent


def test_k8sfs_own_images_reach_every_node_from_the_lab_registry_not_one_upload_each(lab):
    """The fixture's apply pushed pause, busybox and CoreDNS once; every
    node holds what the registry serves (the same manifest digest) and no
    archive was uploaded to it. Bytes per node: the archives before, the
    blobs now."""
    import ssl
    import urllib.request

    from k8sfs._core import layout

    registry = lab.registry(build=False)
    context = ssl.create_default_context(cafile=str(registry.ca_file))
    from k8sfs.artifacts import versions_for
    from k8sfs.versions import LAB_KUBERNETES_VERSION

    cache = BUSYBOX.parent
    coredns = versions_for(LAB_KUBERNETES_VERSION)["coredns"]  # the cache may hold other versions' too
    archives = {
        "k8sfs.local/pause:1.0": cache / "pause.tar",
        "k8sfs.local/busybox:1.0": BUSYBOX,
        f"k8sfs.local/coredns:{coredns}": cache / f"coredns-{coredns}.tar",
    }
    pulled = 0
    for name in archives:
        repository, tag = name.split(":")
        request = urllib.request.Request(
            f"https://{registry.host}/v2/{repository}/manifests/{tag}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        with urllib.request.urlopen(request, context=context) as response:
            body = response.read()
            digest = response.headers["Docker-Content-Digest"]
        manifest = json.loads(body)
        pulled += len(body) + manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
        for host in lab.hosts[1:]:  # the workers: the control plane runs no container runtime
            with lab.session(host.name) as node:
                listed = node.exec(["ctr", "-n", "k8s.io", "images", "ls"], check=True).stdout.splitlines()
            # REF TYPE DIGEST ...: an imported archive would show the digest of a manifest ctr made up.
            assert [line.split()[2] for line in listed if line.split()[0] == name] == [digest], (host.name, listed)
    for host in lab.hosts[1:]:
        with lab.session(host.name) as node:
            assert node.exec(["ls", "-A", layout.IMAGE_DIR]).stdout.split() == [], host.name
    before = sum(path.stat().st_size for path in archives.values())
    measured(
        "k8sfs's pause, busybox and CoreDNS images, bytes to each node",
        f"{before} uploaded as archives before; {pulled} pulled from the registry now ({before / pulled:.1f}x less)",
    )


def test_an_oci_layout_pushes_under_the_name_it_records_and_a_node_pulls_it(lab, tmp_path):
    from test_oci_layout import _as_layout

    layout, digest = _as_layout(BUSYBOX, tmp_path / "layout", name="docker.io/k8sfs/from-layout:1")
    pushed = run_k8sfs("image", "push", *LAB, str(layout))
    assert "pushed docker.io/k8sfs/from-layout:1 as " in pushed.stdout and f"({digest})" in pushed.stdout
    with lab.session("node-1") as node:
        pull = node.exec(["crictl", "pull", "k8sfs/from-layout:1"], timeout=120)
        inspected = node.exec(["crictl", "inspecti", "-o", "json", "k8sfs/from-layout:1"]).stdout
    assert pull.exit_code == 0, pull.stderr
    assert f"docker.io/k8sfs/from-layout@{digest}" in json.loads(inspected)["status"]["repoDigests"]


def test_an_image_in_podman_pushes_by_its_name_and_a_node_pulls_it(lab):
    """`--daemon podman` as `kind load docker-image` works: the image is
    named in the local store, not saved by hand first."""
    import subprocess

    tag = f"localhost/k8sfs-test:{secrets.token_hex(3)}"
    subprocess.run(["podman", "load", "-i", str(BUSYBOX)], check=True, capture_output=True)
    subprocess.run(["podman", "tag", "k8sfs.local/busybox:1.0", tag], check=True)
    try:
        pushed = run_k8sfs("image", "push", *LAB, "--daemon", "podman", tag, "docker.io/k8sfs/from-podman:1")
    finally:
        subprocess.run(["podman", "rmi", tag], capture_output=True)
    assert "pushed docker.io/k8sfs/from-podman:1 as " in pushed.stdout
    with lab.session("node-1") as node:
        pull = node.exec(["crictl", "pull", "k8sfs/from-podman:1"], timeout=120)
    assert pull.exit_code == 0, pull.stderr


def test_a_name_the_nodes_would_not_ask_the_lab_registry_for_is_refused_before_anything_is_sent(lab):
    refused = run_k8sfs("image", "push", *LAB, str(BUSYBOX), "registry.example.com/tools:1", check=False)
    assert refused.returncode == 2
    assert "docker.io, registry.k8s.io, ghcr.io, quay.io" in refused.stderr
    assert not (lab.registry_dir / "storage/docker/registry/v2/repositories/registry.example.com").exists()


def test_a_layer_whose_bytes_do_not_match_its_digest_is_refused_by_the_runtime(lab, tmp_path):
    image = _archive(tmp_path, secrets.token_bytes(4096))
    run_k8sfs("image", "push", *LAB, str(image), "quay.io/k8sfs/tampered:1")
    from k8sfs.images.oci import read_docker_archive

    layer = read_docker_archive(image).layers[0]
    hex_digest = layer.digest.removeprefix("sha256:")
    stored = lab.registry_dir / f"storage/docker/registry/v2/blobs/sha256/{hex_digest[:2]}/{hex_digest}/data"
    data = bytearray(stored.read_bytes())
    data[-20] ^= 0xFF  # same size, other bytes: what a bad disk or a man in the middle would give
    stored.write_bytes(bytes(data))
    with lab.session("node-1") as node:
        pull = node.exec(["crictl", "pull", "quay.io/k8sfs/tampered:1"], timeout=120)
        images = node.exec(["crictl", "images", "-o", "json"]).stdout
    assert pull.exit_code != 0
    assert "digest" in pull.stderr and hex_digest[:12] in pull.stderr, pull.stderr
    assert "quay.io/k8sfs/tampered" not in images


def test_a_registry_that_wants_a_login_serves_pods_with_image_pull_secrets_and_refuses_one_without(lab, tmp_path):
    """A second registry on the controller (the same program, htpasswd
    logins, the lab registry's certificate), trusted by the nodes through
    the spec's ca_files; the login comes from the pod's imagePullSecrets."""
    import subprocess

    import bcrypt
    import yaml

    registry = lab.registry(build=False)
    host = f"{lab.controller_address}:5001"
    user, password = "k8sfs-test", secrets.token_urlsafe(12)
    (tmp_path / "htpasswd").write_text(f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()}\n")
    (tmp_path / "password").write_text(password)
    config = {
        "version": 0.1,
        "storage": {"filesystem": {"rootdirectory": str(tmp_path / "storage")}},
        "http": {
            "addr": host,
            "tls": {"certificate": str(registry.directory / "tls.crt"), "key": str(registry.directory / "tls.key")},
        },
        "auth": {"htpasswd": {"realm": "k8sfs-test", "path": str(tmp_path / "htpasswd")}},
    }
    (tmp_path / "config.yml").write_text(yaml.safe_dump(config))
    with open(tmp_path / "registry.log", "wb") as log:
        server = subprocess.Popen([str(registry.binary), "serve", str(tmp_path / "config.yml")], stdout=log, stderr=log)
    try:
        from k8sfs.spec import spec_to_dict

        data = spec_to_dict(lab.cluster_spec(None))
        data["registries"]["ca_files"][host] = str(registry.ca_file)
        (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(data))
        run_k8sfs("apply", *LAB, "--spec", str(tmp_path / "cluster.yaml"))
        image = f"{host}/private/busybox:1"
        refused = run_k8sfs(
            "image", "push", "--registry", host, "--ca-file", str(registry.ca_file), str(BUSYBOX), image, check=False
        )
        assert refused.returncode == 1 and "HTTP 401" in refused.stderr
        run_k8sfs(
            "image", "push", "--registry", host, "--ca-file", str(registry.ca_file),
            "--username", user, "--password-file", str(tmp_path / "password"), str(BUSYBOX), image,
        )  # fmt: skip
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "no-login", "namespace": "default"},
            "spec": {"containers": [{"name": "main", "image": image, "command": ["sleep", "3600"]}]},
        }
        run_k8sfs("kubectl", *LAB, "--", "apply", "-f", "-", input=json.dumps(pod))
        from conftest import wait_for

        def failed() -> str:
            events = json.loads(
                run_k8sfs(
                    "kubectl", *LAB, "--", "get", "events", "--field-selector",
                    "involvedObject.name=no-login,reason=Failed", "-o", "json",
                ).stdout
            )  # fmt: skip
            return " ".join(e["message"] for e in events["items"])

        wait_for("the pull without a login to fail", lambda: bool(failed()), timeout=90)
        message = failed()
        assert host in message and ("401" in message or "authoriz" in message.lower()), message
        status = run_k8sfs(
            "kubectl",
            *LAB,
            "--",
            "get",
            "pod",
            "no-login",
            "-o",
            "jsonpath={.status.containerStatuses[0].state.waiting.reason}",
        ).stdout
        assert status in ("ErrImagePull", "ImagePullBackOff")
        run_k8sfs(
            "kubectl", *LAB, "--", "create", "secret", "docker-registry", "private-login",
            f"--docker-server={host}", f"--docker-username={user}", f"--docker-password={password}",
        )  # fmt: skip
        pods = run_on_both_workers(NAME, "private", image, pull_secret="private-login")
        assert sorted(pods) == ["node-1", "node-2"] and all(p["phase"] == "Running" for p in pods.values()), pods
    finally:
        server.terminate()
        server.wait(timeout=10)
        run_k8sfs("kubectl", *LAB, "--", "delete", "pod", "no-login", "--wait=false", check=False)
        run_k8sfs("apply", *LAB)  # the lab's own spec again


def test_image_load_imports_an_archive_on_every_worker_without_a_registry(lab, tmp_path):
    image = _archive(tmp_path, secrets.token_bytes(1024))
    loaded = run_k8sfs("image", "load", *LAB, str(image), "k8sfs/loaded:1", "quay.io/k8sfs/loaded:2")
    assert "node-1: loaded" in loaded.stdout and "node-2: loaded" in loaded.stdout
    for host in ("node-1", "node-2"):
        with lab.session(host) as node:
            names = json.loads(node.exec(["crictl", "images", "-o", "json"]).stdout)["images"]
        tags = {t for i in names for t in i.get("repoTags") or []}
        assert {"docker.io/k8sfs/loaded:1", "quay.io/k8sfs/loaded:2"} <= tags, (host, tags)
    again = run_k8sfs("image", "load", *LAB, str(image), "k8sfs/loaded:1", "quay.io/k8sfs/loaded:2")
    assert "node-1: already there" in again.stdout and "node-2: already there" in again.stdout
    assert not (lab.registry_dir / "storage/docker/registry/v2/repositories/docker.io/k8sfs/loaded").exists()


def test_image_load_takes_an_oci_layout_under_the_name_it_records(lab, tmp_path):
    from k8sfs.images.oci import read_docker_archive
    from test_oci_layout import _as_layout

    archive = _archive(tmp_path, secrets.token_bytes(1024))
    layout, _digest = _as_layout(archive, tmp_path / "layout", name="docker.io/k8sfs/layout-loaded:1")
    loaded = run_k8sfs("image", "load", *LAB, str(layout))
    assert "node-1: loaded" in loaded.stdout and "node-2: loaded" in loaded.stdout
    image_id = read_docker_archive(archive).config.digest
    for host in ("node-1", "node-2"):
        with lab.session(host) as node:
            inspected = json.loads(node.exec(["crictl", "inspecti", "-o", "json", "k8sfs/layout-loaded:1"]).stdout)
        assert inspected["status"]["id"] == image_id, host


def test_the_registry_keeps_its_images_across_lab_down_and_up_and_purge_removes_them(lab, tmp_path):
    image = _archive(tmp_path, b"kept across down and up\n")
    run_k8sfs("image", "push", *LAB, str(image), "ghcr.io/k8sfs/kept:1")
    pid = lab.registry(build=False).pid()
    assert pid is not None
    run_k8sfs("lab", "down", *LAB)
    assert not Path(f"/proc/{pid}").exists(), "lab down leaves no registry running"
    run_k8sfs("lab", "up", *LAB, "--subnet", SUBNET)
    from k8sfs.images.oci import read_docker_archive
    from k8sfs.images.push import Registry

    registry = lab.registry(build=False)
    client = Registry(registry.host, registry.ca_file)
    status, headers = client._request(
        "HEAD",
        "/v2/ghcr.io/k8sfs/kept/manifests/1",
        "checking the kept image",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert status == 200 and headers["Docker-Content-Digest"] == read_docker_archive(image).digest
    pid = registry.pid()
    run_k8sfs("lab", "down", *LAB, "--purge")
    assert not lab.registry_dir.exists() and pid is not None and not Path(f"/proc/{pid}").exists()
