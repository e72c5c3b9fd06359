// Runtime rendering and the cgroup-driver agreement check.
#include "k8sfs/components/runtime.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <regex>
#include <sstream>

namespace k8sfs::components {

std::string render_containerd_config(const ContainerdOptions& o) {
  const bool systemd = o.cgroup_driver == CgroupDriver::Systemd;
  if (o.major_version >= 2) {
    std::string out = "# Written by k8sfs (containerd 2.x, config version 3).\nversion = 3\n\n";
    if (!o.sandbox_image.empty()) {
      out +=
          fmt::format("[plugins.'io.containerd.cri.v1.images'.pinned_images]\n  sandbox = '{}'\n\n", o.sandbox_image);
    }
    out += fmt::format("[plugins.'io.containerd.cri.v1.images'.registry]\n  config_path = '{}'\n\n",
                       o.registry_config_path);
    out += "[plugins.'io.containerd.cri.v1.runtime']\n";
    if (o.container_host) out += "  restrict_oom_score_adj = true\n  tolerate_missing_hugetlb_controller = true\n";
    out +=
        "\n[plugins.'io.containerd.cri.v1.runtime'.containerd]\n  default_runtime_name = 'runc'\n\n"
        "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]\n"
        "  runtime_type = 'io.containerd.runc.v2'\n\n"
        "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n";
    out += fmt::format("  SystemdCgroup = {}\n\n", systemd ? "true" : "false");
    // bin_dirs since 2.1; 2.0 reads only bin_dir, which 2.1 deprecated and
    // later releases ignore (2.4 then looks in /opt/cni/bin): both, same dir.
    out += fmt::format(
        "[plugins.'io.containerd.cri.v1.runtime'.cni]\n  bin_dirs = ['{0}']\n  bin_dir = '{0}'\n  conf_dir = '{1}'\n",
        o.cni_bin_dir, o.cni_conf_dir);
    return out;
  }
  const std::string cri = "[plugins.\"io.containerd.grpc.v1.cri\"";
  std::string out = "# Written by k8sfs (containerd 1.x, config version 2).\nversion = 2\n\n";
  out += cri + "]\n";
  if (!o.sandbox_image.empty()) out += fmt::format("  sandbox_image = \"{}\"\n", o.sandbox_image);
  // In a container the runtime cannot lower oom_score_adj (no CAP_SYS_RESOURCE):
  // runc would fail with "can't get final child's PID from pipe: EOF".
  if (o.container_host) out += "  restrict_oom_score_adj = true\n  tolerate_missing_hugetlb_controller = true\n";
  out += "\n" + cri + ".containerd]\n  default_runtime_name = \"runc\"\n  snapshotter = \"overlayfs\"\n\n";
  out += cri + ".containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n\n";
  out += cri + ".containerd.runtimes.runc.options]\n";
  out += fmt::format("  SystemdCgroup = {}\n\n", systemd ? "true" : "false");
  out += cri + fmt::format(".cni]\n  bin_dir = \"{}\"\n  conf_dir = \"{}\"\n", o.cni_bin_dir, o.cni_conf_dir);
  out += "\n" + cri + fmt::format(".registry]\n  config_path = \"{}\"\n", o.registry_config_path);
  return out;
}

std::string render_crio_config(const CrioOptions& o) {
  if (o.runtime_path.find_first_of("\"\\\n") != std::string::npos) {
    throw RenderError("CRI-O runtime path '" + o.runtime_path + "' cannot be written into crio.conf");
  }
  std::string runtime;
  if (!o.runtime_path.empty()) {
    runtime = fmt::format(
        "default_runtime = \"k8sfs\"\n"
        "\n"
        "[crio.runtime.runtimes.k8sfs]\n"
        "runtime_path = \"{}\"\n"
        "runtime_type = \"oci\"\n"
        "runtime_root = \"/run/k8sfs-oci\"\n",
        o.runtime_path);
  }
  return fmt::format(
      "# Written by k8sfs.\n"
      "[crio.runtime]\n"
      "cgroup_manager = \"{}\"\n"
      "conmon_cgroup = \"pod\"\n"
      "{}"
      "\n"
      "[crio.image]\n"
      "pause_image = \"{}\"\n"
      "{}"
      "\n"
      "[crio.network]\n"
      "plugin_dirs = [\"{}\"]\n",
      to_string(o.cgroup_driver), runtime, o.pause_image,
      o.global_auth_file.empty() ? "" : fmt::format("global_auth_file = \"{}\"\n", o.global_auth_file),
      o.cni_plugin_dir);
}

OsFamily parse_os_family(const std::string& text) {
  std::istringstream words(text);
  std::string w;
  while (words >> w) {
    if (w == "debian" || w == "ubuntu") return OsFamily::Debian;
    if (w == "rhel" || w == "fedora" || w == "centos" || w == "rocky" || w == "almalinux") return OsFamily::RedHat;
  }
  throw RenderError(
      fmt::format("unsupported OS family '{}': k8sfs knows Debian/Ubuntu (apt) and RHEL/Fedora (dnf)", text));
}

PackageRepository crio_repository(OsFamily family, const KubeVersion& version) {
  const std::string base = fmt::format("https://pkgs.k8s.io/addons:/cri-o:/stable:/v1.{}", version.minor);
  PackageRepository repo;
  if (family == OsFamily::Debian) {
    // apt reads an ASCII-armoured key directly when the file ends in .asc.
    const std::string key = "/etc/apt/keyrings/cri-o-apt-keyring.asc";
    repo.path = "/etc/apt/sources.list.d/cri-o.list";
    repo.content = fmt::format("deb [signed-by={}] {}/deb/ /\n", key, base);
    repo.setup = {{"mkdir", "-p", "-m", "0755", "/etc/apt/keyrings"},
                  {"curl", "-fsSL", "-o", key, base + "/deb/Release.key"}};
    repo.install = {{"apt-get", "update"}, {"apt-get", "install", "-y", "cri-o"}};
  } else {
    repo.path = "/etc/yum.repos.d/cri-o.repo";
    repo.content = fmt::format(
        "[cri-o]\nname=CRI-O\nbaseurl={0}/rpm/\nenabled=1\ngpgcheck=1\ngpgkey={0}/rpm/repodata/repomd.xml.key\n", base);
    repo.install = {{"dnf", "install", "-y", "container-selinux"}, {"dnf", "install", "-y", "cri-o"}};
  }
  return repo;
}

std::string render_crictl_config(const std::string& endpoint, int timeout_seconds) {
  return fmt::format("# Written by k8sfs.\nruntime-endpoint: {0}\nimage-endpoint: {0}\ntimeout: {1}\n", endpoint,
                     timeout_seconds);
}

std::string runtime_socket(const std::string& runtime) {
  if (runtime == "containerd") return "unix:///run/containerd/containerd.sock";
  if (runtime == "crio" || runtime == "cri-o") return "unix:///var/run/crio/crio.sock";
  throw RenderError(fmt::format("runtime must be containerd or crio, not '{}'", runtime));
}

std::optional<CgroupDriver> containerd_cgroup_driver_from_info(const std::string& crictl_info_json) {
  auto info = nlohmann::json::parse(crictl_info_json, nullptr, false);
  if (info.is_discarded()) return std::nullopt;
  // containerd 2.x reports the driver through CRI's RuntimeConfig, which
  // crictl info shows; 1.x only shows its configuration.
  if (auto driver = info.find("cgroupDriver"); driver != info.end() && driver->is_string()) {
    return *driver == "SYSTEMD" || *driver == "systemd" ? CgroupDriver::Systemd : CgroupDriver::Cgroupfs;
  }
  const auto* containerd =
      info.contains("config") && info["config"].contains("containerd") ? &info["config"]["containerd"] : nullptr;
  if (containerd == nullptr) return std::nullopt;
  std::string runtime = containerd->value("defaultRuntimeName", std::string("runc"));
  auto runtimes = containerd->find("runtimes");
  if (runtimes == containerd->end() || !runtimes->contains(runtime)) return std::nullopt;
  const auto& options = (*runtimes)[runtime].value("options", nlohmann::json::object());
  if (!options.is_object()) return CgroupDriver::Cgroupfs;
  return options.value("SystemdCgroup", false) ? CgroupDriver::Systemd : CgroupDriver::Cgroupfs;
}

std::optional<CgroupDriver> crio_cgroup_driver_from_config(const std::string& crio_config_toml) {
  static const std::regex line(R"re(^\s*cgroup_manager\s*=\s*"(systemd|cgroupfs)")re", std::regex::multiline);
  std::smatch m;
  if (!std::regex_search(crio_config_toml, m, line)) return std::nullopt;
  return parse_cgroup_driver(m[1].str());
}

std::optional<CgroupDriver> containerd_cgroup_driver_from_config(const std::string& config_dump_toml) {
  std::istringstream in(config_dump_toml);
  std::string line;
  bool in_runc_options = false, seen_section = false;
  static const std::regex value(R"re(^\s*SystemdCgroup\s*=\s*(true|false))re");
  while (std::getline(in, line)) {
    auto first = line.find_first_not_of(" \t");
    if (first != std::string::npos && line[first] == '[') {
      in_runc_options = line.find(".containerd.runtimes.runc.options]") != std::string::npos;
      seen_section = seen_section || in_runc_options;
      continue;
    }
    std::smatch m;
    if (in_runc_options && std::regex_search(line, m, value)) {
      return m[1] == "true" ? CgroupDriver::Systemd : CgroupDriver::Cgroupfs;
    }
  }
  // runc's options without SystemdCgroup mean its default, cgroupfs.
  if (seen_section) return CgroupDriver::Cgroupfs;
  return std::nullopt;
}

std::string cgroup_driver_mismatch(const std::string& runtime, CgroupDriver runtime_driver,
                                   CgroupDriver kubelet_driver) {
  if (runtime_driver == kubelet_driver) return {};
  const std::string runtime_setting = runtime == "containerd" ? "SystemdCgroup in " + layout::kContainerdConfig
                                                              : "cgroup_manager in " + layout::kCrioConfig;
  // The spec's keys, not only the files: k8sfs renders both files from the spec.
  return fmt::format(
      "cgroup driver mismatch: {} uses {} but kubelet is configured with cgroupDriver: {}. Pods would fail to "
      "start (the walkthrough's \"misconfiguration: kubelet cgroup driver\" error). Fix: set cgroupDriver: {} in "
      "the kubelet configuration (spec: kubelet.cgroup_driver: {}, or leave it unset and the kubelet follows the "
      "runtime), or make {} use {} (spec: runtime.cgroup_driver: {}; it is {})",
      runtime, to_string(runtime_driver), to_string(kubelet_driver), to_string(runtime_driver),
      to_string(runtime_driver), runtime, to_string(kubelet_driver), to_string(kubelet_driver), runtime_setting);
}

}  // namespace k8sfs::components
