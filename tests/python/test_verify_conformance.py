"""k8sfs verify conformance, the parts that need no cluster: the suite's
image table read from its manifest.go (both layouts it has had), the
JUnit file read back, the slice's focus and the agnhost image's layout.
The run on a lab cluster is in test_control_plane.py."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from k8sfs import verify_conformance
from k8sfs.artifacts.gobuild import e2e_image_names
from k8sfs.images.conformance import agnhost_image

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
