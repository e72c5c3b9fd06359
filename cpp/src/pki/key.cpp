// Key generation and PEM I/O with OpenSSL 3's EVP API.
#include "k8sfs/pki/key.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fmt/format.h>

#include "openssl_util.h"

namespace k8sfs::pki {

KeyType parse_key_type(std::string_view text) {
  if (text == "ecdsa-p256" || text == "ecdsa") return KeyType::EcdsaP256;
  if (text == "rsa-2048" || text == "rsa") return KeyType::Rsa2048;
  if (text == "rsa-3072") return KeyType::Rsa3072;
  if (text == "rsa-4096") return KeyType::Rsa4096;
  throw PkiError(fmt::format("key type must be ecdsa-p256, rsa-2048, rsa-3072 or rsa-4096, not '{}'", text));
}

std::string to_string(KeyType type) {
  switch (type) {
    case KeyType::EcdsaP256:
      return "ecdsa-p256";
    case KeyType::Rsa2048:
      return "rsa-2048";
    case KeyType::Rsa3072:
      return "rsa-3072";
    case KeyType::Rsa4096:
      return "rsa-4096";
  }
  return "ecdsa-p256";
}

PrivateKey::PrivateKey(EVP_PKEY* key) : key_(key, EVP_PKEY_free) {}

PrivateKey PrivateKey::generate(KeyType type) {
  EVP_PKEY* key = nullptr;
  switch (type) {
    case KeyType::EcdsaP256:
      key = EVP_EC_gen("P-256");
      break;
    case KeyType::Rsa2048:
      key = EVP_RSA_gen(2048);
      break;
    case KeyType::Rsa3072:
      key = EVP_RSA_gen(3072);
      break;
    case KeyType::Rsa4096:
      key = EVP_RSA_gen(4096);
      break;
  }
  if (key == nullptr) throw PkiError("generating a " + to_string(type) + " key failed: " + detail::openssl_error());
  return PrivateKey(key);
}

PrivateKey PrivateKey::from_pem(std::string_view pem, const std::string& what) {
  detail::Bio bio(pem);
  // No passphrase callback: an encrypted key is an error, never a prompt.
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr);
  if (key == nullptr) {
    ERR_clear_error();
    throw PkiError(fmt::format("{} is not a readable, unencrypted PEM private key", what));
  }
  return PrivateKey(key);
}

std::string PrivateKey::to_pem() const {
  detail::Bio bio;
  if (PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    throw PkiError("writing a private key failed: " + detail::openssl_error());
  }
  return bio.str();
}

std::string PrivateKey::public_pem() const {
  detail::Bio bio;
  if (PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) {
    throw PkiError("writing a public key failed: " + detail::openssl_error());
  }
  return bio.str();
}

KeyType PrivateKey::type() const {
  if (EVP_PKEY_is_a(key_.get(), "EC")) return KeyType::EcdsaP256;
  switch (EVP_PKEY_get_bits(key_.get())) {
    case 3072:
      return KeyType::Rsa3072;
    case 4096:
      return KeyType::Rsa4096;
    default:
      return KeyType::Rsa2048;
  }
}

}  // namespace k8sfs::pki
