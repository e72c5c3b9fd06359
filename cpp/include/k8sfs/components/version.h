// A Kubernetes version, and the minors k8sfs renders for.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace k8sfs::components {

class RenderError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

constexpr int kOldestMinor = 21;  // the walkthrough's v1.21.6
constexpr int kNewestMinor = 37;

struct KubeVersion {
  int major = 1;
  int minor = 34;
  int patch = 0;

  // "v1.34.4" (the v is optional); throws RenderError for other text or an
  // unsupported minor.
  static KubeVersion parse(std::string_view text);
  bool at_least(int wanted_minor) const { return minor >= wanted_minor; }
  std::string str() const;
};

enum class CgroupDriver { Systemd, Cgroupfs };
std::string to_string(CgroupDriver driver);
CgroupDriver parse_cgroup_driver(std::string_view text);

}  // namespace k8sfs::components
