// CNI bridge configuration and kube-proxy rendering.
#include "k8sfs/components/node_network.h"

#include <arpa/inet.h>

#include <fmt/format.h>

#include "unit_file.h"

namespace k8sfs::components {

std::string node_pod_subnet(const std::string& pod_cidr, int index) {
  auto slash = pod_cidr.find('/');
  in_addr addr{};
  int prefix = slash == std::string::npos ? -1 : std::atoi(pod_cidr.c_str() + slash + 1);
  if (slash == std::string::npos || inet_pton(AF_INET, pod_cidr.substr(0, slash).c_str(), &addr) != 1 || prefix < 8 ||
      prefix > 23) {
    throw RenderError(
        fmt::format("pod range '{}' must be an IPv4 range of /8 to /23 (each node gets a /24)", pod_cidr));
  }
  uint32_t base = ntohl(addr.s_addr) & (0xffffffffu << (32 - prefix));
  uint32_t count = 1u << (24 - prefix);
  if (index < 0 || static_cast<uint32_t>(index) >= count) {
    throw RenderError(fmt::format("pod range '{}' has room for {} nodes, not {}", pod_cidr, count, index + 1));
  }
  in_addr out{htonl(base + (static_cast<uint32_t>(index) << 8))};
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &out, text, sizeof text);
  return fmt::format("{}/24", text);
}

std::string render_cni_bridge(const std::string& pod_subnet, const std::string& cni_version) {
  // A list: the bridge, then portmap, which makes a pod's hostPort reach it
  // (the runtime passes the ports to plugins that declare portMappings).
  // No ipMasq: pods reach other nodes' pods by routes, and nothing leaves
  // the cluster's hosts through NAT.
  return fmt::format(
      "{{\n"
      "  \"cniVersion\": \"{}\",\n"
      "  \"name\": \"bridge\",\n"
      "  \"plugins\": [\n"
      "    {{\n"
      "      \"type\": \"bridge\",\n"
      "      \"bridge\": \"cni0\",\n"
      "      \"isGateway\": true,\n"
      "      \"ipMasq\": false,\n"
      "      \"ipam\": {{\n"
      "        \"type\": \"host-local\",\n"
      "        \"ranges\": [[{{\"subnet\": \"{}\"}}]],\n"
      "        \"routes\": [{{\"dst\": \"0.0.0.0/0\"}}]\n"
      "      }}\n"
      "    }},\n"
      "    {{\"type\": \"portmap\", \"capabilities\": {{\"portMappings\": true}}}}\n"
      "  ]\n"
      "}}\n",
      cni_version, pod_subnet);
}

std::string render_cni_loopback() {
  return "{\n  \"cniVersion\": \"1.1.0\",\n  \"name\": \"lo\",\n  \"type\": \"loopback\"\n}\n";
}

std::string render_kube_proxy_config(const KubeProxyOptions& o) {
  std::string y = fmt::format(
      "# Written by k8sfs.\n"
      "apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
      "kind: KubeProxyConfiguration\n"
      "clientConnection:\n"
      "  kubeconfig: {}\n"
      "clusterCIDR: {}\n"
      "hostnameOverride: {}\n"
      "mode: iptables\n",
      o.kubeconfig, o.pod_cidr, o.node_name);
  if (o.container_host) {
    // kind does the same for nodes that are containers.
    y += "conntrack:\n"
         "  maxPerCore: 0\n"
         "  tcpCloseWaitTimeout: 0s\n"
         "  tcpEstablishedTimeout: 0s\n"
         "oomScoreAdj: 0\n";
  }
  return y;
}

std::vector<std::string> kube_proxy_reads(const KubeProxyOptions& o, const std::string& binary) {
  return {binary, o.config_path, o.kubeconfig};
}

std::string render_kube_proxy_unit(const KubeProxyOptions& o, const std::string& binary) {
  return render_component_unit("Kubernetes network proxy", o.version.str(), "kube-proxy", binary,
                               {"--config=" + o.config_path, "--v=2"});
}

}  // namespace k8sfs::components
