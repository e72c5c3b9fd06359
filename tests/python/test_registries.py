"""Pulls configured from the spec, checked by the runtimes themselves on the
lab: containerd and CRI-O each pull docker.io images through the mirror
the spec names, log in there with the spec's credentials, and an offline
cluster refuses the pull before it reaches any registry.

The mirror is a small HTTP server on the control plane that answers like a
registry that wants a login and then knows no image: it records what each
runtime asked and with which Authorization header. The lab reaches no real
registry, so this is as far as a pull can go here without one."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from conftest import purge_lab, require_lab_and_artifacts, run_k8sfs

pytestmark = pytest.mark.lab

LABS = {"containerd": ("k8sfsm", "192.168.62.0/24"), "crio": ("k8sfsn", "192.168.63.0/24")}
PORT = 5000
LOG = "/var/tmp/k8sfs-fake-registry.log"
SCRIPT = "/var/tmp/k8sfs-fake-registry.py"
USER, PASSWORD = "k8sfs-test", "not-a-real-secret-7f3a"
# Answers like a registry: /v2/ wants a login; with one, no image exists.
FAKE_REGISTRY = f"""
import http.server, json
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open({LOG!r}, "a") as f:
            f.write(json.dumps([self.command, self.path, self.headers.get("Authorization", "")]) + "\\n")
        if not self.headers.get("Authorization"):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="k8sfs-test"')
        else:
            self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_HEAD = do_GET
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", {PORT}), H).serve_forever()
"""


@pytest.fixture(scope="module", params=sorted(LABS))
def lab(request, tmp_path_factory):
    runtime = request.param
    require_lab_and_artifacts(runtime=runtime)
    from k8sfs.lab import Lab

    name, subnet = LABS[runtime]
    try:
        run_k8sfs("lab", "up", "--lab", name, "--subnet", subnet, "--workers", "1", "--runtime", runtime)
        lab = Lab(name=name, progress=print)
        yield lab, runtime, tmp_path_factory.mktemp(runtime)
    finally:
        purge_lab(name)


def _spec_file(lab, directory, registries: dict) -> str:
    from k8sfs.spec import spec_to_dict

    data = spec_to_dict(lab.cluster_spec(None))
    data["registries"] = registries
    path = directory / "cluster.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _pull(lab, image: str) -> str:
    with lab.session("node-1") as node:
        done = node.exec(["crictl", "pull", image], timeout=120)
    assert done.exit_code != 0, "the pull cannot succeed: no registry here has the image"
    return done.stdout + done.stderr


def test_a_pull_goes_to_the_mirror_with_the_login_and_offline_refuses_it(lab):
    lab, runtime, directory = lab
    master = lab.host("k8s-master").address
    mirror = f"{master}:{PORT}"
    password_file = directory / "password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    spec = _spec_file(
        lab,
        directory,
        {
            "mirrors": {"docker.io": [f"http://{mirror}"]},
            "credentials": {mirror: {"username": USER, "password_file": str(password_file)}},
        },
    )
    plan = run_k8sfs("plan", "--lab", lab.name, "--spec", spec)
    assert PASSWORD not in plan.stdout + plan.stderr
    assert base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() not in plan.stdout + plan.stderr
    applied = run_k8sfs("apply", "--lab", lab.name, "--spec", spec, timeout=900)
    assert PASSWORD not in applied.stdout + applied.stderr

    with lab.session("k8s-master") as m:
        m.exec(["rm", "-f", LOG])
        m.put_content(FAKE_REGISTRY.encode(), SCRIPT, mode=0o644)
        started = m.exec(["sh", "-c", f"nohup python3 {SCRIPT} >{SCRIPT}.out 2>&1 & echo $!"])
        server = started.stdout.strip()
        listening = m.exec(
            [
                "bash",
                "-c",
                f"for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/{PORT}) 2>/dev/null && exit 0; "
                "sleep 0.1; done; exit 1",
            ]
        )
        assert listening.exit_code == 0, m.exec(["cat", f"{SCRIPT}.out"]).stdout
    try:
        out = _pull(lab, "docker.io/library/busybox:1.36")
        with lab.session("k8s-master") as m:
            requests = [json.loads(line) for line in m.exec(["cat", LOG]).stdout.splitlines()]
    finally:
        with lab.session("k8s-master") as m:
            m.exec(["kill", server])
    assert requests, f"the runtime never asked the mirror; crictl said: {out[-1500:]}"
    paths = [path for _, path, _ in requests]
    assert any("library/busybox/manifests/1.36" in p for p in paths), paths
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert expected in [auth for _, _, auth in requests], requests
    with lab.session("node-1") as node:
        secret = "/etc/crio/auth.json" if runtime == "crio" else "/etc/containerd/certs.d/docker.io/hosts.toml"
        assert node.exec(["stat", "-c", "%a %U", secret]).stdout.split() == ["600", "root"]

    # Offline: the mirror goes, and the pull is refused on the node itself.
    offline = _spec_file(lab, directory, {"offline": True})
    run_k8sfs("apply", "--lab", lab.name, "--spec", offline, timeout=900)
    refused = _pull(lab, "docker.io/library/busybox:1.36")
    if runtime == "crio":
        # CRI-O asks its policy once it has a manifest, and no registry here
        # serves one; the same library (skopeo) with the node's policy.json
        # shows the refusal for an image from anywhere but k8sfs's archives.
        with lab.session("node-1") as node:
            copied = node.exec(
                [
                    "sh",
                    "-c",
                    "a=$(ls /var/lib/k8sfs/images/*.tar | head -1) && rm -rf /var/tmp/k8sfs-dir && "
                    'skopeo copy "docker-archive:$a" dir:/var/tmp/k8sfs-dir && '
                    "skopeo copy dir:/var/tmp/k8sfs-dir oci:/var/tmp/k8sfs-oci:x",
                ],
                timeout=120,
            )
        assert copied.exit_code != 0 and "rejected by policy" in copied.stderr, copied.stderr[-1500:]
    else:
        assert "pulls-are-off.k8sfs.invalid" in refused, refused[-1500:]
    with lab.session("node-1") as node:
        # Neither the mirror nor its login is left anywhere the runtimes read.
        left = node.exec(
            ["sh", "-c", f"grep -rl -e {mirror} -e Basic /etc/containerd /etc/containers /etc/crio 2>/dev/null; true"]
        )
        assert left.stdout == "", left.stdout
        assert node.exec(["test", "-e", "/etc/crio/auth.json"]).exit_code != 0
    again = run_k8sfs("plan", "--lab", lab.name, "--spec", offline, "--detailed-exitcode", check=False)
    assert again.returncode == 0, again.stdout[-2000:]
