// k8sfs._core: the cluster PKI (table, directory store, kubeconfigs).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "k8sfs/pki/cluster_pki.h"
#include "k8sfs/pki/kubeconfig.h"
#include "k8sfs/pki/store.h"

namespace py = pybind11;
namespace pki = k8sfs::pki;

void bind_cluster_pki(py::module_& m) {
  py::class_<pki::PkiHost>(m, "PkiHost")
      .def(py::init([](std::string name, std::string address, bool control_plane, bool etcd, bool worker) {
             return pki::PkiHost{std::move(name), std::move(address), control_plane, etcd, worker};
           }),
           py::arg("name"), py::arg("address"), py::kw_only(), py::arg("control_plane") = false,
           py::arg("etcd") = false, py::arg("worker") = false)
      .def_readwrite("name", &pki::PkiHost::name)
      .def_readwrite("address", &pki::PkiHost::address)
      .def_readwrite("control_plane", &pki::PkiHost::control_plane)
      .def_readwrite("etcd", &pki::PkiHost::etcd)
      .def_readwrite("worker", &pki::PkiHost::worker)
      .def("__repr__", [](const pki::PkiHost& h) { return "<PkiHost " + h.name + " " + h.address + ">"; });

  py::class_<pki::ClusterPkiSpec>(m, "ClusterPkiSpec")
      .def(py::init<>())
      .def_readwrite("kubernetes_minor", &pki::ClusterPkiSpec::kubernetes_minor)
      .def_readwrite("cluster_name", &pki::ClusterPkiSpec::cluster_name)
      .def_readwrite("service_cidr", &pki::ClusterPkiSpec::service_cidr)
      .def_readwrite("dns_domain", &pki::ClusterPkiSpec::dns_domain)
      .def_readwrite("hosts", &pki::ClusterPkiSpec::hosts)
      .def_readwrite("apiserver_extra_sans", &pki::ClusterPkiSpec::apiserver_extra_sans)
      .def_readwrite("api_server_url", &pki::ClusterPkiSpec::api_server_url)
      .def_property(
          "key_type", [](const pki::ClusterPkiSpec& s) { return pki::to_string(s.key_type); },
          [](pki::ClusterPkiSpec& s, const std::string& t) { s.key_type = pki::parse_key_type(t); })
      .def_readwrite("ca_validity_days", &pki::ClusterPkiSpec::ca_validity_days)
      .def_readwrite("leaf_validity_days", &pki::ClusterPkiSpec::leaf_validity_days)
      .def_readwrite("ca_key_on_control_plane", &pki::ClusterPkiSpec::ca_key_on_control_plane)
      .def_readwrite("metrics_server", &pki::ClusterPkiSpec::metrics_server);

  py::class_<pki::FileStep>(m, "FileStep")
      .def_readonly("host", &pki::FileStep::host)
      .def_readonly("local", &pki::FileStep::local)
      .def_readonly("remote", &pki::FileStep::remote)
      .def_readonly("mode", &pki::FileStep::mode)
      .def_readonly("owner", &pki::FileStep::owner)
      .def_readonly("reason", &pki::FileStep::reason)
      .def("__repr__", [](const pki::FileStep& s) { return "<FileStep " + s.host + ":" + s.remote + ">"; });

  py::class_<pki::Material>(m, "Material")
      .def_readonly("name", &pki::Material::name)
      .def_property_readonly("kind", [](const pki::Material& x) { return pki::to_string(x.kind); })
      .def_readonly("path", &pki::Material::path)
      .def_readonly("ca", &pki::Material::ca)
      .def_property_readonly("common_name", [](const pki::Material& x) { return x.leaf.subject.common_name; })
      .def_property_readonly("organizations", [](const pki::Material& x) { return x.leaf.subject.organizations; })
      .def_property_readonly("dns_names", [](const pki::Material& x) { return x.leaf.dns_names; })
      .def_property_readonly("ip_addresses", [](const pki::Material& x) { return x.leaf.ip_addresses; })
      .def_readonly("server", &pki::Material::server)
      .def_readonly("files", &pki::Material::files)
      .def_property_readonly("certificate_path", &pki::Material::certificate_path)
      .def_property_readonly("key_path", &pki::Material::key_path)
      .def("__repr__", [](const pki::Material& x) { return "<Material " + x.name + ">"; });
  m.def("cluster_materials", &pki::cluster_materials, py::arg("spec"));
  m.def("first_service_ip", &pki::first_service_ip, py::arg("cidr"));
  m.def("admin_group", &pki::admin_group, py::arg("kubernetes_minor"),
        "The group in admin.conf's certificate: kubeadm:cluster-admins from 1.29, system:masters before.");
  m.def("has_super_admin", &pki::has_super_admin, py::arg("kubernetes_minor"));

  py::class_<pki::PlanItem>(m, "PkiPlanItem")
      .def_readonly("name", &pki::PlanItem::name)
      .def_property_readonly("kind", [](const pki::PlanItem& i) { return pki::to_string(i.kind); })
      .def_property_readonly("action", [](const pki::PlanItem& i) { return pki::to_string(i.action); })
      .def_readonly("reason", &pki::PlanItem::reason)
      .def("__repr__",
           [](const pki::PlanItem& i) { return "<PkiPlanItem " + i.name + " " + pki::to_string(i.action) + ">"; });
  py::class_<pki::PkiPlan>(m, "PkiPlan")
      .def_readonly("items", &pki::PkiPlan::items)
      .def_readonly("files", &pki::PkiPlan::files)
      .def_property_readonly("changes", &pki::PkiPlan::changes);

  py::class_<pki::CertificateStatus>(m, "CertificateStatus")
      .def_readonly("name", &pki::CertificateStatus::name)
      .def_property_readonly("kind", [](const pki::CertificateStatus& s) { return pki::to_string(s.kind); })
      .def_readonly("path", &pki::CertificateStatus::path)
      .def_readonly("present", &pki::CertificateStatus::present)
      .def_readonly("subject", &pki::CertificateStatus::subject)
      .def_readonly("issuer", &pki::CertificateStatus::issuer)
      .def_readonly("sans", &pki::CertificateStatus::sans)
      .def_readonly("not_after", &pki::CertificateStatus::not_after)
      .def_readonly("days_left", &pki::CertificateStatus::days_left)
      .def_readonly("problem", &pki::CertificateStatus::problem);

  py::class_<pki::PkiStore>(m, "PkiStore")
      .def(py::init<std::string>(), py::arg("dir"))
      .def_property_readonly("dir", &pki::PkiStore::dir)
      .def("plan", &pki::PkiStore::plan, py::arg("spec"), py::arg("renew_within_days") = 30,
           py::call_guard<py::gil_scoped_release>())
      .def("apply", &pki::PkiStore::apply, py::arg("spec"), py::arg("renew_within_days") = 30,
           py::call_guard<py::gil_scoped_release>())
      .def("check", &pki::PkiStore::check, py::arg("spec"), py::call_guard<py::gil_scoped_release>())
      .def("renew", &pki::PkiStore::renew, py::arg("spec"), py::arg("names") = std::vector<std::string>{},
           py::arg("new_key") = false, py::call_guard<py::gil_scoped_release>())
      .def("import_ca", &pki::PkiStore::import_ca, py::arg("which"), py::arg("cert_pem"), py::arg("key_pem"),
           py::arg("source"))
      .def(
          "read", [](const pki::PkiStore& s, const std::string& rel) { return py::bytes(s.read(rel)); },
          py::arg("relative"))
      .def("__repr__", [](const pki::PkiStore& s) { return "<PkiStore " + s.dir() + ">"; });
}
