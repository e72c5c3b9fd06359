// Certificates with OpenSSL 3: building CAs and leaves, and reading back
// what a certificate says (for checks, renewal decisions and tests).
#include "k8sfs/pki/certificate.h"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fmt/format.h>

#include "openssl_util.h"

namespace k8sfs::pki {
namespace {

void check(int ok, const std::string& what) {
  if (ok != 1) throw PkiError(what + ": " + detail::openssl_error());
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr)
    throw PkiError(fmt::format("building extension {} = {}: {}", OBJ_nid2sn(nid), value, detail::openssl_error()));
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  check(ok, "adding an extension");
}

void set_subject(X509_NAME* name, const Subject& subject) {
  for (const auto& org : subject.organizations) {
    check(X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1, 0),
          "setting O=" + org);
  }
  check(X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(subject.common_name.c_str()), -1, -1, 0),
        "setting CN=" + subject.common_name);
}

// A random positive 127-bit serial, as RFC 5280 recommends (unpredictable).
void set_random_serial(X509* cert) {
  unsigned char bytes[16];
  check(RAND_bytes(bytes, sizeof bytes), "generating a serial number");
  bytes[0] &= 0x7f;
  bytes[0] |= 0x01;  // never zero, never negative
  BIGNUM* bn = BN_bin2bn(bytes, sizeof bytes, nullptr);
  ASN1_INTEGER* serial = BN_to_ASN1_INTEGER(bn, nullptr);
  X509_set_serialNumber(cert, serial);
  ASN1_INTEGER_free(serial);
  BN_free(bn);
}

X509* new_certificate(const PrivateKey& subject_key, int validity_days) {
  if (validity_days < 1) throw PkiError(fmt::format("validity must be at least 1 day, not {}", validity_days));
  X509* cert = X509_new();
  X509_set_version(cert, 2);  // v3
  set_random_serial(cert);
  // Backdated a little so a host whose clock lags still accepts it.
  X509_gmtime_adj(X509_getm_notBefore(cert), -300);
  X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(validity_days) * 24 * 3600);
  X509_set_pubkey(cert, subject_key.get());
  return cert;
}

std::string name_entry(const X509_NAME* name, int nid) {
  int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) return {};
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     static_cast<std::size_t>(ASN1_STRING_length(data)));
}

std::time_t to_time(const ASN1_TIME* t) {
  struct tm tm{};
  ASN1_TIME_to_tm(t, &tm);
  return timegm(&tm);
}

std::string hex(const ASN1_OCTET_STRING* s) {
  if (s == nullptr) return {};
  std::string out;
  const unsigned char* data = ASN1_STRING_get0_data(s);
  for (int i = 0; i < ASN1_STRING_length(s); ++i) out += fmt::format("{:02x}", data[i]);
  return out;
}

}  // namespace

Certificate::Certificate(X509* cert) : cert_(cert, X509_free) {}

Certificate Certificate::from_pem(std::string_view pem, const std::string& what) {
  detail::Bio bio(pem);
  X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (cert == nullptr) {
    ERR_clear_error();
    throw PkiError(fmt::format("{} is not a readable PEM certificate", what));
  }
  return Certificate(cert);
}

std::string Certificate::to_pem() const {
  detail::Bio bio;
  check(PEM_write_bio_X509(bio.get(), cert_.get()), "writing a certificate");
  return bio.str();
}

std::string Certificate::common_name() const { return name_entry(X509_get_subject_name(cert_.get()), NID_commonName); }

std::string Certificate::issuer_common_name() const {
  return name_entry(X509_get_issuer_name(cert_.get()), NID_commonName);
}

std::vector<std::string> Certificate::organizations() const {
  std::vector<std::string> out;
  const X509_NAME* name = X509_get_subject_name(cert_.get());
  for (int i = X509_NAME_get_index_by_NID(name, NID_organizationName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, NID_organizationName, i)) {
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     static_cast<std::size_t>(ASN1_STRING_length(data)));
  }
  return out;
}

namespace {

template <typename Fn>
void for_each_san(X509* cert, Fn fn) {
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) fn(sk_GENERAL_NAME_value(names, i));
  GENERAL_NAMES_free(names);
}

}  // namespace

std::vector<std::string> Certificate::dns_names() const {
  std::vector<std::string> out;
  for_each_san(cert_.get(), [&](const GENERAL_NAME* name) {
    if (name->type == GEN_DNS) {
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName)),
                       static_cast<std::size_t>(ASN1_STRING_length(name->d.dNSName)));
    }
  });
  return out;
}

std::vector<std::string> Certificate::ip_addresses() const {
  std::vector<std::string> out;
  for_each_san(cert_.get(), [&](const GENERAL_NAME* name) {
    if (name->type != GEN_IPADD) return;
    const unsigned char* data = ASN1_STRING_get0_data(name->d.iPAddress);
    int len = ASN1_STRING_length(name->d.iPAddress);
    char text[INET6_ADDRSTRLEN] = {};
    if (len == 4) inet_ntop(AF_INET, data, text, sizeof text);
    if (len == 16) inet_ntop(AF_INET6, data, text, sizeof text);
    out.emplace_back(text);
  });
  return out;
}

