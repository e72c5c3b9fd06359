"""Manifests and scripts k8sfs writes, as the chapters render them for the
walkthrough's cluster, byte for byte against reviewed fixtures
(tests/python/fixtures/manifests/), and the one templating rule."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
import yaml

from k8sfs import _core, manifests
from k8sfs.chapters import addons, cluster_services, control_plane, node
from k8sfs.chapters.context import Context
from k8sfs.images import TEST_IMAGE, Image
from k8sfs.spec import ClusterSpec, RuntimeOptions

FIXTURES = Path(__file__).parent / "fixtures" / "manifests"


def context(minor: int = 34, **kwargs) -> Context:
    spec = ClusterSpec(kubernetes_version=f"v1.{minor}.4" if minor == 34 else f"v1.{minor}.0", **kwargs)
    coredns = Image("k8sfs.local/coredns:v1.12.1", Path("/nonexistent/coredns.tar"), "")
    local_path = Image("k8sfs.local/local-path-provisioner:v0.0.30", Path("/nonexistent/local-path.tar"), "")
    metrics = Image("k8sfs.local/metrics-server:v0.8.0", Path("/nonexistent/metrics-server.tar"), "")
    return Context(
        spec, {}, images=[coredns, local_path, metrics], cgroup_root_template="/k8sfs-k8sfs-{host}", planning=True
    )


def file_of(steps, host: str, path: str) -> str:
    for step in steps:
        for f in step.files:
            if step.host == host and f.path == path:
                return f.content.decode()
    raise AssertionError(f"no {path} on {host}")


@pytest.mark.parametrize(
    "fixture,render",
    [
        (
            "coredns.yaml",
            lambda: file_of(cluster_services.dns_steps(context()), "k8s-master", cluster_services.COREDNS_MANIFEST),
        ),
        (
            "smoke-test.yaml",
            lambda: file_of(
                cluster_services.smoke_test_steps(context()), "k8s-master", cluster_services.SMOKE_MANIFEST
            ),
        ),
        (
            "smoke-test.sh",
            lambda: file_of(cluster_services.smoke_test_steps(context()), "k8s-master", cluster_services.SMOKE_SCRIPT),
        ),
        (
            "rbac-1.34.yaml",
            lambda: file_of(control_plane.authorization_steps(context(34)), "k8s-master", control_plane.RBAC_FILE),
        ),
        (
            "rbac-1.28.yaml",
            lambda: file_of(control_plane.authorization_steps(context(28)), "k8s-master", control_plane.RBAC_FILE),
        ),
        ("static-pod.yaml", lambda: file_of(node.static_pod_steps(context()), "node-1", node.STATIC_POD)),
        (
            "local-path-storage.yaml",
            lambda: file_of(
                addons.storage_steps(context(addons=["local-path"])), "k8s-master", addons.LOCAL_PATH_MANIFEST
            ),
        ),
        (
            "pod-routes.sh",
            lambda: file_of(cluster_services.pod_network_steps(context()), "node-1", cluster_services.ROUTES_SCRIPT),
        ),
        (
            "pod-routes.service",
            lambda: file_of(
                cluster_services.pod_network_steps(context()), "node-1", "/etc/systemd/system/k8sfs-pod-routes.service"
            ),
        ),
    ],
)
def test_rendered_files_match_their_reviewed_fixtures(fixture, render):
    assert render() == (FIXTURES / fixture).read_text()


def test_the_storage_add_on_is_a_chapter_only_for_a_spec_that_lists_it():
    assert addons.storage_steps(context()) == []
    (step,) = addons.storage_steps(context(addons=["local-path"]))
    docs = {d["kind"]: d for d in yaml.safe_load_all(step.files[0].content)}
    default_class = docs["StorageClass"]
    assert default_class["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert default_class["volumeBindingMode"] == "WaitForFirstConsumer"
    assert default_class["reclaimPolicy"] == "Delete"
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "k8sfs.local/local-path-provisioner:v0.0.30"
    helper = yaml.safe_load(docs["ConfigMap"]["data"]["helperPod.yaml"])
    assert helper["spec"]["containers"][0]["image"] == TEST_IMAGE  # a shell every node already has


def metrics_context(tmp_path: Path) -> Context:
    """The metrics add-on's context with a real PKI (its certificate is issued)."""
    ctx = context(addons=["metrics"])
    ctx.pki = _core.PkiStore(str(tmp_path))
    ctx.pki.apply(ctx.spec.pki_spec())
    ctx.planning = False  # an apply's context: the image is built (a digest stands in)
    ctx.images = [Image(i.name, i.path, "0" * 64) for i in ctx.images]
    return ctx


