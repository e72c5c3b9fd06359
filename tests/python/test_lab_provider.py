"""The lab as a host provider for any spec: `lab up --spec` makes one lab
host per spec host and `apply --lab --spec` builds that spec's cluster on
them (here 4 workers and RSA keys, through the smoke test); the shorthands
write a spec; what the lab cannot honour is said or refused before
anything is made."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import purge_lab, require_lab_and_artifacts, run_k8sfs

pytestmark = pytest.mark.lab

NAME, SUBNET = "k8sfsp", "192.168.82.0/24"
LAB = ["--lab", NAME]


def test_shorthands_write_a_spec_that_loads_back():
    out = run_k8sfs(
        "lab",
        "up",
        "--lab",
        "k8sfsq",
        "--control-planes",
        "3",
        "--workers",
        "2",
        "--version",
        "v1.33.7",
        "--print-spec",
    ).stdout
    spec = yaml.safe_load(out)
    assert [h["name"] for h in spec["hosts"]] == ["k8s-master-1", "k8s-master-2", "k8s-master-3", "node-1", "node-2"]
    assert spec["hosts"][0]["roles"] == ["control-plane", "etcd"] and spec["kubernetes_version"] == "v1.33.7"
    bad = run_k8sfs("lab", "up", "--lab", "k8sfsq", "--control-planes", "2", "--print-spec", check=False)
    assert bad.returncode == 1 and "2 etcd members; use an odd number" in bad.stderr


def test_what_the_lab_cannot_honour_is_refused_before_anything_is_made(tmp_path):
    too_many = tmp_path / "many.yaml"
    hosts = [{"name": "cp", "address": "10.9.0.1", "roles": ["control-plane", "etcd"]}]
    hosts += [{"name": f"w{i}", "address": f"10.9.1.{i}", "roles": ["worker"]} for i in range(1, 8)]
    too_many.write_text(yaml.safe_dump({"hosts": hosts}))
    refused = run_k8sfs(
        "lab", "up", "--lab", "k8sfsq", "--subnet", "192.168.83.0/28", "--spec", str(too_many), check=False
    )
    assert refused.returncode == 1 and "has no free address for w" in refused.stderr
    assert not (tmp_path / "k8sfsq").exists()
    from pathlib import Path

    assert not Path("/var/lib/k8sfs/lab/k8sfsq").exists()


@pytest.fixture(scope="module")
def four_workers(tmp_path_factory):
    require_lab_and_artifacts()
    spec = tmp_path_factory.mktemp("spec") / "four.yaml"
    run_k8sfs("init", str(spec), "--workers", "4")
    data = yaml.safe_load(spec.read_text())
    data["pki"]["key_type"] = "rsa-2048"
    data["cluster_name"] = "four"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))

    try:
        up = run_k8sfs("lab", "up", *LAB, "--subnet", SUBNET, "--spec", str(spec))
        yield spec, up
    finally:
        purge_lab(NAME)


def test_a_spec_with_four_workers_and_rsa_keys_reaches_the_smoke_test(four_workers):
    spec, up = four_workers
    # The spec's 192.168.50.x addresses are outside this lab's subnet: assigned and said.
    assert "node-4: 192.168.50.14 is outside the lab subnet; the lab gives it 192.168.82.14" in up.stderr
    assert "host_profile container" in up.stderr
    status = run_k8sfs("lab", "status", *LAB).stdout
    assert [line.split()[0] for line in status.splitlines()[2:]] == [
        "k8s-master",
        "node-1",
        "node-2",
        "node-3",
        "node-4",
    ]
    run_k8sfs("apply", *LAB, "--spec", str(spec))
    nodes = json.loads(run_k8sfs("kubectl", *LAB, "--", "get", "nodes", "-o", "json").stdout)["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == ["node-1", "node-2", "node-3", "node-4"]
    assert all(c["status"] == "True" for n in nodes for c in n["status"]["conditions"] if c["type"] == "Ready")
    from k8sfs.lab import Lab

    lab = Lab(name=NAME)
    with lab.session("k8s-master") as master:
        smoke = master.exec(["/usr/local/sbin/k8sfs-smoke-test"], timeout=120)
        key = master.exec(["openssl", "pkey", "-in", "/etc/kubernetes/pki/apiserver.key", "-noout", "-text"])
    assert smoke.exit_code == 0 and smoke.stdout.startswith("smoke test passed"), smoke.stderr
    assert "Private-Key: (2048 bit" in key.stdout
    conf = yaml.safe_load((lab.cluster_state_dir / "pki" / "admin.conf").read_text())
    assert conf["clusters"][0]["name"] == "four"
    assert run_k8sfs("plan", *LAB, "--detailed-exitcode", check=False).returncode == 0  # the lab's own spec


def test_a_bad_spec_changes_nothing_in_the_lab(four_workers, tmp_path):
    from k8sfs.lab import Lab

    lab = Lab(name=NAME)
    before = {r["host"]: r["pid"] for r in lab.status()}
    state = (lab.state_dir / "state.json").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text("hosts:\n  - name: k8s-master\n    address: 192.168.82.10\n    roles: [control-plane]\n")
    for command in (["lab", "up"], ["apply"], ["plan"]):
        r = run_k8sfs(*command, *LAB, "--spec", str(bad), check=False)
        assert r.returncode == 1 and "no host has the etcd role" in r.stderr, (command, r.stderr)
    assert {r["host"]: r["pid"] for r in lab.status()} == before
    assert (lab.state_dir / "state.json").read_text() == state
