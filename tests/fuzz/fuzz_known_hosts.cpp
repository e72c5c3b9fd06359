// known_hosts lines (a file the user or a tool wrote): host-field matching
// on each line, and the whole file read for a host.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "k8sfs/ssh/known_hosts.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto space = text.find(' ');
  (void)k8sfs::ssh::known_hosts_field_matches(text.substr(0, space), "192.168.50.10");
  static const std::string path = "/dev/shm/k8sfs-fuzz-known-hosts-" + std::to_string(getpid());
  if (FILE* f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
    (void)k8sfs::ssh::known_keys_for(path, "node-1", 22);
    (void)k8sfs::ssh::known_keys_for(path, "192.168.50.10", 2222);
  }
  return 0;
}