std::vector<ExtendedUsage> Certificate::extended_usages() const {
  std::vector<ExtendedUsage> out;
  auto* usages = static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(cert_.get(), NID_ext_key_usage, nullptr, nullptr));
  if (usages == nullptr) return out;
  for (int i = 0; i < sk_ASN1_OBJECT_num(usages); ++i) {
    int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(usages, i));
    if (nid == NID_server_auth) out.push_back(ExtendedUsage::ServerAuth);
    if (nid == NID_client_auth) out.push_back(ExtendedUsage::ClientAuth);
  }
  EXTENDED_KEY_USAGE_free(usages);
  return out;
}

bool Certificate::is_ca() const { return X509_check_ca(cert_.get()) >= 1; }
std::time_t Certificate::not_before() const { return to_time(X509_get0_notBefore(cert_.get())); }
std::time_t Certificate::not_after() const { return to_time(X509_get0_notAfter(cert_.get())); }

std::string Certificate::serial_hex() const {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert_.get()), nullptr);
  char* text = BN_bn2hex(bn);
  std::string out = text;
  OPENSSL_free(text);
  BN_free(bn);
  return out;
}

std::string Certificate::subject_key_id_hex() const { return hex(X509_get0_subject_key_id(cert_.get())); }
std::string Certificate::authority_key_id_hex() const { return hex(X509_get0_authority_key_id(cert_.get())); }

bool Certificate::is_signed_by(const Certificate& issuer) const {
  if (X509_check_issued(issuer.get(), cert_.get()) != X509_V_OK) return false;
  EVP_PKEY* key = X509_get0_pubkey(issuer.get());
  bool ok = key != nullptr && X509_verify(cert_.get(), key) == 1;
  ERR_clear_error();
  return ok;
}

bool Certificate::matches(const PrivateKey& key) const {
  bool ok = X509_check_private_key(cert_.get(), key.get()) == 1;
  ERR_clear_error();
  return ok;
}

Certificate make_ca(const PrivateKey& key, const std::string& common_name, int validity_days) {
  Certificate ca(new_certificate(key, validity_days));
  X509* cert = ca.get();
  X509_NAME* name = X509_get_subject_name(cert);
  set_subject(name, Subject{common_name, {}});
  X509_set_issuer_name(cert, name);
  add_extension(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
  add_extension(cert, cert, NID_key_usage, "critical,digitalSignature,keyEncipherment,keyCertSign,cRLSign");
  add_extension(cert, cert, NID_subject_key_identifier, "hash");
  add_extension(cert, cert, NID_authority_key_identifier, "keyid:always");
  if (X509_sign(cert, key.get(), EVP_sha256()) <= 0)
    throw PkiError("signing CA " + common_name + ": " + detail::openssl_error());
  return ca;
}

Certificate issue_leaf(const LeafSpec& spec, const PrivateKey& subject_key, const Certificate& ca,
                       const PrivateKey& ca_key) {
  if (!ca.is_ca()) throw PkiError(fmt::format("{} is not a CA certificate", ca.common_name()));
  if (!ca.matches(ca_key)) throw PkiError(fmt::format("the key given for CA {} does not match it", ca.common_name()));
  Certificate leaf(new_certificate(subject_key, spec.validity_days));
  X509* cert = leaf.get();
  set_subject(X509_get_subject_name(cert), spec.subject);
  X509_set_issuer_name(cert, X509_get_subject_name(ca.get()));
  add_extension(cert, ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert, ca.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
  std::string eku;
  for (auto usage : spec.usages) {
    eku += (eku.empty() ? "" : ",") + std::string(usage == ExtendedUsage::ServerAuth ? "serverAuth" : "clientAuth");
  }
  if (!eku.empty()) add_extension(cert, ca.get(), NID_ext_key_usage, eku);
  std::string sans;
  for (const auto& dns : spec.dns_names) sans += (sans.empty() ? "" : ",") + ("DNS:" + dns);
  for (const auto& ip : spec.ip_addresses) {
    unsigned char buf[16];
    if (inet_pton(AF_INET, ip.c_str(), buf) != 1 && inet_pton(AF_INET6, ip.c_str(), buf) != 1) {
      throw PkiError(fmt::format("certificate {}: '{}' is not an IP address", spec.subject.common_name, ip));
    }
    sans += (sans.empty() ? "" : ",") + ("IP:" + ip);
  }
  if (!sans.empty()) add_extension(cert, ca.get(), NID_subject_alt_name, sans);
  add_extension(cert, ca.get(), NID_subject_key_identifier, "hash");
  add_extension(cert, ca.get(), NID_authority_key_identifier, "keyid:always");
  if (X509_sign(cert, ca_key.get(), EVP_sha256()) <= 0) {
    throw PkiError("signing " + spec.subject.common_name + ": " + detail::openssl_error());
  }
  return leaf;
}

}  // namespace k8sfs::pki
