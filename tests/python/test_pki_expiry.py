"""Certificates close to expiry are called out 30 days ahead, as kubeadm's
`certs check-expiration` does: in `k8sfs pki check` and in `status`."""

from __future__ import annotations

from conftest import run_k8sfs


def test_pki_check_warns_thirty_days_ahead(tmp_path):
    spec = tmp_path / "short.yaml"
    spec.write_text("pki:\n  leaf_validity_days: 20\n")
    run_k8sfs("pki", "init", "--spec", str(spec), "--dir", str(tmp_path / "pki"))
    check = run_k8sfs("pki", "check", "--spec", str(spec), "--dir", str(tmp_path / "pki"))
    rows = {line.split()[0]: line for line in check.stdout.splitlines()[2:]}
    assert "expires in 19 days: renew it" in rows["apiserver"] or "expires in 20 days: renew it" in rows["apiserver"]
    assert "renew it" not in rows["ca"]  # the CA has ten years
    from k8sfs import pki
    from k8sfs.spec import load_spec

    lines = pki.expiring(load_spec(spec), tmp_path / "pki")
    assert any(line.startswith("apiserver expires in ") and "k8sfs pki renew apiserver" in line for line in lines)
