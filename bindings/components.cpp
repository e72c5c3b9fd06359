// k8sfs._core: component rendering (each component's options, flags and
// configuration files: etcd, kube-apiserver, the controllers, keepalived,
// kubelet, kube-proxy, CNI, containerd and CRI-O, crictl), each service as
// one bundle (unit, program, files, reads), the Kubernetes version rules,
// the runtimes' cgroup-driver checks, and k8sfs._core.layout: where
// everything lives on a host.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "k8sfs/components/apiserver.h"
#include "k8sfs/components/controllers.h"
#include "k8sfs/components/etcd.h"
#include "k8sfs/components/keepalived.h"
#include "k8sfs/components/kubelet.h"
#include "k8sfs/components/layout.h"
#include "k8sfs/components/node_network.h"
#include "k8sfs/components/registries.h"
#include "k8sfs/components/runtime.h"
#include "k8sfs/components/service.h"
#include "k8sfs/components/version.h"

namespace py = pybind11;
namespace c = k8sfs::components;

namespace {

std::optional<std::string> driver_text(const std::optional<c::CgroupDriver>& d) {
  if (!d) return std::nullopt;
  return c::to_string(*d);
}

}  // namespace

namespace {

struct Layout {};  // a namespace for Python: class attributes and static functions

void bind_layout(py::module_& m) {
  namespace l = k8sfs::layout;
  py::class_<Layout> layout(m, "layout", "Where everything lives on a host (components/layout.h), named once.");
  layout.def_static("binary", &l::binary, py::arg("name"), "/usr/local/bin/NAME");
  layout.def_static("script", &l::script, py::arg("name"), "/usr/local/sbin/NAME (k8sfs's own scripts)");
  layout.def_static("unit_path", &l::unit_path, py::arg("unit"), "/etc/systemd/system/UNIT.service");
  layout.def_static("kubeconfig", &l::kubeconfig, py::arg("who"), "/etc/kubernetes/WHO.conf");
  const std::pair<const char*, const std::string*> paths[] = {
      {"BIN_DIR", &l::kBinDir},
      {"SCRIPT_DIR", &l::kScriptDir},
      {"UNIT_DIR", &l::kUnitDir},
      {"KUBERNETES_DIR", &l::kKubernetesDir},
      {"PKI_DIR", &l::kPkiDir},
      {"ETCD_PKI_DIR", &l::kEtcdPkiDir},
      {"MANIFESTS_DIR", &l::kManifestsDir},
      {"ADDONS_DIR", &l::kAddonsDir},
      {"ADMIN_CONF", &l::kAdminConf},
      {"SUPER_ADMIN_CONF", &l::kSuperAdminConf},
      {"CONTROLLER_MANAGER_CONF", &l::kControllerManagerConf},
      {"SCHEDULER_CONF", &l::kSchedulerConf},
      {"KUBE_PROXY_CONF", &l::kKubeProxyConf},
      {"KUBELET_CONF", &l::kKubeletConf},
      {"ENCRYPTION_CONFIG", &l::kEncryptionConfig},
      {"AUDIT_POLICY", &l::kAuditPolicy},
      {"SCHEDULER_CONFIG", &l::kSchedulerConfig},
      {"LOG_DIR", &l::kLogDir},
      {"AUDIT_LOG", &l::kAuditLog},
      {"ETCD_DATA_DIR", &l::kEtcdDataDir},
      {"KUBELET_DIR", &l::kKubeletDir},
      {"KUBELET_CONFIG", &l::kKubeletConfig},
      {"KUBELET_PKI_DIR", &l::kKubeletPkiDir},
      {"KUBE_PROXY_DIR", &l::kKubeProxyDir},
      {"KUBE_PROXY_CONFIG", &l::kKubeProxyConfig},
      {"LOCAL_VOLUMES_DIR", &l::kLocalVolumesDir},
      {"CONTAINERD_CONFIG", &l::kContainerdConfig},
      {"CRIO_CONFIG", &l::kCrioConfig},
      {"CNI_BIN_DIR", &l::kCniBinDir},
      {"CNI_CONF_DIR", &l::kCniConfDir},
      {"DEBIAN_CNI_BIN_DIR", &l::kDebianCniBinDir},
      {"K8SFS_DIR", &l::kK8sfsDir},
      {"HOST_LOCK", &l::kHostLock},
      {"DIGEST_CACHE", &l::kDigestCache},
      {"VERSION_CACHE", &l::kVersionCache},
      {"IMAGE_DIR", &l::kImageDir},
      {"RESTORE_SNAPSHOT", &l::kRestoreSnapshot},
      {"FSTAB", &l::kFstab},
      {"APISERVER_READY", &l::kApiserverReady},
      {"SMOKE_TEST", &l::kSmokeTest},
  };
  for (const auto& [name, path] : paths) layout.attr(name) = *path;
}

void bind_services(py::module_& m) {
  py::class_<c::ServiceFile>(m, "ServiceFile", "A file k8sfs writes for a service.")
      .def_readonly("path", &c::ServiceFile::path)
      .def_readonly("content", &c::ServiceFile::content)
      .def("__repr__", [](const c::ServiceFile& f) { return "<ServiceFile " + f.path + ">"; });
  py::class_<c::ServiceBundle>(m, "ServiceBundle",
                               "A service as one value (components/service.h): its unit, program, files and reads.")
      .def_readonly("unit", &c::ServiceBundle::unit)
      .def_readonly("unit_path", &c::ServiceBundle::unit_path)
      .def_readonly("unit_text", &c::ServiceBundle::unit_text)
      .def_readonly("binary", &c::ServiceBundle::binary)
      .def_readonly("files", &c::ServiceBundle::files)
      .def_readonly("reads", &c::ServiceBundle::reads)
      .def("__repr__", [](const c::ServiceBundle& b) { return "<ServiceBundle " + b.unit + ">"; });
  m.def("etcd_service", &c::etcd_service, py::arg("options"));
  m.def("apiserver_service", &c::apiserver_service, py::arg("options"));
  m.def("controller_manager_service", &c::controller_manager_service, py::arg("options"));
  m.def("scheduler_service", &c::scheduler_service, py::arg("options"));
  m.def("kubelet_service", &c::kubelet_service, py::arg("options"), py::arg("runtime_unit"));
  m.def("kube_proxy_service", &c::kube_proxy_service, py::arg("options"));
  m.def("containerd_service", &c::containerd_service, py::arg("options"), py::arg("version"));
  m.def("crio_service", &c::crio_service, py::arg("options"), py::arg("version"));
  m.def("oneshot_service", &c::oneshot_service, py::arg("unit"), py::arg("description"), py::arg("script"),
        py::arg("before") = std::vector<std::string>{}, py::arg("after_network") = false);
}

}  // namespace

