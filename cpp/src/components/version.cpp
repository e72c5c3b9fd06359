#include "k8sfs/components/version.h"

#include <charconv>

#include <fmt/format.h>

namespace k8sfs::components {

KubeVersion KubeVersion::parse(std::string_view text) {
  std::string_view rest = text;
  if (!rest.empty() && rest.front() == 'v') rest.remove_prefix(1);
  KubeVersion v;
  int* parts[] = {&v.major, &v.minor, &v.patch};
  for (int i = 0; i < 3; ++i) {
    auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), *parts[i]);
    if (ec != std::errc() || ptr == rest.data()) {
      throw RenderError(fmt::format("'{}' is not a Kubernetes version like v1.34.4", text));
    }
    rest.remove_prefix(static_cast<std::size_t>(ptr - rest.data()));
    if (i < 2) {
      if (rest.empty() || rest.front() != '.')
        throw RenderError(fmt::format("'{}' is not a Kubernetes version like v1.34.4", text));
      rest.remove_prefix(1);
    }
  }
  if (!rest.empty()) throw RenderError(fmt::format("'{}' is not a Kubernetes version like v1.34.4", text));
  if (v.major != 1 || v.minor < kOldestMinor || v.minor > kNewestMinor) {
    throw RenderError(
        fmt::format("Kubernetes {} is not supported: k8sfs renders 1.{} to 1.{}", text, kOldestMinor, kNewestMinor));
  }
  return v;
}

std::string KubeVersion::str() const { return fmt::format("v{}.{}.{}", major, minor, patch); }

std::string to_string(CgroupDriver driver) { return driver == CgroupDriver::Systemd ? "systemd" : "cgroupfs"; }

CgroupDriver parse_cgroup_driver(std::string_view text) {
  if (text == "systemd") return CgroupDriver::Systemd;
  if (text == "cgroupfs") return CgroupDriver::Cgroupfs;
  throw RenderError(fmt::format("cgroup driver must be systemd or cgroupfs, not '{}'", text));
}

}  // namespace k8sfs::components
