"""The cluster PKI as a user gets it from `k8sfs pki ...`, checked against
Kubernetes' "PKI certificates and requirements" table with tools that share
no code with k8sfs: the `cryptography` package, `openssl verify` and PyYAML.

EXPECTED below is written from that table (docs/ and ../shared/K8S-REFERENCE.md
§1), not from k8sfs's output."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER, CLIENT = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
MASTER, NODE1, NODE2 = "192.168.50.10", "192.168.50.11", "192.168.50.12"
APISERVER_NAMES = {"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
LOCAL_NAMES = ({"localhost"}, {"127.0.0.1", "::1"})

# path -> (CN, O list, issuer path, EKUs, DNS SANs, IP SANs)
EXPECTED = {
    "pki/etcd/healthcheck-client.crt": ("kube-etcd-healthcheck-client", [], "pki/etcd/ca.crt", {CLIENT}, set(), set()),
    "pki/apiserver-etcd-client.crt": ("kube-apiserver-etcd-client", [], "pki/etcd/ca.crt", {CLIENT}, set(), set()),
    "hosts/k8s-master/pki/etcd/server.crt": (
        "kube-etcd",
        [],
        "pki/etcd/ca.crt",
        {SERVER, CLIENT},
        {"k8s-master", "localhost"},
        {MASTER, "127.0.0.1", "::1"},
    ),
    "hosts/k8s-master/pki/etcd/peer.crt": (
        "kube-etcd-peer",
        [],
        "pki/etcd/ca.crt",
        {SERVER, CLIENT},
        {"k8s-master", "localhost"},
        {MASTER, "127.0.0.1", "::1"},
    ),
    "pki/apiserver.crt": (
        "kube-apiserver",
        [],
        "pki/ca.crt",
        {SERVER},
        APISERVER_NAMES | {"k8s-master", "kubernetes.default.svc.cluster", "api.example.test"},
        {MASTER, "10.0.0.1", "127.0.0.1", "203.0.113.9"},
    ),
    "pki/apiserver-kubelet-client.crt": (
        "kube-apiserver-kubelet-client",
        ["kubeadm:cluster-admins"],
        "pki/ca.crt",
        {CLIENT},
        set(),
        set(),
    ),
    "pki/front-proxy-client.crt": ("front-proxy-client", [], "pki/front-proxy-ca.crt", {CLIENT}, set(), set()),
    "hosts/node-1/pki/kubelet.crt": (
        "system:node:node-1",
        ["system:nodes"],
        "pki/ca.crt",
        {SERVER},
        {"node-1"},
        {NODE1},
    ),
    "hosts/node-2/pki/kubelet.crt": (
        "system:node:node-2",
        ["system:nodes"],
        "pki/ca.crt",
        {SERVER},
        {"node-2"},
        {NODE2},
    ),
}
CAS = {
    "pki/ca.crt": "kubernetes-ca",
    "pki/etcd/ca.crt": "etcd-ca",
    "pki/front-proxy-ca.crt": "kubernetes-front-proxy-ca",
}
# kubeconfig -> (CN, O list, server)
KUBECONFIGS = {
    "admin.conf": ("kubernetes-admin", ["kubeadm:cluster-admins"], f"https://{MASTER}:6443"),
    "super-admin.conf": ("kubernetes-super-admin", ["system:masters"], f"https://{MASTER}:6443"),
    "controller-manager.conf": ("system:kube-controller-manager", [], "https://127.0.0.1:6443"),
    "scheduler.conf": ("system:kube-scheduler", [], "https://127.0.0.1:6443"),
    "kube-proxy.conf": ("system:kube-proxy", ["system:node-proxier"], f"https://{MASTER}:6443"),
    "hosts/node-1/kubelet.conf": ("system:node:node-1", ["system:nodes"], f"https://{MASTER}:6443"),
    "hosts/node-2/kubelet.conf": ("system:node:node-2", ["system:nodes"], f"https://{MASTER}:6443"),
}

SPEC = f"""\
# the walkthrough's hosts
hosts:
  - {{name: k8s-master, address: {MASTER}, roles: [control-plane, etcd]}}
  - {{name: node-1, address: {NODE1}, roles: [worker]}}
  - {{name: node-2, address: {NODE2}, roles: [worker]}}
service_cidr: 10.0.0.0/16
pki:
  apiserver_extra_sans: [api.example.test, 203.0.113.9]
