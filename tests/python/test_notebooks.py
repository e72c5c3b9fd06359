"""The walkthrough's notebooks, executed top to bottom against the test lab
(nbclient, a real Jupyter kernel); any error fails the test. They are
stored without outputs."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import TEST_LAB, TEST_SUBNET

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
pytestmark = pytest.mark.lab


def test_there_is_one_notebook_per_chapter_group():
    assert [p.name for p in NOTEBOOKS] == [
        "01-hosts.ipynb",
        "02-certificates.ipynb",
        "03-runtime-kubelet-crictl.ipynb",
        "04-control-plane.ipynb",
        "05-cluster-services.ipynb",
        "06-high-availability.ipynb",
        "07-day-two.ipynb",
        "08-verify.ipynb",
    ]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") and not c.get("execution_count") for c in nb.cells if c.cell_type == "code")
        assert sum(c.cell_type == "markdown" for c in nb.cells) >= 2


# 06 and 07 build labs of their own (five hosts; an upgrade from v1.33)
# and repeat what test_high_availability.py and test_day_two.py prove: they
# run in make test-long.
OWN_LABS = {"06-high-availability", "07-day-two"}


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=pytest.mark.long) if p.stem in OWN_LABS else p for p in NOTEBOOKS],
    ids=[p.stem for p in NOTEBOOKS],
)
def test_notebook_runs_top_to_bottom(lab, kubectl, path, monkeypatch):
    monkeypatch.setenv("K8SFS_LAB", TEST_LAB)
    monkeypatch.setenv("K8SFS_LAB_SUBNET", TEST_SUBNET)
    monkeypatch.setenv("K8SFS_HA_LAB", "k8sfsn6")  # notebook 06 makes (and removes) a lab of its own
    monkeypatch.setenv("K8SFS_HA_SUBNET", "192.168.86.0/24")
    monkeypatch.setenv("K8SFS_DAY2_LAB", "k8sfsn7")  # notebook 07 too, at v1.33.13
    monkeypatch.setenv("K8SFS_DAY2_SUBNET", "192.168.91.0/24")
    if path.stem == "07-day-two":
        from conftest import artifacts_missing

        missing = artifacts_missing("v1.33.13")
        if missing:
            pytest.skip(f"{', '.join(missing)} for v1.33.13 not in the artifact cache; `make test` builds them")
    if path.stem == "08-verify":
        from k8sfs.artifacts import VERIFY_TOOLS, ArtifactCache, versions_for
        from k8sfs.versions import LAB_KUBERNETES_VERSION

        wanted = versions_for(LAB_KUBERNETES_VERSION)
        missing = [n for n in VERIFY_TOOLS if ArtifactCache().lookup(n, wanted[n]) is None]
        if missing:
            pytest.skip(f"{', '.join(missing)} not in the artifact cache; `make artifacts` builds them")
    from conftest import purge_lab

    for own in ("k8sfsn6", "k8sfsn7"):  # a lab an earlier, failed run left: these notebooks start afresh
        purge_lab(own)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    from conftest import OUTPUTS

    OUTPUTS.append(f"notebook {path.name}\n{nbformat.writes(nb)}")  # for the secrets scan
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # The pictures render where the reader needs them: topology (01, 06), the PKI tree (02), the path of a
    # request to the smoke test's Service through the workers' real NAT rules and the applies' timeline (05).
    pictures = [
        " ".join(ElementTree.fromstring("".join(o["data"]["image/svg+xml"])).itertext())
        for o in outputs
        if "image/svg+xml" in o.get("data", {})
    ]
    expected = {
        "01-hosts": [["k8s-master", "node-2"]],
        "02-certificates": [["etcd-ca", "front-proxy-client"]],
        "05-cluster-services": [
            ["KUBE-SERVICES", "KUBE-SVC-", "KUBE-SEP-", "hello-", "on node-1", "on node-2"],
            ["k8s-master", "seconds since the apply started"],
        ],
        "06-high-availability": [["k8s-master-3", "etcd peers :2380"]],
    }
    for words in expected.get(path.stem, []):
        assert any(all(w in text for w in words) for text in pictures), (path.stem, words, [t[:200] for t in pictures])
