// Container runtimes: containerd's config.toml (1.x and 2.x), CRI-O's
// drop-in and package repository, crictl's config, and the cgroup-driver
// agreement check between runtime and kubelet. Pure rendering.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "k8sfs/components/layout.h"
#include "k8sfs/components/version.h"

namespace k8sfs::components {

struct ContainerdOptions {
  int major_version = 1;  // 1.x writes config version 2, 2.x version 3
  CgroupDriver cgroup_driver = CgroupDriver::Systemd;
  std::string sandbox_image;
  std::string cni_bin_dir = layout::kCniBinDir;
  std::string cni_conf_dir = layout::kCniConfDir;
  // Hosts that are containers (the lab): cannot lower oom_score_adj, may
  // lack the hugetlb controller.
  bool container_host = false;
  // Where each registry's hosts.toml is (mirrors, logins, CAs: registries.h).
  std::string registry_config_path = "/etc/containerd/certs.d";
};
std::string render_containerd_config(const ContainerdOptions& options);

struct CrioOptions {
  CgroupDriver cgroup_driver = CgroupDriver::Systemd;
  std::string pause_image;
  std::string cni_plugin_dir = layout::kCniBinDir;
  // The OCI runtime CRI-O runs containers with; empty: its default (crun
  // from PATH). The lab points it at a wrapper (see node.py).
  std::string runtime_path;
  std::string global_auth_file;  // registry logins (registries.h); empty: none
};
std::string render_crio_config(const CrioOptions& options);  // /etc/crio/crio.conf.d/10-k8sfs.conf

enum class OsFamily { Debian, RedHat };
OsFamily parse_os_family(const std::string& text);  // from /etc/os-release ID / ID_LIKE words

// Where CRI-O comes from for a Kubernetes minor: pkgs.k8s.io's addons
// repository (minor matched), the file to write, and the commands to run.
struct PackageRepository {
  std::string path;  // /etc/apt/sources.list.d/cri-o.list or /etc/yum.repos.d/cri-o.repo
  std::string content;
  std::vector<std::vector<std::string>> setup;    // argv lists, run before installing
  std::vector<std::vector<std::string>> install;  // argv lists
};
PackageRepository crio_repository(OsFamily family, const KubeVersion& version);

std::string render_crictl_config(const std::string& endpoint, int timeout_seconds = 10);

std::string runtime_socket(const std::string& runtime);  // containerd | crio -> unix://...

// The runtime's cgroup driver as it reports it: `crictl info` JSON for
// containerd, `crio config` TOML for CRI-O. Nothing when it does not say.
std::optional<CgroupDriver> containerd_cgroup_driver_from_info(const std::string& crictl_info_json);
std::optional<CgroupDriver> crio_cgroup_driver_from_config(const std::string& crio_config_toml);
// From `containerd config dump` (1.x and 2.x): the runc options' SystemdCgroup.
std::optional<CgroupDriver> containerd_cgroup_driver_from_config(const std::string& config_dump_toml);

// Empty when they agree; otherwise what is wrong and how to fix it.
std::string cgroup_driver_mismatch(const std::string& runtime, CgroupDriver runtime_driver,
                                   CgroupDriver kubelet_driver);

}  // namespace k8sfs::components
