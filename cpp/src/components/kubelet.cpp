// kubelet rendering. The flag set stays minimal (the reference's guidance):
// everything the file can say goes in the file.
#include "k8sfs/components/kubelet.h"

#include <fmt/format.h>

#include "unit_file.h"

namespace k8sfs::components {
namespace {

// A YAML scalar that needs no quotes stays bare (paths, URLs); anything a
// YAML parser could read as something else is double-quoted.
std::string scalar(const std::string& value) {
  bool plain = !value.empty() && std::string("-?:,[]{}#&*!|>'\"%@` ").find(value.front()) == std::string::npos &&
               value.find(": ") == std::string::npos && value.find(" #") == std::string::npos && value.back() != ':' &&
               value.back() != ' ' && value != "true" && value != "false" && value != "null";
  if (plain) return value;
  std::string out = "\"";
  for (char c : value) out += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return out + "\"";
}

std::string bool_text(bool b) { return b ? "true" : "false"; }

}  // namespace

std::string render_kubelet_config(const KubeletOptions& o) {
  const bool standalone = o.kubeconfig.empty();
  std::string y =
      "# Written by k8sfs.\n"
      "apiVersion: kubelet.config.k8s.io/v1beta1\n"
      "kind: KubeletConfiguration\n"
      "authentication:\n"
      "  anonymous:\n"
      "    enabled: false\n"
      "  webhook:\n";
  y += fmt::format("    enabled: {}\n", bool_text(!standalone));
  if (!o.client_ca_file.empty()) y += fmt::format("  x509:\n    clientCAFile: {}\n", scalar(o.client_ca_file));
  // Standalone there is no apiserver to ask; with anonymous off and neither
  // x509 nor webhook authentication, nobody authenticates, so AlwaysAllow opens nothing.
  y += fmt::format("authorization:\n  mode: {}\n", standalone ? "AlwaysAllow" : "Webhook");
  y += fmt::format("cgroupDriver: {}\n", to_string(o.cgroup_driver));
  if (!o.cgroup_root.empty()) y += fmt::format("cgroupRoot: {}\n", scalar(o.cgroup_root));
  if (!o.cluster_dns.empty()) {
    y += "clusterDNS:\n";
    for (const auto& ip : o.cluster_dns) y += fmt::format("- {}\n", scalar(ip));
    y += fmt::format("clusterDomain: {}\n", scalar(o.cluster_domain));
  }
  if (o.version.at_least(27)) y += fmt::format("containerRuntimeEndpoint: {}\n", scalar(o.runtime_endpoint));
  if (o.container_host) {
    // A container shares the machine's disks and memory: its own view of
    // "full" is meaningless, so never evict or garbage-collect images.
    y += "evictionHard:\n"
         "  imagefs.available: \"0%\"\n"
         "  memory.available: \"0%\"\n"
         "  nodefs.available: \"0%\"\n"
         "  nodefs.inodesFree: \"0%\"\n"
         "imageGCHighThresholdPercent: 100\n";
  }
  if (o.fail_cgroup_v1 && o.version.at_least(31)) y += fmt::format("failCgroupV1: {}\n", bool_text(*o.fail_cgroup_v1));
  y += fmt::format("failSwapOn: {}\n", bool_text(o.fail_swap_on));
  y += fmt::format("staticPodPath: {}\n", scalar(o.static_pod_path));
  if (!o.tls_cert_file.empty()) {
    y += fmt::format("tlsCertFile: {}\ntlsPrivateKeyFile: {}\n", scalar(o.tls_cert_file),
                     scalar(o.tls_private_key_file));
  }
  return y;
}

std::vector<std::string> kubelet_flags(const KubeletOptions& o) {
  std::vector<std::string> flags{"--config=" + o.config_path};
  if (!o.kubeconfig.empty()) flags.push_back("--kubeconfig=" + o.kubeconfig);
  if (!o.node_ip.empty()) flags.push_back("--node-ip=" + o.node_ip);
  if (!o.version.at_least(24)) flags.push_back("--container-runtime=remote");  // gone in 1.27
  if (!o.version.at_least(27)) flags.push_back("--container-runtime-endpoint=" + o.runtime_endpoint);
  // A no-op from 1.29 and removed in 1.35: the runtime pins the sandbox image.
  if (!o.version.at_least(29) && !o.pause_image.empty())
    flags.push_back("--pod-infra-container-image=" + o.pause_image);
  flags.push_back("--v=2");
  return flags;
}

std::vector<std::string> kubelet_reads(const KubeletOptions& o, const std::string& binary) {
  std::vector<std::string> files{binary, o.config_path};
  for (const auto* path : {&o.kubeconfig, &o.client_ca_file, &o.tls_cert_file, &o.tls_private_key_file}) {
    if (!path->empty()) files.push_back(*path);
  }
  return files;
}

std::string render_kubelet_unit(const KubeletOptions& o, const std::string& runtime_unit, const std::string& binary) {
  UnitSpec unit;
  unit.description = fmt::format("Kubernetes node agent (kubelet {})", o.version.str());
  unit.documentation = "https://kubernetes.io/docs/reference/command-line-tools-reference/kubelet/";
  unit.after = {runtime_unit + ".service"};
  unit.exec = binary;
  unit.flags = kubelet_flags(o);
  return render_unit(unit);
}

}  // namespace k8sfs::components
