// kubeconfigs read back from the PKI directory, and base64 inside them.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "k8sfs/pki/kubeconfig.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = k8sfs::pki::parse_kubeconfig(text);
  if (parsed) (void)k8sfs::pki::render_kubeconfig(*parsed);
  (void)k8sfs::pki::base64_decode(text);
  return 0;
}
