"""`k8sfs picture topology|pki` as a user runs it: SVG that names what it
draws; an HTML page on request; a timeline needs a finished apply."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from conftest import run_k8sfs


def text_of(svg: str) -> str:
    root = ElementTree.fromstring(svg)
    return " ".join(t for t in root.itertext())


def test_topology_draws_every_host_with_its_components_and_pod_range(tmp_path):
    spec = tmp_path / "ha.yaml"
    run_k8sfs("init", str(spec), "--control-planes", "3", "--workers", "2")
    words = text_of(run_k8sfs("picture", "topology", "--spec", str(spec)).stdout)
    for word in (
        "k8s-master-1",
        "k8s-master-3",
        "node-2",
        "kube-apiserver",
        "kubelet",
        "10.200.1.0/24",
        "etcd peers :2380",
    ):
        assert word in words, word


def test_the_pki_tree_goes_from_each_ca_to_the_hosts_and_an_html_page_wraps_it(tmp_path):
    page = tmp_path / "pki.html"
    run_k8sfs("picture", "pki", "--html", str(page))
    html = page.read_text()
    assert html.startswith("<!doctype html>") and "<svg" in html
    words = text_of(html[html.index("<svg") : html.index("</svg>") + 6])
    for word in ("CN=kubernetes-ca", "CN=etcd-ca", "apiserver.key", "kubelet.conf", "k8s-master"):
        assert word in words, word


def test_a_timeline_without_an_apply_says_what_is_missing(tmp_path):
    r = run_k8sfs("picture", "timeline", "--state", str(tmp_path), check=False)
    assert r.returncode == 1 and "no apply has finished for this cluster yet" in r.stderr
