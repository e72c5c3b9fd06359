// PEM a user brings (pki import) or finds on disk: certificates and keys.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

#include "k8sfs/pki/certificate.h"
#include "k8sfs/pki/key.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    (void)k8sfs::pki::Certificate::from_pem(text, "fuzz");
  } catch (const std::runtime_error&) {
  }
  try {
    (void)k8sfs::pki::PrivateKey::from_pem(text, "fuzz");
  } catch (const std::runtime_error&) {
  }
  return 0;
}
