"""Spec files as users write them: the example `k8sfs init` writes is the
walkthrough's defaults; malformed specs each give the error they must (key
path and line), for the CLI and the JSON Schema alike; and a bad spec
changes nothing on any host."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import resources

import jsonschema
import pytest
import yaml

from k8sfs.spec import ClusterSpec, SpecError, load_spec

GOOD = resources.files("k8sfs").joinpath("spec_example.yaml").read_text()
SCHEMA = json.loads(resources.files("k8sfs").joinpath("spec.schema.json").read_text())

# (change to the example, expected message fragment, text of the line the
# error must point at, schema rejects it too)
BAD = [
    (
        ("192.168.50.11", "192.168.50.300"),
        "hosts[1].address: '192.168.50.300' is not an IP address",
        "address: 192.168.50.11",
        True,
    ),
    (("key_type: ecdsa-p256 ", "key_typ: ecdsa-p256 "), "pki.key_typ: unknown key", "key_type:", True),
    (
        ("name: containerd ", "name: docker "),
        "runtime.name: 'docker' is not one of containerd, crio",
        "name: containerd",
        True,
    ),
    (
        ("kubernetes_version: v1.34.4", "kubernetes_version: v1.20.15"),
        "kubernetes_version: Kubernetes v1.20.15 is not supported",
        "kubernetes_version:",
        False,
    ),
    (
        ("kubernetes_version: v1.34.4", "kubernetes_version: 1.34"),
        "kubernetes_version: 1.34 is not a version like v1.34.4",
        "kubernetes_version:",
        True,
    ),
    (
        ("pod_cidr: 10.200.0.0/16", "pod_cidr: 10.0.128.0/17"),
        "pod_cidr: 10.0.128.0/17 overlaps service_cidr",
        "pod_cidr:",
        False,
    ),
    (
        ("service_cidr: 10.0.0.0/16", "service_cidr: 192.168.50.0/24"),
        "hosts[0].address: 192.168.50.10 lies inside service_cidr",
        "address: 192.168.50.10",
        False,
    ),
    (
        ("service_cidr: 10.0.0.0/16", "service_cidr: 10.0.0.1/16"),
        "service_cidr: '10.0.0.1/16' is not a network range",
        "service_cidr:",
        False,
    ),
    (
        ("roles: [control-plane, etcd]", "roles: [control-plane, etc]"),
        "hosts[0].roles[1]: 'etc' is not a role",
        "roles: [control-plane, etcd]",
        True,
    ),
    (("roles: [control-plane, etcd]", "roles: [worker]"), "hosts: no host has the control-plane role", "hosts:", False),
    (("name: node-2", "name: node-1"), "hosts[2].name: 'node-1' is used twice", "name: node-2", False),
    (("port: 22", "port: 70000"), "hosts[0].port: 70000 is not a port number", "port: 22", True),
    (
        ("name: k8s-master ", "name: K8s_Master "),
        "hosts[0].name: 'K8s_Master' is not a lower-case host name",
        "name: k8s-master",
        True,
    ),
    (
        ("ca_validity_days: 3650", "ca_validity_days: ten"),
        "pki.ca_validity_days: 'ten' is not a number of days",
        "ca_validity_days:",
        True,
    ),
    (
        ("mirrors: {} ", "mirrors: {docker.io: [192.168.50.1:5000]} "),
        "registries.mirrors.docker.io: '192.168.50.1:5000' is not an endpoint like https://",
        "mirrors:",
        True,
    ),
    (
        ("offline: false", "offline: yes please"),
        "registries.offline: 'yes please' is not true or false",
        "offline:",
        True,
    ),
    (
        ("credentials: {} ", "credentials: {registry.example.com: {username: me}} "),
        "registries.credentials.registry.example.com.password_file: missing",
        "credentials:",
        True,
    ),
    (
        ('k8sfs_images: "" ', "k8sfs_images: https://192.168.50.1:5000 "),
        "registries.k8sfs_images: 'https://192.168.50.1:5000' is not a registry host[:port] like 192.168.50.1:5000",
        "k8sfs_images:",
        True,
    ),
    (
        ("host_profile: machine", "host_profile: vm"),
        "host_profile: 'vm' is not one of machine, container",
        "host_profile:",
        True,
    ),
]


def test_the_example_is_the_walkthrough_default_and_valid_by_schema(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(GOOD)
    assert load_spec(path) == ClusterSpec()
    jsonschema.validate(yaml.safe_load(GOOD), SCHEMA, format_checker=jsonschema.FormatChecker())
    assert [h.address for h in load_spec(path).hosts] == ["192.168.50.10", "192.168.50.11", "192.168.50.12"]


def test_json_specs_work_too(tmp_path):
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps(yaml.safe_load(GOOD)))
    assert load_spec(path) == ClusterSpec()


@pytest.mark.parametrize("change,message,anchor,schema_rejects", BAD, ids=[b[1].split(":")[0] for b in BAD])
def test_malformed_spec_gives_its_error(tmp_path, change, message, anchor, schema_rejects):
    old, new = change
    assert old in GOOD
    path = tmp_path / "cluster.yaml"
    path.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert message in str(caught.value)
    line = next(i for i, text in enumerate(GOOD.splitlines(), 1) if text.lstrip(" -").startswith(anchor))
    assert str(caught.value).startswith(f"{path}:{line}: ")
    if schema_rejects:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(yaml.safe_load(path.read_text()), SCHEMA, format_checker=jsonschema.FormatChecker())


def test_init_refuses_to_overwrite(tmp_path):
    target = tmp_path / "cluster.yaml"

    def run(*a: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "k8sfs.cli", "init", str(target), *a], capture_output=True, text=True
        )

    assert run().returncode == 0
    target.write_text("mine\n")
    refused = run()
    assert refused.returncode == 1 and "exists" in refused.stderr
    assert target.read_text() == "mine\n"


@pytest.mark.lab
def test_a_bad_spec_changes_nothing_on_any_host(lab, tmp_path):
    # The spec names the lab's own hosts, with one bad value; nothing may reach them.
    hosts = {h.name: h.address for h in lab.hosts}
    text = GOOD
    for name, address in zip(
        ["k8s-master", "node-1", "node-2"], ["192.168.50.10", "192.168.50.11", "192.168.50.12"], strict=True
    ):
        text = text.replace(address, hosts[name])
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace("cgroup_driver: systemd ", "cgroup_driver: system ", 1))
    sessions = {name: lab.session(name) for name in hosts}
    for s in sessions.values():
        s.exec(["touch", "/run/k8sfs-marker"], check=True)
    state = tmp_path / "state"
    for command in (["plan"], ["apply"], ["pki", "push"], ["reset", "--yes"]):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "k8sfs.cli",
                *command,
                "--spec",
                str(path),
                *(["--state", str(state)] if command[0] != "pki" else ["--dir", str(state)]),
            ],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 1, result
        assert "runtime.cgroup_driver: 'system' is not one of systemd, cgroupfs" in result.stderr
    assert not state.exists()
    for name, s in sessions.items():
        changed = s.exec(
            "find /etc /usr/local /var/lib /root -xdev -newer /run/k8sfs-marker -type f 2>/dev/null "
            "| grep -v -E '^/var/lib/(systemd|containerd|kubelet|etcd)/' | head -5"
        ).stdout
        # (running services write their own state there; k8sfs would write elsewhere too)
        assert changed == "", f"{name}: {changed}"
        s.close()


def test_k8sfs_images_gets_a_mirror_and_refuses_offline_and_a_login(tmp_path):
    """Nodes pull k8sfs.local/... through a mirror on the k8sfs_images
    registry; the spec's own mirror for k8sfs.local wins."""
    with_images = GOOD.replace('k8sfs_images: "" ', "k8sfs_images: 192.168.50.1:5000 ")
    path = tmp_path / "cluster.yaml"
    path.write_text(with_images)
    mirrors = load_spec(path).registries.core_options().mirrors
    assert mirrors == {"k8sfs.local": ["https://192.168.50.1:5000/k8sfs.local"]}
    path.write_text(with_images.replace("mirrors: {} ", "mirrors: {k8sfs.local: [https://mine.example:443]} "))
    assert load_spec(path).registries.core_options().mirrors == {"k8sfs.local": ["https://mine.example:443"]}
    refusals = {
        ("offline: false", "offline: true"): "an offline cluster pulls nothing",
        ("credentials: {} ", "credentials: {192.168.50.1:5000: {username: me, password_file: p}} "): (
            "k8sfs pulls its own images without a login, and 192.168.50.1:5000 has one"
        ),
    }
    for (old, new), said in refusals.items():
        path.write_text(with_images.replace(old, new))
        with pytest.raises(SpecError) as caught:
            load_spec(path)
        assert "registries.k8sfs_images: " + said in str(caught.value)