def test_metrics_server_matches_its_fixtures_with_its_secrets_in_their_places(tmp_path):
    ctx = metrics_context(tmp_path)
    (step,) = addons.metrics_steps(ctx)
    secret, rest = step.files
    assert step.apply[0][-4:] == ["-f", secret.path, "-f", rest.path]  # the Secret first
    assert secret.secret and secret.mode == 0o600  # a private key: never shown
    assert not rest.secret  # the rest is shown in full: flags, RBAC, the CA
    key_pair = yaml.safe_load(secret.content)["data"]
    text = secret.content.decode().replace(key_pair["tls.crt"], "TLS_CRT").replace(key_pair["tls.key"], "TLS_KEY")
    assert text == (FIXTURES / "metrics-server-tls.yaml").read_text()
    ca = {d["kind"]: d for d in yaml.safe_load_all(rest.content)}["APIService"]["spec"]["caBundle"]
    assert rest.content.decode().replace(ca, "CA_BUNDLE") == (FIXTURES / "metrics-server.yaml").read_text()


def test_metrics_server_is_verified_both_ways_with_the_cluster_ca(tmp_path):
    ctx = metrics_context(tmp_path)
    assert addons.metrics_steps(context(addons=["local-path"])) == []
    (step,) = addons.metrics_steps(ctx)
    docs = {d["kind"]: d for f in step.files for d in yaml.safe_load_all(f.content)}
    # metrics-server -> kubelets: the cluster CA, never --kubelet-insecure-tls
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert "--kubelet-insecure-tls" not in args
    (ca_flag,) = [a for a in args if a.startswith("--kubelet-certificate-authority=")]
    mounted = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    ca_volume = next(n for n, path in mounted.items() if ca_flag.split("=", 1)[1].startswith(path + "/"))
    assert volumes[ca_volume]["configMap"]["name"] == "kube-root-ca.crt"
    # apiserver -> metrics-server: a certificate for the Service's name, signed by the CA in caBundle
    api = docs["APIService"]["spec"]
    assert "insecureSkipTLSVerify" not in api
    ca = _core.Certificate.from_pem(base64.b64decode(api["caBundle"]).decode())
    served = _core.Certificate.from_pem(base64.b64decode(docs["Secret"]["data"]["tls.crt"]).decode())
    assert served.is_signed_by(ca)
    assert "metrics-server.kube-system.svc" in served.dns_names
    without = [m.name for m in _core.cluster_materials(ClusterSpec().pki_spec())]
    assert "metrics-server" not in without  # a row of the PKI only with the add-on


def test_container_host_files_match_their_fixtures():
    ctx = context(host_profile="container")
    step = node._container_host_step(ctx, ctx.spec.host("node-1"))
    files = {f.path: f.content.decode() for f in step.files}
    assert files[node.CONTAINER_HOST_SCRIPT] == (FIXTURES / "container-host.sh").read_text()
    assert (
        files["/etc/systemd/system/k8sfs-container-host.service"] == (FIXTURES / "container-host.service").read_text()
    )


def test_every_template_says_who_wrote_it_and_for_which_cluster():
    for name in manifests.names():
        if name == "cluster-admins.yaml":  # appended to the RBAC manifest, whose header names the cluster
            continue
        if name.endswith(".json"):  # JSON holds no comments (and containers' policy.json refuses extra keys)
            continue
        head = manifests.template(name).splitlines()[:3]
        assert any("Written by k8sfs for cluster {{ cluster }}" in line for line in head), (name, head)


def test_a_missing_or_unused_value_is_an_error_that_names_it():
    with pytest.raises(manifests.TemplateError, match="static-pod.yaml: no value for image"):
        manifests.render("static-pod.yaml", cluster="kubernetes")
    with pytest.raises(manifests.TemplateError, match="no placeholder for imgae"):
        manifests.render("static-pod.yaml", cluster="kubernetes", image="x", imgae="y")


