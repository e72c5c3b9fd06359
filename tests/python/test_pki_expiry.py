"""Certificates close to expiry are called out 30 days ahead, as kubeadm's
`certs check-expiration` does, or as many days as the spec's
pki.expiry_warning_days says: in `k8sfs pki check` (soonest first), in
`plan` and `status` (test_control_plane.py, on the lab) and in the PKI
picture."""

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


def test_the_warning_days_come_from_the_spec_and_pki_check_lists_the_soonest_first(tmp_path):
    spec = tmp_path / "short.yaml"
    spec.write_text("pki:\n  leaf_validity_days: 20\n  expiry_warning_days: 10\n")
    run_k8sfs("pki", "init", "--spec", str(spec), "--dir", str(tmp_path / "pki"))
    check = run_k8sfs("pki", "check", "--spec", str(spec), "--dir", str(tmp_path / "pki"))
    rows = [line.split() for line in check.stdout.splitlines()[2:] if line.strip()]
    assert "renew it" not in check.stdout  # 20 days left, warned at 10
    names = [row[0] for row in rows]
    assert names.index("apiserver") < names.index("ca")  # 20 days before 3650
    from k8sfs import pki
    from k8sfs.spec import load_spec

    assert pki.expiring(load_spec(spec), tmp_path / "pki") == []
    assert len(pki.expiring(load_spec(spec), tmp_path / "pki", within=30)) > 10


def test_the_pki_picture_shows_days_left_and_colours_what_is_near_expiry(tmp_path):
    from k8sfs import pictures, pki
    from k8sfs.spec import load_spec

    spec = tmp_path / "short.yaml"
    spec.write_text("pki:\n  leaf_validity_days: 20\n")
    run_k8sfs("pki", "init", "--spec", str(spec), "--dir", str(tmp_path / "pki"))
    loaded = load_spec(spec)
    svg = pictures.pki_tree(loaded, pki.days_left(loaded, tmp_path / "pki")).svg
    assert "days left" in svg
    assert svg.count(pictures.EXPIRING) >= 10  # every leaf (20 days < 30); not the CAs
    assert pictures.EXPIRING not in pictures.pki_tree(loaded).svg  # nothing issued: no colour by days
