// keepalived rendering for the control-plane endpoint.
#include "k8sfs/components/keepalived.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include "k8sfs/components/version.h"

namespace k8sfs::components {

namespace {
void require_ipv4(const std::string& address, const char* what) {
  in_addr parsed{};
  if (inet_pton(AF_INET, address.c_str(), &parsed) != 1) {
    throw RenderError(fmt::format("keepalived: {} '{}' is not an IPv4 address", what, address));
  }
}
}  // namespace

int virtual_router_id_for(const std::string& name) {
  unsigned hash = 2166136261u;  // FNV-1a: small, stable across builds
  for (unsigned char c : name) hash = (hash ^ c) * 16777619u;
  return static_cast<int>(hash % 255) + 1;
}

std::string render_keepalived_config(const KeepalivedOptions& o) {
  require_ipv4(o.virtual_ip, "virtual IP");
  require_ipv4(o.self, "host address");
  for (const auto& peer : o.peers) require_ipv4(peer, "peer address");
  if (o.virtual_router_id < 1 || o.virtual_router_id > 255) throw RenderError("keepalived: router id out of 1-255");
  if (o.interface.find_first_of(" \t\n{}\"") != std::string::npos) throw RenderError("keepalived: bad interface");
  std::string peers;
  for (const auto& peer : o.peers) peers += fmt::format("    {}\n", peer);
  return fmt::format(
      "# Written by k8sfs: the control-plane endpoint {vip} moves to a control-plane\n"
      "# host whose kube-apiserver answers.\n"
      "global_defs {{\n"
      "  script_user root\n"
      "  enable_script_security\n"
      "}}\n"
      "\n"
      "vrrp_script apiserver {{\n"
      "  script \"{check}\"\n"
      "  interval 1\n"
      "  timeout 3\n"
      "  fall 2\n"
      "  rise 2\n"
      "}}\n"
      "\n"
      "vrrp_instance control_plane {{\n"
      "  state BACKUP\n"
      "  nopreempt\n"
      "  interface {iface}\n"
      "  virtual_router_id {id}\n"
      "  priority {priority}\n"
      "  advert_int 1\n"
      "  unicast_src_ip {self}\n"
      "  unicast_peer {{\n"
      "{peers}"
      "  }}\n"
      "  virtual_ipaddress {{\n"
      "    {vip}/{prefix} dev {iface}\n"
      "  }}\n"
      "  track_script {{\n"
      "    apiserver\n"
      "  }}\n"
      "}}\n",
      fmt::arg("vip", o.virtual_ip), fmt::arg("check", o.health_check), fmt::arg("iface", o.interface),
      fmt::arg("id", o.virtual_router_id), fmt::arg("priority", o.priority), fmt::arg("self", o.self),
      fmt::arg("peers", peers), fmt::arg("prefix", o.prefix_length));
}

}  // namespace k8sfs::components
