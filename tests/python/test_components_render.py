"""Rendered kubelet, containerd, CRI-O and crictl files, parsed with
independent parsers (PyYAML, tomllib) and compared with fixtures written
from the Kubernetes reference (fixtures/kubelet_by_version.yaml), for 1.21,
1.27, 1.34 and the newest minor."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import yaml

from k8sfs import _core as core

FIXTURES = yaml.safe_load((Path(__file__).parent / "fixtures" / "kubelet_by_version.yaml").read_text())
ENDPOINT = "unix:///run/containerd/containerd.sock"


def kubelet_options(version: str) -> core.KubeletOptions:
    o = core.KubeletOptions(version)
    o.runtime_endpoint = ENDPOINT
    o.pause_image = "k8sfs.local/pause:1.0"
    o.kubeconfig = "/etc/kubernetes/kubelet.conf"
    o.fail_cgroup_v1 = False
    return o


def test_fixtures_cover_the_oldest_and_newest_minor():
    minors = {core.KubeVersion.parse(v).minor for v in FIXTURES}
    assert {core.OLDEST_MINOR, 27, 34, core.NEWEST_MINOR} <= minors


@pytest.mark.parametrize("version", sorted(FIXTURES))
def test_kubelet_config_and_flags_follow_the_reference(version):
    want = FIXTURES[version]
    o = kubelet_options(version)
    config = yaml.safe_load(core.render_kubelet_config(o))
    assert config["apiVersion"] == "kubelet.config.k8s.io/v1beta1"
    assert config["kind"] == "KubeletConfiguration"
    assert config["staticPodPath"] == "/etc/kubernetes/manifests"
    assert config["cgroupDriver"] == "systemd"
    for key, value in want["config"].items():
        assert config.get(key) == value, key
    flags = core.kubelet_flags(o)
    assert flags[0] == "--config=/var/lib/kubelet/config.yaml"
    for flag in want["flags_present"]:
        assert flag in flags
    for prefix in want["flags_absent"]:
        assert not [f for f in flags if f.startswith(prefix)], prefix
    assert len(flags) == len(set(flags))


def test_kubelet_with_an_apiserver_uses_webhooks_and_tls():
    o = kubelet_options("v1.34.4")
    o.client_ca_file = "/etc/kubernetes/pki/ca.crt"
    o.tls_cert_file = "/var/lib/kubelet/pki/kubelet.crt"
    o.tls_private_key_file = "/var/lib/kubelet/pki/kubelet.key"
    o.cluster_dns = ["10.0.0.10"]
    config = yaml.safe_load(core.render_kubelet_config(o))
    assert config["authentication"] == {
        "anonymous": {"enabled": False},
        "webhook": {"enabled": True},
        "x509": {"clientCAFile": "/etc/kubernetes/pki/ca.crt"},
    }
    assert config["authorization"] == {"mode": "Webhook"}
    assert config["clusterDNS"] == ["10.0.0.10"] and config["clusterDomain"] == "cluster.local"
    assert config["tlsCertFile"].endswith("kubelet.crt")


def test_standalone_kubelet_has_no_webhook():
    o = core.KubeletOptions("v1.34.4")
    config = yaml.safe_load(core.render_kubelet_config(o))
    assert config["authentication"]["webhook"]["enabled"] is False
    assert config["authorization"]["mode"] == "AlwaysAllow"
    assert not [f for f in core.kubelet_flags(o) if f.startswith("--kubeconfig")]


def test_container_host_profile_turns_off_evictions_and_image_gc():
    o = core.KubeletOptions("v1.34.4")
    o.container_host = True
    o.cgroup_root = "/k8sfs-node-1"
    o.fail_swap_on = False
    config = yaml.safe_load(core.render_kubelet_config(o))
    assert set(config["evictionHard"].values()) == {"0%"}
    assert config["imageGCHighThresholdPercent"] == 100
    assert config["cgroupRoot"] == "/k8sfs-node-1" and config["failSwapOn"] is False
    plain = yaml.safe_load(core.render_kubelet_config(core.KubeletOptions("v1.34.4")))
    assert "evictionHard" not in plain and "cgroupRoot" not in plain


def test_kubelet_unit_waits_for_the_runtime_and_restarts():
    o = kubelet_options("v1.34.4")
    unit = core.kubelet_service(o, "containerd").unit_text
    assert "After=containerd.service" in unit and "Requires=containerd.service" in unit
    assert "Restart=always" in unit and "WantedBy=multi-user.target" in unit
    exec_line = unit.split("ExecStart=")[1].split("\nRestart")[0].replace("\\\n", " ").split()
    assert exec_line == ["/usr/local/bin/kubelet", *core.kubelet_flags(o)]


@pytest.mark.parametrize("major,driver", [(1, "systemd"), (1, "cgroupfs"), (2, "systemd")])
def test_containerd_config(major, driver):
    o = core.ContainerdOptions()
    o.major_version = major
    o.cgroup_driver = driver
    o.sandbox_image = "k8sfs.local/pause:1.0"
    config = tomllib.loads(core.render_containerd_config(o))
    if major == 1:
        # containerd 1.x CRI plugin, config version 2 (as KTHW and the containerd docs write it).
        assert config["version"] == 2
        cri = config["plugins"]["io.containerd.grpc.v1.cri"]
        assert cri["sandbox_image"] == "k8sfs.local/pause:1.0"
        runtime = cri["containerd"]
        cni = cri["cni"]
    else:
        # containerd 2.x splits CRI into images and runtime plugins, config version 3.
        assert config["version"] == 3
        assert config["plugins"]["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"] == "k8sfs.local/pause:1.0"
        runtime = config["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]
        cni = config["plugins"]["io.containerd.cri.v1.runtime"]["cni"]
    assert runtime["default_runtime_name"] == "runc"
    assert runtime["runtimes"]["runc"]["runtime_type"] == "io.containerd.runc.v2"
    assert runtime["runtimes"]["runc"]["options"]["SystemdCgroup"] is (driver == "systemd")
    if major == 1:
        assert cni == {"bin_dir": "/opt/cni/bin", "conf_dir": "/etc/cni/net.d"}
    else:
        # containerd 2.4 reads only bin_dirs (a plugin not found in /opt/cni/bin
        # was the first failure of the v1.37.2 lab); 2.0 only bin_dir.
        assert cni == {"bin_dirs": ["/opt/cni/bin"], "bin_dir": "/opt/cni/bin", "conf_dir": "/etc/cni/net.d"}


def test_containerd_in_a_container_host_restricts_oom_score_adj():
    o = core.ContainerdOptions()
    o.container_host = True
    cri = tomllib.loads(core.render_containerd_config(o))["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True


def test_crio_config_and_repositories():
    o = core.CrioOptions()
    o.pause_image = "k8sfs.local/pause:1.0"
    config = tomllib.loads(core.render_crio_config(o))
    assert config["crio"]["runtime"]["cgroup_manager"] == "systemd"
    assert config["crio"]["image"]["pause_image"] == "k8sfs.local/pause:1.0"
    apt = core.crio_repository("debian", "v1.34.4")
    assert apt.path == "/etc/apt/sources.list.d/cri-o.list"
    assert "https://pkgs.k8s.io/addons:/cri-o:/stable:/v1.34/deb/ /" in apt.content
    assert ["apt-get", "install", "-y", "cri-o"] in apt.install
    dnf = core.crio_repository("rhel fedora", "v1.21.6")
    assert "baseurl=https://pkgs.k8s.io/addons:/cri-o:/stable:/v1.21/rpm/" in dnf.content
    assert "gpgkey=https://pkgs.k8s.io/addons:/cri-o:/stable:/v1.21/rpm/repodata/repomd.xml.key" in dnf.content
    with pytest.raises(ValueError, match="arch"):
        core.crio_repository("arch", "v1.34.4")


def test_crio_with_its_own_runtime_path_makes_it_the_default_runtime():
    o = core.CrioOptions()
    o.pause_image = "k8sfs.local/pause:1.0"
    assert "default_runtime" not in core.render_crio_config(o)  # CRI-O's own default (crun from PATH)
    o.runtime_path = "/usr/local/sbin/k8sfs-oci-runtime"
    runtime = tomllib.loads(core.render_crio_config(o))["crio"]["runtime"]
    assert runtime["default_runtime"] == "k8sfs"
    assert runtime["runtimes"]["k8sfs"] == {
        "runtime_path": "/usr/local/sbin/k8sfs-oci-runtime",
        "runtime_type": "oci",
        "runtime_root": "/run/k8sfs-oci",
    }
    o.runtime_path = '/x"\n[crio.api]'
    with pytest.raises(ValueError, match="cannot be written into crio.conf"):
        core.render_crio_config(o)


def test_crictl_config():
    config = yaml.safe_load(core.render_crictl_config(core.runtime_socket("crio")))
    assert config == {
        "runtime-endpoint": "unix:///var/run/crio/crio.sock",
        "image-endpoint": "unix:///var/run/crio/crio.sock",
        "timeout": 10,
    }


def test_runtime_cgroup_driver_is_read_from_what_the_runtime_reports():
    info = {
        "config": {
            "containerd": {"defaultRuntimeName": "runc", "runtimes": {"runc": {"options": {"SystemdCgroup": True}}}}
        }
    }
    assert core.containerd_cgroup_driver_from_info(json.dumps(info)) == "systemd"
    info["config"]["containerd"]["runtimes"]["runc"]["options"] = {}
    assert core.containerd_cgroup_driver_from_info(json.dumps(info)) == "cgroupfs"
    assert core.containerd_cgroup_driver_from_info("not json") is None
    assert core.crio_cgroup_driver_from_config('[crio.runtime]\n  cgroup_manager = "cgroupfs"\n') == "cgroupfs"
    assert core.crio_cgroup_driver_from_config("[crio]\n") is None


def test_mismatch_message_names_both_drivers_and_the_fix():
    assert core.cgroup_driver_mismatch("containerd", "systemd", "systemd") == ""
    message = core.cgroup_driver_mismatch("containerd", "systemd", "cgroupfs")
    assert "containerd uses systemd" in message and "cgroupDriver: cgroupfs" in message
    assert "set cgroupDriver: systemd" in message


def test_unsupported_versions_are_refused():
    for bad in ("v1.20.15", "v2.0.0", "1.34", "v1.34.x"):
        with pytest.raises(ValueError):
            core.KubeletOptions(bad)


def test_node_pod_subnets_are_the_walkthroughs_per_node_24s():
    assert core.node_pod_subnet("10.200.0.0/16", 0) == "10.200.0.0/24"
    assert core.node_pod_subnet("10.200.0.0/16", 1) == "10.200.1.0/24"
    assert core.node_pod_subnet("10.244.0.0/22", 3) == "10.244.3.0/24"
    for bad in (("10.244.0.0/22", 4), ("10.200.0.0/24", 0), ("fd00::/64", 0)):
        with pytest.raises(ValueError):
            core.node_pod_subnet(*bad)


def test_cni_bridge_config():
    config = json.loads(core.render_cni_bridge("10.200.1.0/24"))
    bridge, portmap = config["plugins"]
    assert bridge["type"] == "bridge" and bridge["bridge"] == "cni0" and bridge["isGateway"] is True
    assert bridge["ipMasq"] is False  # nothing leaves through NAT
    assert bridge["ipam"]["type"] == "host-local"
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.200.1.0/24"}]]
    # hostPort: the runtime hands the ports to the plugin that asks for them.
    assert portmap == {"type": "portmap", "capabilities": {"portMappings": True}}
    assert json.loads(core.render_cni_loopback())["type"] == "loopback"
    assert config["cniVersion"] == "1.0.0"
    assert json.loads(core.render_cni_bridge("10.200.1.0/24", "0.4.0"))["cniVersion"] == "0.4.0"


@pytest.mark.parametrize(
    "version,runtime,cni",
    # CRI-O's go.mod: containernetworking/cni v0.8.1 up to 1.22, v1.0.1 from 1.23 (spec 0.4.0 vs 1.0.0).
    [
        ("v1.21.6", "crio", "0.4.0"),
        ("v1.22.0", "crio", "0.4.0"),
        ("v1.23.0", "crio", "1.0.0"),
        ("v1.21.6", "containerd", "1.0.0"),
    ],
)
def test_the_bridge_speaks_the_cni_version_the_runtime_reads(version, runtime, cni):
    from k8sfs.chapters.cluster_services import cni_version
    from k8sfs.chapters.context import Context
    from k8sfs.spec import ClusterSpec, RuntimeOptions

    assert cni_version(Context(ClusterSpec(kubernetes_version=version, runtime=RuntimeOptions(runtime)), {})) == cni


def test_kube_proxy_config():
    o = core.KubeProxyOptions("v1.34.4")
    o.node_name = "node-1"
    config = yaml.safe_load(core.render_kube_proxy_config(o))
    assert config["apiVersion"] == "kubeproxy.config.k8s.io/v1alpha1" and config["kind"] == "KubeProxyConfiguration"
    assert config["mode"] == "iptables" and config["clusterCIDR"] == "10.200.0.0/16"
    assert config["clientConnection"]["kubeconfig"] == "/etc/kubernetes/kube-proxy.conf"
    assert "conntrack" not in config
    o.container_host = True
    config = yaml.safe_load(core.render_kube_proxy_config(o))
    assert config["conntrack"]["maxPerCore"] == 0 and config["oomScoreAdj"] == 0


@pytest.mark.parametrize(
    "version,api", [("v1.21.6", "v1beta1"), ("v1.24.0", "v1beta2"), ("v1.25.0", "v1"), ("v1.37.0", "v1")]
)
def test_scheduler_config_api_version(version, api):
    # kubescheduler.config.k8s.io: v1beta1 in 1.21, v1beta2 1.22-1.24 (v1beta1 removed in 1.23), v1 GA in 1.25.
    config = yaml.safe_load(core.render_scheduler_config(core.SchedulerOptions(version)))
    assert config["apiVersion"] == f"kubescheduler.config.k8s.io/{api}"
    assert config["clientConnection"]["kubeconfig"] == "/etc/kubernetes/scheduler.conf"


def test_controller_manager_signs_csrs_only_with_the_ca_key():
    o = core.ControllerManagerOptions("v1.34.4")
    flags = core.controller_manager_flags(o)
    assert "--controllers=*,-csrsigning" in flags
    assert not [f for f in flags if f.startswith("--cluster-signing")]
    assert "--service-account-private-key-file=/etc/kubernetes/pki/sa.key" in flags
    assert "--use-service-account-credentials=true" in flags
    o.sign_csrs = True
    flags = core.controller_manager_flags(o)
    assert "--cluster-signing-key-file=/etc/kubernetes/pki/ca.key" in flags
    assert not [f for f in flags if f.startswith("--controllers=")]
