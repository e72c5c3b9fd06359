// ~/.ssh/config text a user controls: parsed, then resolved for a host.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "k8sfs/ssh/ssh_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto config = k8sfs::ssh::SshConfig::parse(text, "fuzz", "/nonexistent-home", "/nonexistent-include");
    (void)config.resolve("node-1");
    (void)config.resolve("192.168.50.10");
  } catch (const k8sfs::ssh::ConfigError&) {
  }
  return 0;
}
