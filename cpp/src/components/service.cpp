// Each service's bundle from the renderers that know it.
#include "k8sfs/components/service.h"

#include "k8sfs/components/layout.h"
#include "k8sfs/components/runtime.h"
#include "unit_file.h"

namespace k8sfs::components {

namespace {

ServiceBundle bundle(const std::string& unit, std::string text, std::string binary, std::vector<ServiceFile> files,
                     std::vector<std::string> reads) {
  return {unit, layout::unit_path(unit), std::move(text), std::move(binary), std::move(files), std::move(reads)};
}

}  // namespace

ServiceBundle etcd_service(const EtcdOptions& o) {
  const auto binary = layout::binary("etcd");
  return bundle("etcd", render_etcd_unit(o, binary), binary, {}, etcd_reads(o, binary));
}

ServiceBundle apiserver_service(const ApiserverOptions& o) {
  const auto binary = layout::binary("kube-apiserver");
  return bundle("kube-apiserver", render_apiserver_unit(o, binary), binary, {{o.audit_policy, render_audit_policy()}},
                apiserver_reads(o, binary));
}

ServiceBundle controller_manager_service(const ControllerManagerOptions& o) {
  const auto binary = layout::binary("kube-controller-manager");
  return bundle("kube-controller-manager", render_controller_manager_unit(o, binary), binary, {},
                controller_manager_reads(o, binary));
}

ServiceBundle scheduler_service(const SchedulerOptions& o) {
  const auto binary = layout::binary("kube-scheduler");
  return bundle("kube-scheduler", render_scheduler_unit(o, binary), binary,
                {{o.config_path, render_scheduler_config(o)}}, scheduler_reads(o, binary));
}

ServiceBundle kubelet_service(const KubeletOptions& o, const std::string& runtime_unit) {
  const auto binary = layout::binary("kubelet");
  return bundle("kubelet", render_kubelet_unit(o, runtime_unit, binary), binary,
                {{o.config_path, render_kubelet_config(o)}}, kubelet_reads(o, binary));
}

ServiceBundle kube_proxy_service(const KubeProxyOptions& o) {
  const auto binary = layout::binary("kube-proxy");
  return bundle("kube-proxy", render_kube_proxy_unit(o, binary), binary, {{o.config_path, render_kube_proxy_config(o)}},
                kube_proxy_reads(o, binary));
}

ServiceBundle containerd_service(const ContainerdOptions& o, const std::string& version) {
  UnitSpec unit;
  unit.comment = {"containerd " + version + " (k8sfs's build), the container runtime kubelet talks to at",
                  runtime_socket("containerd") + "."};
  unit.description = "containerd " + version + " container runtime";
  unit.documentation = "https://containerd.io";
  unit.after_only = {"network.target", "local-fs.target"};
  unit.network_online = false;
  unit.exec_start_pre = {"-/sbin/modprobe overlay"};
  unit.exec = layout::binary("containerd");
  unit.type = "notify";
  // Its shims and their containers outlive a restart of containerd itself.
  unit.extra_service = {"Delegate=yes",       "KillMode=process",  "LimitNPROC=infinity",
                        "LimitCORE=infinity", "TasksMax=infinity", "OOMScoreAdjust=-999"};
  return bundle("containerd", render_unit(unit), unit.exec, {{layout::kContainerdConfig, render_containerd_config(o)}},
                {unit.exec});
}

ServiceBundle crio_service(const CrioOptions& o, const std::string& version) {
  UnitSpec unit;
  unit.comment = {"CRI-O " + version + ", the container runtime kubelet talks to at " + runtime_socket("crio") + "."};
  unit.description = "CRI-O " + version + " (Container Runtime Interface for OCI)";
  unit.documentation = "https://github.com/cri-o/cri-o";
  unit.exec = layout::binary("crio");
  unit.type = "notify";
  unit.restart = "on-failure";
  unit.extra_service = {"LimitNOFILE=1048576", "TasksMax=infinity"};
  return bundle("crio", render_unit(unit), unit.exec, {{layout::kCrioConfig, render_crio_config(o)}}, {unit.exec});
}

ServiceBundle oneshot_service(const std::string& unit_name, const std::string& description, const std::string& script,
                              const std::vector<std::string>& before, bool after_network) {
  UnitSpec unit;
  unit.description = "k8sfs: " + description;
  unit.before = before;
  unit.network_online = after_network;
  unit.exec = script;
  unit.type = "oneshot";
  unit.remain_after_exit = true;
  unit.restart = "";
  return bundle(unit_name, render_unit(unit), "", {}, {script});
}

}  // namespace k8sfs::components