"""


def k8sfs(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "k8sfs.cli", *args], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"k8sfs {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "cluster.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture
def pki_dir(tmp_path: Path, spec_file: Path) -> Path:
    directory = tmp_path / "pki-state"
    k8sfs("pki", "init", "--spec", str(spec_file), "--dir", str(directory))
    return directory


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def cn(name: x509.Name) -> str:
    return name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def orgs(name: x509.Name) -> list[str]:
    return [a.value for a in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return set(ext.get_values_for_type(x509.DNSName)), {str(i) for i in ext.get_values_for_type(x509.IPAddress)}


def openssl_verify(ca: Path, leaf: Path, purpose: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca), "-purpose", purpose, str(leaf)], capture_output=True, text=True
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def tree_digest(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_cas_are_self_signed_with_kubeadm_names(pki_dir):
    for path, name in CAS.items():
        ca = load(pki_dir / path)
        assert cn(ca.subject) == name and ca.issuer == ca.subject
        assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert mode(pki_dir / path) == 0o644
        assert mode(pki_dir / path.replace(".crt", ".key")) == 0o600


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_leaf_matches_the_table(pki_dir, path):
    want_cn, want_o, issuer_path, want_eku, want_dns, want_ip = EXPECTED[path]
    cert = load(pki_dir / path)
    issuer = load(pki_dir / issuer_path)
    assert cn(cert.subject) == want_cn
    assert orgs(cert.subject) == want_o
    assert cert.issuer == issuer.subject
    eku = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert eku == want_eku
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment and not ku.key_cert_sign
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    dns, ips = sans(cert)
    assert dns == want_dns
    assert ips == {str(ipaddress.ip_address(i)) for i in want_ip}
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    for usage, purpose in ((SERVER, "sslserver"), (CLIENT, "sslclient")):
        if usage in want_eku:
            result = openssl_verify(pki_dir / issuer_path, pki_dir / path, purpose)
            assert result.returncode == 0, result.stdout + result.stderr
    assert mode(pki_dir / path) == 0o644
    assert mode(pki_dir / path.replace(".crt", ".key")) == 0o600
    key = serialization.load_pem_private_key((pki_dir / path.replace(".crt", ".key")).read_bytes(), None)
    assert key.public_key() == cert.public_key()
    # Default key type and validity: ECDSA P-256, one year.
    assert key.curve.name == "secp256r1"
    assert 364 <= (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 366


@pytest.mark.parametrize("path", sorted(KUBECONFIGS))
def test_kubeconfig_embeds_the_right_identity(pki_dir, path):
    want_cn, want_o, want_server = KUBECONFIGS[path]
    assert mode(pki_dir / path) == 0o600
    config = yaml.safe_load((pki_dir / path).read_text())
    assert config["kind"] == "Config"
    (cluster,) = config["clusters"]
    (user,) = config["users"]
    assert cluster["cluster"]["server"] == want_server
    ca_data = base64.b64decode(cluster["cluster"]["certificate-authority-data"])
    assert ca_data == (pki_dir / "pki/ca.crt").read_bytes()
    cert = x509.load_pem_x509_certificate(base64.b64decode(user["user"]["client-certificate-data"]))
    key = serialization.load_pem_private_key(base64.b64decode(user["user"]["client-key-data"]), None)
    assert key.public_key() == cert.public_key()
    assert cn(cert.subject) == want_cn and orgs(cert.subject) == want_o
    assert set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == {CLIENT}
    assert config["current-context"] in {c["name"] for c in config["contexts"]}


def test_service_account_pair_matches(pki_dir):
    key = serialization.load_pem_private_key((pki_dir / "pki/sa.key").read_bytes(), None)
    pub = serialization.load_pem_public_key((pki_dir / "pki/sa.pub").read_bytes())
    assert key.public_key() == pub
    assert mode(pki_dir / "pki/sa.key") == 0o600


def test_older_versions_get_system_masters_admin_and_no_super_admin(tmp_path):
    spec = tmp_path / "old.yaml"
    spec.write_text("kubernetes_version: v1.21.6\n")
    k8sfs("pki", "init", "--spec", str(spec), "--dir", str(tmp_path / "d"))
    config = yaml.safe_load((tmp_path / "d/admin.conf").read_text())
    cert = x509.load_pem_x509_certificate(base64.b64decode(config["users"][0]["user"]["client-certificate-data"]))
    assert orgs(cert.subject) == ["system:masters"]
    assert not (tmp_path / "d/super-admin.conf").exists()


def test_rsa_keys_when_the_spec_asks(tmp_path):
    spec = tmp_path / "rsa.yaml"
    spec.write_text("pki: {key_type: rsa-3072, leaf_validity_days: 30}\n")
    k8sfs("pki", "init", "--spec", str(spec), "--dir", str(tmp_path / "d"))
    key = serialization.load_pem_private_key((tmp_path / "d/pki/apiserver.key").read_bytes(), None)
    assert key.key_size == 3072
    cert = load(tmp_path / "d/pki/apiserver.crt")
    assert 29 <= (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 31


def test_second_run_keeps_everything_and_plan_says_nothing_to_do(pki_dir, spec_file):
    before = tree_digest(pki_dir)
    assert k8sfs("pki", "plan", "--spec", str(spec_file), "--dir", str(pki_dir), check=False).returncode == 0
    k8sfs("pki", "init", "--spec", str(spec_file), "--dir", str(pki_dir))
    assert tree_digest(pki_dir) == before


def test_changed_node_ip_reissues_only_what_names_it(pki_dir, spec_file):
    before = tree_digest(pki_dir)
    spec_file.write_text(SPEC.replace(NODE1, "192.168.50.21"))
    plan = k8sfs("pki", "plan", "--spec", str(spec_file), "--dir", str(pki_dir), check=False)
    assert plan.returncode == 2
    assert "kubelet@node-1" in plan.stdout and "192.168.50.21" in plan.stdout and "192.168.50.11" in plan.stdout
    assert tree_digest(pki_dir) == before  # plan changed nothing
    k8sfs("pki", "init", "--spec", str(spec_file), "--dir", str(pki_dir))
    after = tree_digest(pki_dir)
    changed = {p for p in after if after[p] != before.get(p)}
    assert changed == {"hosts/node-1/pki/kubelet.crt"}  # same key, new certificate
    assert sans(load(pki_dir / "hosts/node-1/pki/kubelet.crt"))[1] == {"192.168.50.21"}


def test_renew_keeps_ca_and_key_unless_asked(pki_dir, spec_file):
    old = load(pki_dir / "pki/apiserver.crt")
    ca_before = (pki_dir / "pki/ca.crt").read_bytes()
    k8sfs("pki", "renew", "apiserver", "--spec", str(spec_file), "--dir", str(pki_dir))
    new = load(pki_dir / "pki/apiserver.crt")
    assert new.serial_number != old.serial_number and new.public_key() == old.public_key()
    k8sfs("pki", "renew", "--all", "--new-key", "--spec", str(spec_file), "--dir", str(pki_dir))
    assert load(pki_dir / "pki/apiserver.crt").public_key() != old.public_key()
    assert (pki_dir / "pki/ca.crt").read_bytes() == ca_before
    check = k8sfs("pki", "check", "--spec", str(spec_file), "--dir", str(pki_dir))
    assert "kubelet.conf@node-2" in check.stdout and "365" in check.stdout
    bad = k8sfs("pki", "renew", "no-such-cert", "--spec", str(spec_file), "--dir", str(pki_dir), check=False)
    assert bad.returncode == 1 and "no-such-cert" in bad.stderr


def test_import_own_ca_then_leaves_are_reissued(pki_dir, spec_file, tmp_path):
    other = tmp_path / "other"
    k8sfs("pki", "init", "--dir", str(other))
    k8sfs(
        "pki",
        "import",
        "ca",
        "--cert",
        str(other / "pki/ca.crt"),
        "--key",
        str(other / "pki/ca.key"),
        "--spec",
        str(spec_file),
        "--dir",
        str(pki_dir),
    )
    plan = k8sfs("pki", "plan", "--spec", str(spec_file), "--dir", str(pki_dir), check=False)
    assert plan.returncode == 2 and "not signed by the current ca" in plan.stdout
    k8sfs("pki", "init", "--spec", str(spec_file), "--dir", str(pki_dir))
    result = openssl_verify(other / "pki/ca.crt", pki_dir / "pki/apiserver.crt", "sslserver")
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_of_a_ca_with_a_foreign_key_changes_nothing(pki_dir, spec_file, tmp_path):
    other = tmp_path / "other"
    k8sfs("pki", "init", "--dir", str(other))
    before = tree_digest(pki_dir)
    result = k8sfs(
        "pki",
        "import",
        "ca",
        "--cert",
        str(other / "pki/ca.crt"),
        "--key",
        str(pki_dir / "pki/ca.key"),
        "--spec",
        str(spec_file),
        "--dir",
        str(pki_dir),
        check=False,
    )
    assert result.returncode == 1
    assert "does not belong" in result.stderr
    assert tree_digest(pki_dir) == before


def test_bad_spec_names_the_key_and_writes_nothing(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("hosts:\n  - {name: m, address: 192.168.50.300, roles: [control-plane]}\n")
    result = k8sfs("pki", "init", "--spec", str(spec), "--dir", str(tmp_path / "d"), check=False)
    assert result.returncode == 1
    assert "hosts[0].address" in result.stderr and "192.168.50.300" in result.stderr
    assert not (tmp_path / "d").exists()
    spec.write_text("pki: {key_typ: rsa-2048}\n")
    result = k8sfs("pki", "init", "--spec", str(spec), "--dir", str(tmp_path / "d"), check=False)
    assert "pki.key_typ: unknown key" in result.stderr
    assert not (tmp_path / "d").exists()


def test_no_key_material_in_any_output(pki_dir, spec_file):
    keys = [p.read_bytes() for p in pki_dir.rglob("*.key")]
    outputs = ""
    for action in ("plan", "check"):
        proc = k8sfs("pki", action, "--spec", str(spec_file), "--dir", str(pki_dir), check=False)
        outputs += proc.stdout + proc.stderr
    assert "PRIVATE KEY" not in outputs
    for key in keys:
        body = b"".join(key.splitlines()[1:-1]).decode()
        assert body[:40] not in outputs
    from k8sfs import _core

    assert "BEGIN" not in repr(_core.PrivateKey.generate("ecdsa-p256"))