def test_from_1_36_containerd_is_k8sfss_own_build_before_it_the_hosts_package():
    def on_node1(minor: int) -> dict:
        return {s.name: s for s in node.runtime_steps(context(minor)) if s.host == "node-1"}

    new, old = on_node1(37), on_node1(34)
    assert [u.path for u in new["containerd"].uploads] == [
        "/usr/local/bin/containerd",
        "/usr/local/bin/containerd-shim-runc-v2",
        "/usr/local/bin/ctr",
    ]
    unit = file_of(new.values(), "node-1", "/etc/systemd/system/containerd.service")
    assert "ExecStart=/usr/local/bin/containerd\n" in unit and "Delegate=yes" in unit
    assert "version = 3" in file_of(new.values(), "node-1", "/etc/containerd/config.toml")
    assert ["apt-get", "install", "-y", "-qq", "runc"] in new["install"].apply

    assert old["containerd"].uploads == []
    assert "version = 2" in file_of(old.values(), "node-1", "/etc/containerd/config.toml")
    assert ["apt-get", "install", "-y", "-qq", "containerd", "runc"] in old["install"].apply


def test_the_images_check_does_not_ask_ctr_while_containerd_has_no_socket(tmp_path):
    """ctr waits 10 s for a socket that is not there: on a fresh worker
    (containerd not started yet) the check must fail without calling it."""
    if Path(node.CONTAINERD_SOCKET).exists():
        pytest.skip(f"{node.CONTAINERD_SOCKET} exists on this machine")
    called = tmp_path / "ctr-was-called"
    fake = tmp_path / "ctr"
    fake.write_text(f"#!/bin/sh\ntouch {called}\necho k8sfs.local/pause:1.0\n")
    fake.chmod(0o755)
    check = node.images_present_check("containerd", ["k8sfs.local/pause:1.0"])
    run = subprocess.run(check, env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, capture_output=True)
    assert run.returncode != 0 and not called.exists()


def test_a_real_hosts_kernel_gets_the_runtime_prerequisites_and_a_lab_host_does_not():
    """The files of the "Container Runtimes" prerequisites (kubernetes.io,
    the walkthrough's era): overlay and br_netfilter loaded at boot, bridged
    traffic through iptables, forwarding on."""
    from k8sfs.chapters import host_setup

    real = {s.name: s for s in node.runtime_steps(context()) if s.host == "node-1"}
    kernel = real["kernel"]
    files = {f.path: f.content.decode() for f in kernel.files}
    assert files[host_setup.MODULES_FILE] == (FIXTURES / "k8s-modules.conf").read_text()
    assert files[host_setup.SYSCTL_FILE] == (FIXTURES / "k8s-sysctl.conf").read_text()
    assert kernel.apply == [["modprobe", "overlay"], ["modprobe", "br_netfilter"], ["sysctl", "--system"]]
    assert "sysctl -n net.ipv4.ip_forward" in kernel.check[-1]
    lab = {s.name for s in node.runtime_steps(context(host_profile="container")) if s.host == "node-1"}
    assert "kernel" not in lab and "container-host" in lab


def test_packages_come_from_apt_on_debian_and_dnf_on_the_red_hat_family():
    from k8sfs.engine.facts import Facts

    def install(os_id: str, os_like: str, runtime: str) -> list[list[str]]:
        ctx = context(runtime=RuntimeOptions(runtime))
        ctx.facts = {h.name: Facts(os_id, os_like, "x86_64", True, "") for h in ctx.spec.hosts}
        return next(s.apply for s in node.runtime_steps(ctx) if s.host == "node-1" and s.name == "install")

    assert install("debian", "", "containerd")[-1] == ["apt-get", "install", "-y", "-qq", "containerd", "runc"]
    assert install("ubuntu", "debian", "crio")[-1] == ["apt-get", "install", "-y", "-qq", "conmon", "crun", "skopeo"]
    assert install("rocky", "rhel centos fedora", "containerd") == [
        ["dnf", "install", "-y", "-q", "containerd", "runc"]
    ]
    assert install("fedora", "", "crio") == [["dnf", "install", "-y", "-q", "conmon", "crun", "skopeo"]]
