// kubelet: its KubeletConfiguration file, the version-aware flags that
// remain on the command line, and its systemd unit. Pure rendering.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "k8sfs/components/layout.h"
#include "k8sfs/components/version.h"

namespace k8sfs::components {

struct KubeletOptions {
  KubeVersion version;
  std::string config_path = layout::kKubeletConfig;
  std::string runtime_endpoint = "unix:///run/containerd/containerd.sock";
  CgroupDriver cgroup_driver = CgroupDriver::Systemd;
  std::string static_pod_path = layout::kManifestsDir;
  // With an apiserver: kubeconfig, the CA that signs client certificates,
  // the serving certificate. All empty: standalone kubelet (static pods only).
  std::string kubeconfig;
  std::string client_ca_file;
  std::string tls_cert_file;
  std::string tls_private_key_file;
  std::string node_ip;  // --node-ip when set
  std::vector<std::string> cluster_dns;
  std::string cluster_domain = "cluster.local";
  std::string pause_image;  // only passed as a flag before 1.29 (see kubelet_flags)
  bool fail_swap_on = true;
  std::optional<bool> fail_cgroup_v1;  // written (>= 1.31) only when set: a deliberate choice
  // Host profile for hosts that are containers (the lab): a cgroup subtree
  // of its own, no evictions, no image garbage collection.
  std::string cgroup_root;
  bool container_host = false;
};

std::string render_kubelet_config(const KubeletOptions& options);
std::vector<std::string> kubelet_flags(const KubeletOptions& options);
// What kubelet reads at start (binary, config, kubeconfig, CA, serving
// certificate): when one is newer than the running kubelet, it restarts.
std::vector<std::string> kubelet_reads(const KubeletOptions& options,
                                       const std::string& binary = layout::binary("kubelet"));
std::string render_kubelet_unit(const KubeletOptions& options, const std::string& runtime_unit,
                                const std::string& binary = layout::binary("kubelet"));

}  // namespace k8sfs::components
