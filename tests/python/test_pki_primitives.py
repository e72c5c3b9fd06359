"""Keys and certificates from the C++ PKI core, read back with tools that
share no code with it: the `cryptography` package and the openssl CLI."""

from __future__ import annotations

import ipaddress
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from k8sfs import _core as core


def parse(cert: core.Certificate) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert.to_pem().encode())


def verify_signature(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    key = issuer.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    else:
        key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "rsa-2048"])
def test_ca_as_an_independent_parser_sees_it(key_type):
    key = core.PrivateKey.generate(key_type)
    ca = parse(core.make_ca(key, "kubernetes-ca", 3650))
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubernetes-ca"
    assert ca.issuer == ca.subject
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    ku = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    aki = ca.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert ski == aki
    verify_signature(ca, ca)
    expected = ec.EllipticCurvePublicKey if key_type.startswith("ecdsa") else rsa.RSAPublicKey
    assert isinstance(ca.public_key(), expected)
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days in (3650, 3651)


def test_server_leaf_as_an_independent_parser_sees_it():
    ca_key = core.PrivateKey.generate()
    ca = core.make_ca(ca_key, "kubernetes-ca")
    leaf = core.issue_leaf(
        "kube-apiserver",
        usages=[core.ExtendedUsage.SERVER_AUTH],
        dns_names=["kubernetes", "kubernetes.default.svc.cluster.local", "k8s-master"],
        ip_addresses=["10.0.0.1", "192.168.50.10"],
        key=core.PrivateKey.generate(),
        ca=ca,
        ca_key=ca_key,
    )
    cert, issuer = parse(leaf), parse(ca)
    verify_signature(cert, issuer)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["kubernetes", "kubernetes.default.svc.cluster.local", "k8s-master"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.0.0.1"),
        ipaddress.ip_address("192.168.50.10"),
    ]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment and not ku.key_cert_sign
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert cert.serial_number > 2**64  # random, not a counter


def test_client_leaf_groups_and_openssl_cli_verification(tmp_path):
    ca_key = core.PrivateKey.generate()
    ca = core.make_ca(ca_key, "kubernetes-ca")
    leaf = core.issue_leaf(
        "system:node:node-1",
        organizations=["system:nodes"],
        usages=[core.ExtendedUsage.CLIENT_AUTH],
        key=core.PrivateKey.generate(),
        ca=ca,
        ca_key=ca_key,
    )
    cert = parse(leaf)
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:nodes"
    (tmp_path / "ca.crt").write_text(ca.to_pem())
    (tmp_path / "leaf.crt").write_text(leaf.to_pem())

    def openssl_verify(purpose):
        return subprocess.run(
            ["openssl", "verify", "-CAfile", str(tmp_path / "ca.crt"), "-purpose", purpose, str(tmp_path / "leaf.crt")],
            capture_output=True,
            text=True,
        )

    assert openssl_verify("sslclient").returncode == 0
    assert openssl_verify("sslserver").returncode != 0  # a client certificate only


def test_private_key_pem_is_readable_elsewhere_and_never_shown_in_repr():
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = core.PrivateKey.generate("rsa-2048")
    parsed = load_pem_private_key(key.to_pem().encode(), password=None)
    assert parsed.key_size == 2048
    assert "PRIVATE" not in repr(key)
    with pytest.raises(core.PKIError, match="/etc/x.key") as info:
        core.PrivateKey.from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "/etc/x.key")
    assert "AAAA" not in str(info.value)
