"""k8sfs verify cis: the benchmark each Kubernetes minor gets, kube-bench's
config with k8sfs's paths first, and its JSON read back. The run on a lab
cluster is in test_control_plane.py (it needs the applied cluster)."""

from __future__ import annotations

import json

import yaml

from k8sfs import verify_cis

UPSTREAM = """
master:
  apiserver:
    bins: [kube-apiserver]
    confs: [/etc/kubernetes/manifests/kube-apiserver.yaml]
  etcd:
    datadirs: [/var/lib/etcd/default.etcd]
    confs: [/etc/kubernetes/manifests/etcd.yaml]
node:
  proxy:
    confs: [/etc/kubernetes/proxy]
"""


def test_each_minor_gets_the_benchmark_kube_bench_maps_it_to():
    # kube-bench v0.14.0 cfg/config.yaml version_mapping; newer minors on the newest
    assert verify_cis.benchmark_for(21) == "cis-1.20"
    assert verify_cis.benchmark_for(23) == "cis-1.23"
    assert verify_cis.benchmark_for(28) == "cis-1.10"
    assert verify_cis.benchmark_for(32) == "cis-1.11"
    assert verify_cis.benchmark_for(34) == "cis-1.11"


def test_k8sfs_paths_come_first_and_upstream_ones_stay():
    config = yaml.safe_load(verify_cis.k8sfs_config(UPSTREAM))
    assert config["master"]["apiserver"]["confs"] == [
        "/etc/systemd/system/kube-apiserver.service",
        "/etc/kubernetes/manifests/kube-apiserver.yaml",
    ]
    assert config["master"]["apiserver"]["bins"] == ["kube-apiserver"]
    assert config["master"]["etcd"]["datadirs"][0] == "/var/lib/etcd"
    assert config["node"]["proxy"]["kubeconfig"] == ["/etc/kubernetes/kube-proxy.conf"]
    # applying it twice changes nothing
    assert verify_cis.k8sfs_config(verify_cis.k8sfs_config(UPSTREAM)) == verify_cis.k8sfs_config(UPSTREAM)


def test_targets_follow_the_roles():
    assert verify_cis.targets_for(True, True, False) == ["master", "controlplane", "etcd"]
    assert verify_cis.targets_for(False, False, True) == ["node"]


def test_kube_bench_json_is_read_per_check_and_counted_per_section():
    output = json.dumps(
        {
            "Controls": [
                {
                    "id": "4",
                    "tests": [
                        {
                            "section": "4.1",
                            "results": [
                                {"test_number": "4.1.1", "test_desc": "unit 600", "status": "PASS"},
                                {"test_number": "4.1.2", "test_desc": "unit root", "status": "FAIL"},
                            ],
                        },
                        {"section": "4.2", "results": [{"test_number": "4.2.1", "status": "WARN"}]},
                    ],
                }
            ],
            "Totals": {"total_pass": 1, "total_fail": 1, "total_warn": 1},
        }
    )
    report = verify_cis.HostReport("node-1", ["node"], verify_cis.parse_kube_bench(output))
    assert report.sections() == {
        "4.1": {"PASS": 1, "FAIL": 1, "WARN": 0, "INFO": 0},
        "4.2": {"PASS": 0, "FAIL": 0, "WARN": 1, "INFO": 0},
    }
    shown = verify_cis.render([report])
    assert "4.1.2" in shown and "unit root" in shown
