// Kubeconfig files with embedded certificates (what `kubectl config
// set-credentials --embed-certs` writes), and reading back the fields k8sfs
// itself wrote, to decide whether one is still current.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace k8sfs::pki {

struct KubeconfigContent {
  std::string cluster_name;  // e.g. kubernetes
  std::string server;        // https://10.0.0.1:6443
  std::string ca_pem;
  std::string user;  // credential name (the certificate's CN)
  std::string client_certificate_pem;
  std::string client_key_pem;  // a secret: the file is written 0600
};

// Deterministic YAML: the same content gives the same bytes.
std::string render_kubeconfig(const KubeconfigContent& content);

// Reads the single-cluster, single-user layout that render_kubeconfig
// writes (and kubeadm/kubectl write the same way). Returns nothing when a
// field is missing or not valid base64.
std::optional<KubeconfigContent> parse_kubeconfig(std::string_view text);

std::string base64_encode(std::string_view data);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace k8sfs::pki
