// Keys and certificates, checked with OpenSSL's own chain verification
// (X509_verify_cert with a purpose), not only with our readers.
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>

#include <catch2/catch.hpp>

#include "k8sfs/pki/certificate.h"
#include "k8sfs/pki/key.h"

using namespace k8sfs::pki;

namespace {

// OpenSSL verification of `leaf` against `ca` for a TLS purpose
// (X509_PURPOSE_SSL_SERVER or X509_PURPOSE_SSL_CLIENT).
int verify(const Certificate& leaf, const Certificate& ca, int purpose) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca.get());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf.get(), nullptr);
  X509_STORE_CTX_set_purpose(ctx, purpose);
  int ok = X509_verify_cert(ctx);
  int error = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return error;
}

}  // namespace

TEST_CASE("keys of every type round-trip through PEM", "[pki]") {
  for (auto type : {KeyType::EcdsaP256, KeyType::Rsa2048}) {
    auto key = PrivateKey::generate(type);
    CHECK(key.type() == type);
    auto pem = key.to_pem();
    CHECK(pem.rfind("-----BEGIN PRIVATE KEY-----", 0) == 0);
    auto back = PrivateKey::from_pem(pem, "test key");
    CHECK(back.public_pem() == key.public_pem());
  }
  CHECK(parse_key_type("rsa-4096") == KeyType::Rsa4096);
  CHECK_THROWS_AS(parse_key_type("dsa"), PkiError);
}

TEST_CASE("unreadable key material gives an error naming the file, not the content", "[pki]") {
  try {
    PrivateKey::from_pem("-----BEGIN PRIVATE KEY-----\nnot base64 SECRETSTUFF\n-----END PRIVATE KEY-----\n",
                         "/etc/kubernetes/pki/ca.key");
    FAIL("no error");
  } catch (const PkiError& e) {
    std::string msg = e.what();
    CHECK(msg.find("/etc/kubernetes/pki/ca.key") != std::string::npos);
    CHECK(msg.find("SECRETSTUFF") == std::string::npos);
  }
}

TEST_CASE("a CA is self-signed, marked CA, with SKI equal to AKI", "[pki]") {
  auto key = PrivateKey::generate(KeyType::EcdsaP256);
  auto ca = make_ca(key, "kubernetes-ca", 3650);
  CHECK(ca.common_name() == "kubernetes-ca");
  CHECK(ca.issuer_common_name() == "kubernetes-ca");
  CHECK(ca.is_ca());
  CHECK(ca.is_signed_by(ca));
  CHECK(ca.matches(key));
  CHECK_FALSE(ca.matches(PrivateKey::generate(KeyType::EcdsaP256)));
  CHECK_FALSE(ca.subject_key_id_hex().empty());
  CHECK(ca.subject_key_id_hex() == ca.authority_key_id_hex());
  const auto days = (ca.not_after() - std::time(nullptr)) / 86400;
  CHECK((days == 3649 || days == 3650));
}

TEST_CASE("a server leaf verifies for TLS server use and carries its SANs", "[pki]") {
  auto ca_key = PrivateKey::generate(KeyType::EcdsaP256);
  auto ca = make_ca(ca_key, "kubernetes-ca", 3650);
  auto key = PrivateKey::generate(KeyType::EcdsaP256);
  LeafSpec spec{{"kube-apiserver", {}},
                {ExtendedUsage::ServerAuth},
                {"kubernetes", "kubernetes.default.svc.cluster.local", "k8s-master"},
                {"10.0.0.1", "192.168.50.10"},
                365};
  auto leaf = issue_leaf(spec, key, ca, ca_key);
  CHECK(verify(leaf, ca, X509_PURPOSE_SSL_SERVER) == X509_V_OK);
  CHECK(verify(leaf, ca, X509_PURPOSE_SSL_CLIENT) != X509_V_OK);  // server only
  CHECK(leaf.dns_names() == spec.dns_names);
  CHECK(leaf.ip_addresses() == spec.ip_addresses);
  CHECK_FALSE(leaf.is_ca());
  CHECK(leaf.issuer_common_name() == "kubernetes-ca");
  CHECK(leaf.authority_key_id_hex() == ca.subject_key_id_hex());
  CHECK(leaf.matches(key));
}

TEST_CASE("a client leaf carries its groups as O and verifies for client use", "[pki]") {
  auto ca_key = PrivateKey::generate(KeyType::Rsa2048);
  auto ca = make_ca(ca_key, "kubernetes-ca", 3650);
  auto leaf = issue_leaf({{"system:node:node-1", {"system:nodes"}}, {ExtendedUsage::ClientAuth}, {}, {}, 365},
                         PrivateKey::generate(KeyType::EcdsaP256), ca, ca_key);
  CHECK(verify(leaf, ca, X509_PURPOSE_SSL_CLIENT) == X509_V_OK);
  CHECK(leaf.common_name() == "system:node:node-1");
  CHECK(leaf.organizations() == std::vector<std::string>{"system:nodes"});
  CHECK(leaf.extended_usages() == std::vector<ExtendedUsage>{ExtendedUsage::ClientAuth});
}

TEST_CASE("serial numbers are random and positive", "[pki]") {
  auto ca_key = PrivateKey::generate(KeyType::EcdsaP256);
  auto ca = make_ca(ca_key, "etcd-ca", 10);
  auto key = PrivateKey::generate(KeyType::EcdsaP256);
  LeafSpec spec{{"kube-etcd", {}}, {ExtendedUsage::ServerAuth, ExtendedUsage::ClientAuth}, {"localhost"}, {}, 1};
  auto a = issue_leaf(spec, key, ca, ca_key).serial_hex();
  auto b = issue_leaf(spec, key, ca, ca_key).serial_hex();
  CHECK(a != b);
  CHECK(a.size() >= 30);
}

TEST_CASE("a CA whose key does not match, a non-CA issuer and bad IPs are refused", "[pki]") {
  auto ca_key = PrivateKey::generate(KeyType::EcdsaP256);
  auto ca = make_ca(ca_key, "kubernetes-ca", 10);
  auto other = PrivateKey::generate(KeyType::EcdsaP256);
  LeafSpec spec{{"x", {}}, {ExtendedUsage::ClientAuth}, {}, {}, 1};
  CHECK_THROWS_WITH(issue_leaf(spec, other, ca, other), Catch::Contains("does not match"));
  auto leaf = issue_leaf(spec, other, ca, ca_key);
  CHECK_THROWS_WITH(issue_leaf(spec, other, leaf, other), Catch::Contains("not a CA"));
  spec.ip_addresses = {"192.168.50.300"};
  CHECK_THROWS_WITH(issue_leaf(spec, other, ca, ca_key), Catch::Contains("192.168.50.300"));
  spec.ip_addresses.clear();
  spec.validity_days = 0;
  CHECK_THROWS_AS(issue_leaf(spec, other, ca, ca_key), PkiError);
}
