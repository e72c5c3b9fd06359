// Pod networking without an add-on, as the walkthrough does it: a CNI
// bridge with a static pod subnet per node and routes between nodes; and
// kube-proxy (iptables mode) for Services. Pure rendering.
#pragma once

#include <string>
#include <vector>

#include "k8sfs/components/layout.h"
#include "k8sfs/components/version.h"

namespace k8sfs::components {

// The i-th /24 of a pod range ("10.200.0.0/16", 1 -> "10.200.1.0/24").
std::string node_pod_subnet(const std::string& pod_cidr, int index);

// /etc/cni/net.d/10-bridge.conflist (bridge, then portmap for hostPorts);
// cni_version: the spec version the runtime's CNI library reads (CRI-O
// before 1.23 stops at 0.4.0).
std::string render_cni_bridge(const std::string& pod_subnet, const std::string& cni_version = "1.0.0");
std::string render_cni_loopback();  // /etc/cni/net.d/99-loopback.conf

struct KubeProxyOptions {
  KubeVersion version;
  std::string kubeconfig = layout::kKubeProxyConf;
  std::string config_path = layout::kKubeProxyConfig;
  std::string pod_cidr = "10.200.0.0/16";
  std::string node_name;
  // Hosts that are containers: conntrack limits are the machine's, and the
  // OOM score cannot be lowered, so leave both alone.
  bool container_host = false;
};
std::string render_kube_proxy_config(const KubeProxyOptions& options);
std::vector<std::string> kube_proxy_reads(const KubeProxyOptions& options,
                                          const std::string& binary = layout::binary("kube-proxy"));
std::string render_kube_proxy_unit(const KubeProxyOptions& options,
                                   const std::string& binary = layout::binary("kube-proxy"));

}  // namespace k8sfs::components
