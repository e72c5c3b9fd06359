// What hosts print and k8sfs parses: containerd's and CRI-O's configs and
// info (the cgroup driver), versions, os-release words.
#include <cstddef>
#include <cstdint>
#include <string>

#include "k8sfs/components/runtime.h"
#include "k8sfs/components/version.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  namespace c = k8sfs::components;
  (void)c::containerd_cgroup_driver_from_info(text);
  (void)c::containerd_cgroup_driver_from_config(text);
  (void)c::crio_cgroup_driver_from_config(text);
  try {  // both refuse text they do not know with RenderError, by design
    (void)c::parse_os_family(text);
  } catch (const c::RenderError&) {
  }
  try {
    (void)c::KubeVersion::parse(text);
  } catch (const c::RenderError&) {
  }
  return 0;
}
