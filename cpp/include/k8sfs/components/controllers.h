// kube-controller-manager and kube-scheduler: flags, the scheduler's
// configuration file, and their systemd units. Pure rendering.
#pragma once

#include <string>
#include <vector>

#include "k8sfs/components/layout.h"
#include "k8sfs/components/version.h"

namespace k8sfs::components {

struct ControllerManagerOptions {
  KubeVersion version;
  std::string cluster_name = "kubernetes";
  std::string service_cidr = "10.0.0.0/16";
  std::string pod_cidr = "10.200.0.0/16";
  std::string kubeconfig = layout::kControllerManagerConf;
  std::string pki_dir = layout::kPkiDir;
  // Only when ca.key is on the control plane (spec pki.ca_key_on_control_plane).
  bool sign_csrs = false;
};
std::vector<std::string> controller_manager_flags(const ControllerManagerOptions& options);
std::vector<std::string> controller_manager_reads(
    const ControllerManagerOptions& options, const std::string& binary = layout::binary("kube-controller-manager"));
std::string render_controller_manager_unit(const ControllerManagerOptions& options,
                                           const std::string& binary = layout::binary("kube-controller-manager"));

struct SchedulerOptions {
  KubeVersion version;
  std::string kubeconfig = layout::kSchedulerConf;
  std::string config_path = layout::kSchedulerConfig;
};
std::string render_scheduler_config(const SchedulerOptions& options);
std::vector<std::string> scheduler_reads(const SchedulerOptions& options,
                                         const std::string& binary = layout::binary("kube-scheduler"));
std::string render_scheduler_unit(const SchedulerOptions& options,
                                  const std::string& binary = layout::binary("kube-scheduler"));

}  // namespace k8sfs::components
