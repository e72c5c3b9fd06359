// keepalived holding the control-plane endpoint: one virtual IP that the
// control-plane hosts pass between them by VRRP (unicast to each other, so
// it works on networks without multicast), held only by a host whose own
// kube-apiserver answers. Every client off the control plane reaches the
// API at that address. Pure rendering.
#pragma once

#include <string>
#include <vector>
#include "k8sfs/components/layout.h"

namespace k8sfs::components {

struct KeepalivedOptions {
  std::string virtual_ip;  // the endpoint, e.g. 192.168.50.9
  int prefix_length = 24;  // of the network the hosts share
  std::string interface = "eth0";
  std::string self;                // this host's address (the unicast source)
  std::vector<std::string> peers;  // the other control-plane addresses
  int priority = 100;              // the first control plane gets the highest
  int virtual_router_id = 51;      // 1-255, one per endpoint on a network
  std::string health_check = layout::kApiserverReady;
};

// /etc/keepalived/keepalived.conf. Throws RenderError for an address or id
// keepalived would misread.
std::string render_keepalived_config(const KeepalivedOptions& options);
// A VRRP router id for an endpoint name (1-255, stable).
int virtual_router_id_for(const std::string& name);

}  // namespace k8sfs::components
