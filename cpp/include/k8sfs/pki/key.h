// Private keys for the cluster's PKI, generated and read with OpenSSL 3 in
// process. A PrivateKey never prints itself: to_pem() is the only way out,
// and callers write it to 0600 files.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

typedef struct evp_pkey_st EVP_PKEY;

namespace k8sfs::pki {

class PkiError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ECDSA P-256 is the default (small, fast, accepted by every Kubernetes
// component); RSA sizes for environments that require RSA.
enum class KeyType { EcdsaP256, Rsa2048, Rsa3072, Rsa4096 };

KeyType parse_key_type(std::string_view text);  // "ecdsa-p256", "rsa-2048", ...
std::string to_string(KeyType type);

class PrivateKey {
 public:
  static PrivateKey generate(KeyType type);
  // Reads a PEM private key (PKCS#8, traditional RSA or EC). `what` names
  // the key in errors (a path, never the content).
  static PrivateKey from_pem(std::string_view pem, const std::string& what);

  std::string to_pem() const;      // PKCS#8, unencrypted: a secret
  std::string public_pem() const;  // SubjectPublicKeyInfo
  KeyType type() const;
  EVP_PKEY* get() const { return key_.get(); }

 private:
  explicit PrivateKey(EVP_PKEY* key);
  std::shared_ptr<EVP_PKEY> key_;
};

}  // namespace k8sfs::pki
