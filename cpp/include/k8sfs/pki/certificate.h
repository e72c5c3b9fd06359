// X.509 certificates for the cluster: self-signed CAs and leaves signed by
// them, with the subject, SANs and usages Kubernetes components check.
#pragma once

#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "k8sfs/pki/key.h"

typedef struct x509_st X509;

namespace k8sfs::pki {

enum class ExtendedUsage { ServerAuth, ClientAuth };

struct Subject {
  std::string common_name;
  std::vector<std::string> organizations;  // RBAC groups for client certs
};

// What a leaf certificate must say.
struct LeafSpec {
  Subject subject;
  std::vector<ExtendedUsage> usages;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;  // IPv4 or IPv6 text
  int validity_days = 365;
};

class Certificate {
 public:
  static Certificate from_pem(std::string_view pem, const std::string& what);
  std::string to_pem() const;

  std::string common_name() const;
  std::vector<std::string> organizations() const;
  std::string issuer_common_name() const;
  std::vector<std::string> dns_names() const;
  std::vector<std::string> ip_addresses() const;
  std::vector<ExtendedUsage> extended_usages() const;
  bool is_ca() const;
  std::time_t not_before() const;
  std::time_t not_after() const;
  std::string serial_hex() const;
  std::string subject_key_id_hex() const;
  std::string authority_key_id_hex() const;

  // True when `issuer`'s key signed this certificate and the names chain.
  bool is_signed_by(const Certificate& issuer) const;
  // True when `key` is the private half of this certificate's public key.
  bool matches(const PrivateKey& key) const;

  X509* get() const { return cert_.get(); }

 private:
  explicit Certificate(X509* cert);
  friend Certificate make_ca(const PrivateKey&, const std::string&, int);
  friend Certificate issue_leaf(const LeafSpec&, const PrivateKey&, const Certificate&, const PrivateKey&);
  std::shared_ptr<X509> cert_;
};

// A self-signed CA: basicConstraints CA:TRUE (critical), keyUsage
// keyCertSign, cRLSign, digitalSignature (critical), SKI = AKI.
Certificate make_ca(const PrivateKey& key, const std::string& common_name, int validity_days);

// A leaf for `subject_key` signed by `ca`/`ca_key`: random 128-bit serial,
// basicConstraints CA:FALSE, keyUsage digitalSignature + keyEncipherment
// (critical), the extended usages, SANs, SKI and AKI.
Certificate issue_leaf(const LeafSpec& spec, const PrivateKey& subject_key, const Certificate& ca,
                       const PrivateKey& ca_key);

}  // namespace k8sfs::pki