def test_registry_files_are_read_relative_to_the_spec_and_a_missing_one_names_its_key(tmp_path):
    directory = tmp_path / "site"
    directory.mkdir()
    (directory / "password").write_text("s3cret\n")
    spec_file = directory / "cluster.yaml"
    spec_file.write_text(
        GOOD.replace(
            "credentials: {} ",
            "credentials: {reg.example.org: {username: me, password_file: password}, "
            "other.example.org: {username: me, password_file: missing}} ",
        )
    )
    spec = load_spec(spec_file)
    assert spec.registries.credentials["reg.example.org"].password_file == str(directory / "password")
    with pytest.raises(SpecError) as caught:
        spec.registries.core_options()
    assert str(caught.value).startswith("registries.credentials.other.example.org.password_file: ")
    assert "s3cret" not in str(caught.value)


def test_addons_are_a_list_of_known_names(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(GOOD.replace("addons: []", "addons: [local-path]"))
    assert load_spec(path).addons == ["local-path"]
    for bad, message in (
        ("addons: [nfs]", "addons[0]: 'nfs' is not an add-on k8sfs knows (local-path, metrics)"),
        ("addons: [local-path, local-path]", "addons[1]: 'local-path' is listed twice"),
        ("addons: local-path", "addons: 'local-path' is not a list of add-ons"),
    ):
        path.write_text(GOOD.replace("addons: []", bad))
        with pytest.raises(SpecError, match=re.escape(message)):
            load_spec(path)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(yaml.safe_load(path.read_text()), SCHEMA)
