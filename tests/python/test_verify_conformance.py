"""k8sfs verify conformance, the parts that need no cluster: the suite's
image table read from its manifest.go (both layouts it has had), the
JUnit file read back, the slice's focus and the agnhost image's layout.
The run on a lab cluster is in test_control_plane.py."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from k8sfs import verify_conformance
from k8sfs.artifacts.gobuild import e2e_image_names, required_version
from k8sfs.images.conformance import (
    agnhost_image,
    etcd_image,
    httpd_image,
    nginx_image,
    nonewprivs_image,
    sample_apiserver_image,
    update_demo_image,
)

# The shape of test/utils/image/manifest.go in v1.21 (registries as a
# struct literal, configs without the list. prefix) ...
MANIFEST_121 = """
func initReg() RegistryList {
	registry := RegistryList{
		PromoterE2eRegistry:      "k8s.gcr.io/e2e-test-images",
		GcRegistry:               "k8s.gcr.io",
		InvalidRegistry:          "invalid.com/invalid",
	}
	return registry
}
func initImageConfigs() (map[int]Config, map[int]Config) {
	configs := map[int]Config{}
	configs[Agnhost] = Config{promoterE2eRegistry, "agnhost", "2.32"}
	configs[BusyBox] = Config{promoterE2eRegistry, "busybox", "1.29-1"}
	configs[Pause] = Config{gcRegistry, "pause", "3.4.1"}
	configs[AuthenticatedAlpine] = Config{gcAuthenticatedRegistry, "alpine", "3.7"}
"""
# ... and in v1.34 (configs through list.).
MANIFEST_134 = """
	registry := RegistryList{
		GcRegistry:              "registry.k8s.io",
		PromoterE2eRegistry:     "registry.k8s.io/e2e-test-images",
	}
	configs[Agnhost] = Config{list.PromoterE2eRegistry, "agnhost", "2.56"}
	configs[BusyBox] = Config{list.PromoterE2eRegistry, "busybox", "1.37.0-1"}
	configs[Pause] = Config{list.GcRegistry, "pause", "3.10.1"}
"""


def test_the_suites_image_names_come_from_its_own_table():
    old = e2e_image_names(MANIFEST_121)
    assert old["Agnhost"] == "k8s.gcr.io/e2e-test-images/agnhost:2.32"
    assert old["Pause"] == "k8s.gcr.io/pause:3.4.1"
    assert "AuthenticatedAlpine" not in old  # its registry is not in the table
    new = e2e_image_names(MANIFEST_134)
    assert new == {
        "Agnhost": "registry.k8s.io/e2e-test-images/agnhost:2.56",
        "BusyBox": "registry.k8s.io/e2e-test-images/busybox:1.37.0-1",
        "Pause": "registry.k8s.io/pause:3.10.1",
    }


# Ginkgo v2's JUnit file as the e2e framework writes it (failure text in
# the element, no message attribute; every spec of the binary is listed).
JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="5" disabled="0" errors="0" failures="1" time="61.2">
  <testsuite name="Kubernetes e2e suite" tests="5" skipped="2" failures="1" time="61.2">
    <testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite" status="passed" time="0.2"></testcase>
    <testcase name="[It] [sig-node] Pods should get a host IP [NodeConformance] [Conformance]"
              classname="Kubernetes e2e suite" status="passed" time="4.5"></testcase>
    <testcase name="[It] [sig-network] DNS should provide DNS for services [Conformance]"
              classname="Kubernetes e2e suite" status="failed" time="50.1">
      <failure type="failed">[FAILED] Unable to read agnhost_udp@dns-test-service from pod dns-5434/dns-test
In [It] at: dns_common.go:459 @ 11/27/26 13:20:05.1
      </failure>
    </testcase>
    <testcase name="[It] [sig-apps] Deployment should run the lifecycle of a Deployment [Conformance]"
              classname="Kubernetes e2e suite" status="skipped" time="0"><skipped message="skipped"></skipped>
    </testcase>
    <testcase name="[It] [sig-storage] CSI something [Conformance]" classname="Kubernetes e2e suite"
              status="skipped" time="0.1"><skipped message="skipped - Only supported for providers [gce]"></skipped>
    </testcase>
  </testsuite>
</testsuites>
"""


def test_junit_counts_the_specs_that_ran_and_names_each_failure():
    results = verify_conformance.parse_junit(JUNIT)
    by_name = {r.name: r for r in results}
    assert [r.status for r in results] == ["passed", "failed", "skipped"]  # the filtered-out spec is not counted
    dns = by_name["[sig-network] DNS should provide DNS for services [Conformance]"]
    assert dns.message == "[FAILED] Unable to read agnhost_udp@dns-test-service from pod dns-5434/dns-test"
    assert by_name["[sig-storage] CSI something [Conformance]"].message == "Only supported for providers [gce]"


def test_the_slice_focus_selects_its_specs_and_not_their_neighbours():
    focus = re.compile(verify_conformance.slice_focus())
    for name in verify_conformance.SLICE:
        assert focus.search(name + " [Conformance]")
    assert not focus.search("[sig-node] Pods should be updated [NodeConformance] [Conformance]")
    assert not focus.search("[sig-apps] ReplicaSet should adopt matching pods on creation [Conformance]")


def test_the_agnhost_image_has_what_the_suite_expects_in_it(tmp_path):
    binary = tmp_path / "agnhost"
    binary.write_bytes(b"\x7fELF stand-in for the agnhost binary")
    image = agnhost_image(tmp_path, binary, "registry.k8s.io/e2e-test-images/agnhost:2.56")
    with tarfile.open(image.path) as archive:
        manifest = archive.extractfile("manifest.json").read().decode()
        assert '"RepoTags": ["registry.k8s.io/e2e-test-images/agnhost:2.56"]' in manifest
        layer_name = next(n for n in archive.getnames() if n.endswith("/layer.tar"))
        layer = tarfile.open(fileobj=io.BytesIO(archive.extractfile(layer_name).read()))
    members = {m.name: m for m in layer.getmembers()}
    assert layer.extractfile("agnhost").read() == binary.read_bytes()
    assert members["agnhost-2"].issym() and members["agnhost-2"].linkname == "agnhost"
    assert members["uploads"].isdir()
    # bash is the shell (busybox's sh would run its own nc), Debian's
    # OpenBSD netcat is nc, and busybox has the rest.
    assert members["bin/sh"].linkname == "bash" and members["bin/bash"].isfile()
    assert layer.extractfile("usr/bin/nc").read() == Path("/usr/bin/nc.openbsd").read_bytes()
    # The DNS specs' probers look names up with getent: /etc/hosts first, then DNS.
    assert members["usr/bin/getent"].isfile()
    assert b"hosts: files dns" in layer.extractfile("etc/nsswitch.conf").read()
    for applet in ("wget", "nslookup"):
        assert members[f"bin/{applet}"].linkname == "busybox"
    passwd = layer.extractfile("etc/passwd").read().decode()
    group = layer.extractfile("etc/group").read().decode()
    assert "user-defined-in-image:x:1000:" in passwd
    assert "group-defined-in-image:x:50000:user-defined-in-image" in group
    cert = x509.load_pem_x509_certificate(layer.extractfile("localhost.crt").read())
    key = serialization.load_pem_private_key(layer.extractfile("localhost.key").read(), None)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    # Made once: the next build uses the same pair, so the image is the same.
    assert agnhost_image(tmp_path, binary, "registry.k8s.io/e2e-test-images/agnhost:2.56").id == image.id


def _layer_of(image_path: Path) -> tarfile.TarFile:
    with tarfile.open(image_path) as archive:
        layer_name = next(n for n in archive.getnames() if n.endswith("/layer.tar"))
        return tarfile.open(fileobj=io.BytesIO(archive.extractfile(layer_name).read()))


def _config_of(image_path: Path) -> dict:
    with tarfile.open(image_path) as archive:
        manifest = json.loads(archive.extractfile("manifest.json").read())
        return json.loads(archive.extractfile(manifest[0]["Config"]).read())["config"]


def test_the_web_server_stand_ins_serve_upstreams_document_root_under_upstreams_command(tmp_path):
    """The suite's httpd and nginx pods run the image's own command and
    read or move index.html in the upstream document root (StatefulSet
    readiness), so those paths are what the stand-ins keep."""
    for make, root, program in (
        (httpd_image, "usr/local/apache2/htdocs", "usr/local/bin/httpd-foreground"),
        (nginx_image, "usr/share/nginx/html", "usr/sbin/nginx"),
    ):
        image = make(tmp_path, f"registry.k8s.io/e2e-test-images/{make.__name__}:1", f"{make.__name__}.tar")
        layer = _layer_of(image.path)
        members = {m.name: m for m in layer.getmembers()}
        assert members[f"{root}/index.html"].isfile()
        script = layer.extractfile(program).read().decode()
        assert f"httpd -f -p 80 -h /{root}" in script and "trap" in script
        assert members[program].mode & 0o111
        assert members["bin/httpd"].linkname == "busybox"
        config = _config_of(image.path)
        assert config["Cmd"][0] == f"/{program}" and "80/tcp" in config["ExposedPorts"]


def test_nonewprivs_runs_a_set_uid_root_nnp(tmp_path):
    nnp = tmp_path / "nnp"
    nnp.write_bytes(b"\x7fELF stand-in for nnp")
    image = nonewprivs_image(tmp_path, nnp, "registry.k8s.io/e2e-test-images/nonewprivs:1.3")
    member = _layer_of(image.path).getmember("usr/local/bin/nnp")
    assert member.mode & 0o4000 and member.uid == 0
    assert _config_of(image.path)["Cmd"] == ["nnp"]


def test_the_update_demo_images_serve_their_pictures_from_agnhost(tmp_path):
    binary, html = tmp_path / "agnhost", tmp_path / "html"
    binary.write_bytes(b"\x7fELF stand-in for the agnhost binary")
    html.mkdir()
    (html / "data.json").write_text('{\n  "image": "kitten.jpg"\n}\n')
    (html / "kitten.jpg").write_bytes(b"\xff\xd8 picture")
    image = update_demo_image(tmp_path, binary, "registry.k8s.io/e2e-test-images/kitten:1.7", html, "kitten.tar")
    layer = _layer_of(image.path)
    assert json.loads(layer.extractfile("data.json").read()) == {"image": "kitten.jpg"}
    assert layer.extractfile("kitten.jpg").read() == b"\xff\xd8 picture"
    config = _config_of(image.path)
    assert config["Entrypoint"] == ["/agnhost"] and config["Cmd"] == ["test-webserver"]


# Ginkgo v2's verbose output, cut down: run serially a spec's text comes
# first and its verdict last; under the CLI (--parallel) the verdict comes
# first, right after the separator.
SERIAL_OUTPUT = """------------------------------
[sig-node] Pods should get a host IP [NodeConformance] [Conformance] [sig-node, NodeConformance, Conformance]
k8s.io/kubernetes@v1.34.4/test/e2e/common/node/pods.go:205
  STEP: Creating a kubernetes client
• [2.051 seconds]
------------------------------
[sig-apps] Job should run a job to completion [Conformance] [sig-apps, Conformance]
k8s.io/kubernetes@v1.34.4/test/e2e/apps/job.go:798
• [FAILED] [12.084 seconds]
"""
# The storage suites' specs carry no SIG label; a spec skipped in its
# BeforeEach is reported at length.
STORAGE_OUTPUT = """------------------------------
SS
------------------------------
External Storage [Driver: local-path] [Testpattern: Dynamic PV (default fs)] fsgroupchangepolicy (OnRootMismatch)
k8s.io/kubernetes@v1.34.4/test/e2e/storage/testsuites/fsgroupchangepolicy.go:222
  [SKIPPED] in [BeforeEach] - k8s.io/kubernetes@v1.34.4/test/e2e/storage/testsuites/fsgroupchangepolicy.go:81
S [SKIPPED] [0.000 seconds]
------------------------------
External Storage [Driver: local-path] [Testpattern: Dynamic PV (default fs)] provisioning should provision storage
k8s.io/kubernetes@v1.34.4/test/e2e/storage/testsuites/provisioning.go:190
• [15.201 seconds]
"""
PARALLEL_OUTPUT = """SSSSSSSS
------------------------------
• [6.091 seconds]
[sig-node] Secrets should be consumable via the environment [NodeConformance] [Conformance] [sig-node, Conformance]
k8s.io/kubernetes@v1.34.4/test/e2e/common/node/secrets.go:96

  Timeline >>
  STEP: Creating a kubernetes client @ 11/27/26 18:20:12.021
  << Timeline
------------------------------
• [FAILED] [3.418 seconds]
[sig-api-machinery] AdmissionWebhook should mutate pod [Conformance] [sig-api-machinery, Conformance]
"""


def _verdicts(output: str) -> list[tuple[str, str]]:
    reader = verify_conformance.ProgressReader()
    out = []
    for line in output.splitlines():
        verdict = reader.feed(line)
        if verdict:
            out.append((verdict, reader.current))
    assert reader.done == len(out)
    return out


def test_progress_names_each_spec_with_its_verdict_serially_and_in_parallel():
    assert _verdicts(SERIAL_OUTPUT) == [
        ("passed", "[sig-node] Pods should get a host IP [NodeConformance] [Conformance]"),
        ("failed", "[sig-apps] Job should run a job to completion [Conformance]"),
    ]
    assert _verdicts(STORAGE_OUTPUT) == [
        (
            "skipped",
            "External Storage [Driver: local-path] [Testpattern: Dynamic PV (default fs)] fsgroupchangepolicy "
            "(OnRootMismatch)",
        ),
        (
            "passed",
            "External Storage [Driver: local-path] [Testpattern: Dynamic PV (default fs)] provisioning should "
            "provision storage",
        ),
    ]
    assert _verdicts(PARALLEL_OUTPUT) == [
        ("passed", "[sig-node] Secrets should be consumable via the environment [NodeConformance] [Conformance]"),
        ("failed", "[sig-api-machinery] AdmissionWebhook should mutate pod [Conformance]"),
    ]


def test_ginkgos_version_is_the_one_kubernetes_requires():
    gomod = "module k8s.io/kubernetes\n\nrequire (\n\tgithub.com/onsi/ginkgo v1.16.5\n"
    gomod += "\tgithub.com/onsi/ginkgo/v2 v2.21.0\n)\n"
    assert required_version(gomod, "github.com/onsi/ginkgo/v2") == "v2.21.0"
    assert required_version("require github.com/onsi/ginkgo/v2 v2.9.1\n", "github.com/onsi/ginkgo/v2") == "v2.9.1"


def test_the_aggregator_specs_pod_finds_its_programs_where_it_runs_them(tmp_path):
    """The spec runs the sample-apiserver image's entrypoint with its own
    arguments and /usr/local/bin/etcd in the etcd image."""
    program = tmp_path / "program"
    program.write_bytes(b"\x7fELF stand-in")
    server = sample_apiserver_image(tmp_path, program, "registry.k8s.io/e2e-test-images/sample-apiserver:1.29.2")
    assert _layer_of(server.path).extractfile("sample-apiserver").read() == program.read_bytes()
    assert _config_of(server.path)["Entrypoint"] == ["/sample-apiserver"]
    etcd = etcd_image(tmp_path, program, "registry.k8s.io/etcd:3.6.4-0")
    member = _layer_of(etcd.path).getmember("usr/local/bin/etcd")
    assert member.isfile() and member.mode & 0o111


def test_images_a_mirror_on_the_k8sfs_images_registry_covers_are_pulled_and_the_rest_imported():
    """On the lab (registries.k8sfs_images and its mirrors) the suite's
    registry.k8s.io images are served by the lab registry; an image from a
    registry it does not mirror, or any image without that key, is imported."""
    from types import SimpleNamespace

    from k8sfs.images import Image
    from k8sfs.spec import ClusterSpec, RegistryOptions

    images = [
        Image("registry.k8s.io/e2e-test-images/agnhost:2.53", Path("/nonexistent/a.tar"), "a"),
        Image("gcr.io/authenticated-image-pulling/alpine:3.7", Path("/nonexistent/b.tar"), "b"),
    ]
    lab = RegistryOptions(
        mirrors={"registry.k8s.io": ["https://192.168.50.1:5000/registry.k8s.io"]}, k8sfs_images="192.168.50.1:5000"
    )
    served, imported = verify_conformance.served_by_registry(SimpleNamespace(spec=ClusterSpec(registries=lab)), images)
    assert [i.name for i in served] == ["registry.k8s.io/e2e-test-images/agnhost:2.53"]
    assert [i.name for i in imported] == ["gcr.io/authenticated-image-pulling/alpine:3.7"]
    elsewhere = RegistryOptions(
        mirrors={"registry.k8s.io": ["https://mirror.example"]}, k8sfs_images="192.168.50.1:5000"
    )
    assert (
        verify_conformance.served_by_registry(SimpleNamespace(spec=ClusterSpec(registries=elsewhere)), images)[0] == []
    )
    assert verify_conformance.served_by_registry(SimpleNamespace(spec=ClusterSpec()), images) == ([], images)