void bind_components(py::module_& m) {
  py::register_exception<c::RenderError>(m, "RenderError", PyExc_ValueError);
  bind_layout(m);

  py::class_<c::KubeVersion>(m, "KubeVersion")
      .def_static("parse", &c::KubeVersion::parse, py::arg("text"))
      .def_readonly("major", &c::KubeVersion::major)
      .def_readonly("minor", &c::KubeVersion::minor)
      .def_readonly("patch", &c::KubeVersion::patch)
      .def("__str__", &c::KubeVersion::str)
      .def("__repr__", [](const c::KubeVersion& v) { return "<KubeVersion " + v.str() + ">"; });
  m.attr("OLDEST_MINOR") = c::kOldestMinor;
  m.attr("NEWEST_MINOR") = c::kNewestMinor;

  py::class_<c::KubeletOptions>(m, "KubeletOptions")
      .def(py::init([](const std::string& version) {
             c::KubeletOptions o;
             o.version = c::KubeVersion::parse(version);
             return o;
           }),
           py::arg("version"))
      .def_property_readonly("version", [](const c::KubeletOptions& o) { return o.version.str(); })
      .def_readwrite("config_path", &c::KubeletOptions::config_path)
      .def_readwrite("runtime_endpoint", &c::KubeletOptions::runtime_endpoint)
      .def_property(
          "cgroup_driver", [](const c::KubeletOptions& o) { return c::to_string(o.cgroup_driver); },
          [](c::KubeletOptions& o, const std::string& d) { o.cgroup_driver = c::parse_cgroup_driver(d); })
      .def_readwrite("static_pod_path", &c::KubeletOptions::static_pod_path)
      .def_readwrite("kubeconfig", &c::KubeletOptions::kubeconfig)
      .def_readwrite("client_ca_file", &c::KubeletOptions::client_ca_file)
      .def_readwrite("tls_cert_file", &c::KubeletOptions::tls_cert_file)
      .def_readwrite("tls_private_key_file", &c::KubeletOptions::tls_private_key_file)
      .def_readwrite("node_ip", &c::KubeletOptions::node_ip)
      .def_readwrite("cluster_dns", &c::KubeletOptions::cluster_dns)
      .def_readwrite("cluster_domain", &c::KubeletOptions::cluster_domain)
      .def_readwrite("pause_image", &c::KubeletOptions::pause_image)
      .def_readwrite("fail_swap_on", &c::KubeletOptions::fail_swap_on)
      .def_readwrite("fail_cgroup_v1", &c::KubeletOptions::fail_cgroup_v1)
      .def_readwrite("cgroup_root", &c::KubeletOptions::cgroup_root)
      .def_readwrite("container_host", &c::KubeletOptions::container_host);
  m.def("render_kubelet_config", &c::render_kubelet_config, py::arg("options"));
  m.def("kubelet_flags", &c::kubelet_flags, py::arg("options"));

  py::class_<c::ContainerdOptions>(m, "ContainerdOptions")
      .def(py::init<>())
      .def_readwrite("major_version", &c::ContainerdOptions::major_version)
      .def_property(
          "cgroup_driver", [](const c::ContainerdOptions& o) { return c::to_string(o.cgroup_driver); },
          [](c::ContainerdOptions& o, const std::string& d) { o.cgroup_driver = c::parse_cgroup_driver(d); })
      .def_readwrite("sandbox_image", &c::ContainerdOptions::sandbox_image)
      .def_readwrite("cni_bin_dir", &c::ContainerdOptions::cni_bin_dir)
      .def_readwrite("cni_conf_dir", &c::ContainerdOptions::cni_conf_dir)
      .def_readwrite("container_host", &c::ContainerdOptions::container_host)
      .def_readwrite("registry_config_path", &c::ContainerdOptions::registry_config_path);
  m.def("render_containerd_config", &c::render_containerd_config, py::arg("options"));

  py::class_<c::CrioOptions>(m, "CrioOptions")
      .def(py::init<>())
      .def_property(
          "cgroup_driver", [](const c::CrioOptions& o) { return c::to_string(o.cgroup_driver); },
          [](c::CrioOptions& o, const std::string& d) { o.cgroup_driver = c::parse_cgroup_driver(d); })
      .def_readwrite("pause_image", &c::CrioOptions::pause_image)
      .def_readwrite("cni_plugin_dir", &c::CrioOptions::cni_plugin_dir)
      .def_readwrite("runtime_path", &c::CrioOptions::runtime_path)
      .def_readwrite("global_auth_file", &c::CrioOptions::global_auth_file);

  py::class_<c::RegistryCredentials>(m, "RegistryCredentials")
      .def(py::init<std::string, std::string>(), py::arg("username"), py::arg("password"))
      .def_readwrite("username", &c::RegistryCredentials::username)
      .def("__repr__", [](const c::RegistryCredentials& r) { return "<RegistryCredentials " + r.username + ">"; });
  py::class_<c::RegistriesOptions>(m, "RegistriesOptions")
      .def(py::init<>())
      .def_readwrite("offline", &c::RegistriesOptions::offline)
      .def_readwrite("mirrors", &c::RegistriesOptions::mirrors)
      .def_readwrite("credentials", &c::RegistriesOptions::credentials)
      .def_readwrite("ca_certificates", &c::RegistriesOptions::ca_certificates);
  py::class_<c::RegistryFile>(m, "RegistryFile")
      .def_readonly("path", &c::RegistryFile::path)
      .def_readonly("content", &c::RegistryFile::content)
      .def_readonly("secret", &c::RegistryFile::secret)
      .def("__repr__", [](const c::RegistryFile& f) { return "<RegistryFile " + f.path + ">"; });
  m.def("check_registries", &c::check_registries, py::arg("options"),
        "Raises RenderError (a ValueError) naming the entry that cannot be written.");
  m.def("containerd_registry_files", &c::containerd_registry_files, py::arg("options"));
  m.def("crio_registry_files", &c::crio_registry_files, py::arg("options"));
  m.def("registry_dirs", &c::registry_dirs, py::arg("files"), py::arg("certs_dir"));
  m.attr("CONTAINERD_CERTS_DIR") = c::kContainerdCertsDir;
  m.attr("CONTAINERS_CERTS_DIR") = c::kContainersCertsDir;
  m.attr("CRIO_AUTH_FILE") = c::kCrioAuthFile;
  m.def("render_crio_config", &c::render_crio_config, py::arg("options"));

  py::class_<c::PackageRepository>(m, "PackageRepository")
      .def_readonly("path", &c::PackageRepository::path)
      .def_readonly("content", &c::PackageRepository::content)
      .def_readonly("setup", &c::PackageRepository::setup)
      .def_readonly("install", &c::PackageRepository::install);
  m.def(
      "crio_repository",
      [](const std::string& os_family, const std::string& version) {
        return c::crio_repository(c::parse_os_family(os_family), c::KubeVersion::parse(version));
      },
      py::arg("os_family"), py::arg("version"));

  m.def("render_crictl_config", &c::render_crictl_config, py::arg("endpoint"), py::arg("timeout_seconds") = 10);
  m.def("runtime_socket", &c::runtime_socket, py::arg("runtime"));
  m.def(
      "containerd_cgroup_driver_from_info",
      [](const std::string& j) { return driver_text(c::containerd_cgroup_driver_from_info(j)); },
      py::arg("crictl_info_json"));
  m.def(
      "containerd_cgroup_driver_from_config",
      [](const std::string& t) { return driver_text(c::containerd_cgroup_driver_from_config(t)); },
      py::arg("config_dump_toml"));
  m.def(
      "crio_cgroup_driver_from_config",
      [](const std::string& t) { return driver_text(c::crio_cgroup_driver_from_config(t)); },
      py::arg("crio_config_toml"));
  m.def(
      "cgroup_driver_mismatch",
      [](const std::string& runtime, const std::string& runtime_driver, const std::string& kubelet_driver) {
        return c::cgroup_driver_mismatch(runtime, c::parse_cgroup_driver(runtime_driver),
                                         c::parse_cgroup_driver(kubelet_driver));
      },
      py::arg("runtime"), py::arg("runtime_driver"), py::arg("kubelet_driver"));

  py::class_<c::EtcdMember>(m, "EtcdMember")
      .def(py::init([](std::string name, std::string address) {
             return c::EtcdMember{std::move(name), std::move(address)};
           }),
           py::arg("name"), py::arg("address"))
      .def_readonly("name", &c::EtcdMember::name)
      .def_readonly("address", &c::EtcdMember::address);
  py::class_<c::EtcdOptions>(m, "EtcdOptions")
      .def(py::init<>())
      .def_readwrite("version", &c::EtcdOptions::version)
      .def_readwrite("self", &c::EtcdOptions::self)
      .def_readwrite("members", &c::EtcdOptions::members)
      .def_readwrite("cluster_token", &c::EtcdOptions::cluster_token)
      .def_readwrite("data_dir", &c::EtcdOptions::data_dir)
      .def_readwrite("pki_dir", &c::EtcdOptions::pki_dir);
  m.def("etcd_flags", &c::etcd_flags, py::arg("options"));
  m.def("etcd_client_urls", &c::etcd_client_urls, py::arg("members"));
  m.def("etcdctl_tls_args", &c::etcdctl_tls_args, py::arg("pki_dir") = k8sfs::layout::kEtcdPkiDir,
        py::arg("endpoint") = "https://127.0.0.1:2379");

  py::class_<c::ApiserverOptions>(m, "ApiserverOptions")
      .def(py::init([](const std::string& version) {
             c::ApiserverOptions o;
             o.version = c::KubeVersion::parse(version);
             return o;
           }),
           py::arg("version"))
      .def_readwrite("advertise_address", &c::ApiserverOptions::advertise_address)
      .def_readwrite("etcd_servers", &c::ApiserverOptions::etcd_servers)
      .def_readwrite("service_cidr", &c::ApiserverOptions::service_cidr)
      .def_readwrite("dns_domain", &c::ApiserverOptions::dns_domain)
      .def_readwrite("pki_dir", &c::ApiserverOptions::pki_dir)
      .def_readwrite("encryption_config", &c::ApiserverOptions::encryption_config)
      .def_readwrite("audit_policy", &c::ApiserverOptions::audit_policy)
      .def_readwrite("audit_log", &c::ApiserverOptions::audit_log);
  m.def("apiserver_flags", &c::apiserver_flags, py::arg("options"));
  m.def("render_encryption_config", &c::render_encryption_config, py::arg("key_base64"), py::arg("key_name") = "key1");
  m.def("render_audit_policy", &c::render_audit_policy);
  m.def("service_account_issuer", &c::service_account_issuer, py::arg("dns_domain"));

  py::class_<c::ControllerManagerOptions>(m, "ControllerManagerOptions")
      .def(py::init([](const std::string& version) {
             c::ControllerManagerOptions o;
             o.version = c::KubeVersion::parse(version);
             return o;
           }),
           py::arg("version"))
      .def_readwrite("cluster_name", &c::ControllerManagerOptions::cluster_name)
      .def_readwrite("service_cidr", &c::ControllerManagerOptions::service_cidr)
      .def_readwrite("pod_cidr", &c::ControllerManagerOptions::pod_cidr)
      .def_readwrite("sign_csrs", &c::ControllerManagerOptions::sign_csrs);
  m.def("controller_manager_flags", &c::controller_manager_flags, py::arg("options"));
  py::class_<c::SchedulerOptions>(m, "SchedulerOptions")
      .def(py::init([](const std::string& version) {
             c::SchedulerOptions o;
             o.version = c::KubeVersion::parse(version);
             return o;
           }),
           py::arg("version"))
      .def_readwrite("config_path", &c::SchedulerOptions::config_path);
  m.def("render_scheduler_config", &c::render_scheduler_config, py::arg("options"));

  m.def("node_pod_subnet", &c::node_pod_subnet, py::arg("pod_cidr"), py::arg("index"));
  m.def("render_cni_bridge", &c::render_cni_bridge, py::arg("pod_subnet"), py::arg("cni_version") = "1.0.0");
  m.def("render_cni_loopback", &c::render_cni_loopback);
  py::class_<c::KubeProxyOptions>(m, "KubeProxyOptions")
      .def(py::init([](const std::string& version) {
             c::KubeProxyOptions o;
             o.version = c::KubeVersion::parse(version);
             return o;
           }),
           py::arg("version"))
      .def_readwrite("config_path", &c::KubeProxyOptions::config_path)
      .def_readwrite("pod_cidr", &c::KubeProxyOptions::pod_cidr)
      .def_readwrite("node_name", &c::KubeProxyOptions::node_name)
      .def_readwrite("container_host", &c::KubeProxyOptions::container_host);
  m.def("render_kube_proxy_config", &c::render_kube_proxy_config, py::arg("options"));

  py::class_<c::KeepalivedOptions>(m, "KeepalivedOptions")
      .def(py::init<>())
      .def_readwrite("virtual_ip", &c::KeepalivedOptions::virtual_ip)
      .def_readwrite("prefix_length", &c::KeepalivedOptions::prefix_length)
      .def_readwrite("interface", &c::KeepalivedOptions::interface)
      .def_readwrite("self", &c::KeepalivedOptions::self)
      .def_readwrite("peers", &c::KeepalivedOptions::peers)
      .def_readwrite("priority", &c::KeepalivedOptions::priority)
      .def_readwrite("virtual_router_id", &c::KeepalivedOptions::virtual_router_id)
      .def_readwrite("health_check", &c::KeepalivedOptions::health_check);
  m.def("render_keepalived_config", &c::render_keepalived_config, py::arg("options"));
  m.def("virtual_router_id_for", &c::virtual_router_id_for, py::arg("name"));
  bind_services(m);  // last: its signatures name the options classes bound above
}
