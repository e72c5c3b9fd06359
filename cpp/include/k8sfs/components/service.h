// A service as one value: its unit (name, path, text), where its program
// goes, the files k8sfs writes for it and every path it reads at start.
// A chapter makes one step from it (engine/service.py: bundle_step), so the
// unit path, the upload path and the restart inputs are never retyped.
#pragma once

#include <string>
#include <vector>

#include "k8sfs/components/apiserver.h"
#include "k8sfs/components/controllers.h"
#include "k8sfs/components/etcd.h"
#include "k8sfs/components/kubelet.h"
#include "k8sfs/components/node_network.h"
#include "k8sfs/components/runtime.h"

namespace k8sfs::components {

struct ServiceFile {
  std::string path;
  std::string content;
};

struct ServiceBundle {
  std::string unit;       // systemd unit name: "kube-apiserver"
  std::string unit_path;  // /etc/systemd/system/<unit>.service
  std::string unit_text;
  std::string binary;              // where its program is uploaded; "" when a package owns it
  std::vector<ServiceFile> files;  // what k8sfs writes for it besides the unit
  std::vector<std::string> reads;  // every path whose change means a restart
};

ServiceBundle etcd_service(const EtcdOptions& options);
// The audit policy; the encryption config holds a key, so the caller adds it.
ServiceBundle apiserver_service(const ApiserverOptions& options);
ServiceBundle controller_manager_service(const ControllerManagerOptions& options);
ServiceBundle scheduler_service(const SchedulerOptions& options);  // and its config
// kubelet's config; `runtime_unit` (containerd | crio) is ordered before it.
ServiceBundle kubelet_service(const KubeletOptions& options, const std::string& runtime_unit);
ServiceBundle kube_proxy_service(const KubeProxyOptions& options);  // and its config
// The runtimes and their configuration; the unit is for k8sfs's build
// (Debian's containerd package brings its own).
ServiceBundle containerd_service(const ContainerdOptions& options, const std::string& version);
ServiceBundle crio_service(const CrioOptions& options, const std::string& version);
// One of k8sfs's own setup scripts, run once at boot: `before` the units
// that need it, or after the network is up.
ServiceBundle oneshot_service(const std::string& unit, const std::string& description, const std::string& script,
                              const std::vector<std::string>& before = {}, bool after_network = false);

}  // namespace k8sfs::components
