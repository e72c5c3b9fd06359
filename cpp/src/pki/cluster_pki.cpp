// The certificate table. Facts from Kubernetes' "PKI certificates and
// requirements" page (kubeadm's layout) plus the conventional kube-proxy
// identity; the comments say where k8sfs adds to it and why.
#include "k8sfs/pki/cluster_pki.h"
#include "k8sfs/components/layout.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>

#include <fmt/format.h>

namespace k8sfs::pki {
namespace {

constexpr int kKeyMode = 0600;
constexpr int kPublicMode = 0644;

bool is_ip(const std::string& text) {
  unsigned char buf[16];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

void add_unique(std::vector<std::string>& list, const std::string& value) {
  if (!value.empty() && std::find(list.begin(), list.end(), value) == list.end()) list.push_back(value);
}

// Sorts a name into the DNS or IP list of a leaf.
void add_san(LeafSpec& leaf, const std::string& name) {
  add_unique(is_ip(name) ? leaf.ip_addresses : leaf.dns_names, name);
}

// "https://host:port/..." -> "host" (brackets of an IPv6 literal removed).
std::string url_host(const std::string& url) {
  auto start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  if (start < url.size() && url[start] == '[') {
    auto end = url.find(']', start);
    return end == std::string::npos ? std::string{} : url.substr(start + 1, end - start - 1);
  }
  auto end = url.find_first_of(":/", start);
  return url.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

struct Builder {
  const ClusterPkiSpec& spec;
  std::deque<Material> out;  // a deque: references handed out stay valid as it grows

  LeafSpec leaf(const std::string& cn, std::vector<std::string> orgs, std::vector<ExtendedUsage> usages) const {
    LeafSpec l;
    l.subject = Subject{cn, std::move(orgs)};
    l.usages = std::move(usages);
    l.validity_days = spec.leaf_validity_days;
    return l;
  }

  Material& add(std::string name, MaterialKind kind, std::string path, std::string ca = {}) {
    Material m;
    m.name = std::move(name);
    m.kind = kind;
    m.path = std::move(path);
    m.ca = std::move(ca);
    out.push_back(std::move(m));
    return out.back();
  }

  // Sends the material's certificate (or .pub / .conf) and, if `with_key`,
  // its private key to `host`, under `remote_base` (+ .crt/.key).
  void send(Material& m, const PkiHost& host, const std::string& remote_base, bool with_key,
            const std::string& reason) const {
    if (m.kind == MaterialKind::Kubeconfig) {
      m.files.push_back({host.name, m.path, remote_base, kKeyMode, "root:root", reason});
      return;
    }
    std::string public_ext = m.kind == MaterialKind::KeyPair ? ".pub" : ".crt";
    m.files.push_back({host.name, m.certificate_path(), remote_base + public_ext, kPublicMode, "root:root", reason});
    if (with_key) m.files.push_back({host.name, m.key_path(), remote_base + ".key", kKeyMode, "root:root", reason});
  }
};

bool any_of(const std::vector<PkiHost>& hosts, bool PkiHost::* role) {
  return std::any_of(hosts.begin(), hosts.end(), [&](const PkiHost& h) { return h.*role; });
}

}  // namespace

std::string to_string(MaterialKind kind) {
  switch (kind) {
    case MaterialKind::CertificateAuthority:
      return "ca";
    case MaterialKind::KeyPair:
      return "key pair";
    case MaterialKind::Leaf:
      return "certificate";
    case MaterialKind::Kubeconfig:
      return "kubeconfig";
  }
  return "certificate";
}

std::string Material::certificate_path() const {
  if (kind == MaterialKind::Kubeconfig) return path;
  return path + (kind == MaterialKind::KeyPair ? ".pub" : ".crt");
}

std::string Material::key_path() const { return kind == MaterialKind::Kubeconfig ? std::string{} : path + ".key"; }

std::string first_service_ip(const std::string& cidr) {
  auto slash = cidr.find('/');
  std::string base = cidr.substr(0, slash);
  int prefix = -1;
  if (slash != std::string::npos) {
    try {
      prefix = std::stoi(cidr.substr(slash + 1));
    } catch (...) {
      prefix = -1;
    }
  }
  unsigned char bytes[16] = {};
  int family = inet_pton(AF_INET, base.c_str(), bytes) == 1    ? AF_INET
               : inet_pton(AF_INET6, base.c_str(), bytes) == 1 ? AF_INET6
                                                               : 0;
  int bits = family == AF_INET ? 32 : 128;
  if (family == 0 || prefix < 1 || prefix > bits - 2) {
    throw PkiError(fmt::format("service CIDR '{}' is not an address range like 10.0.0.0/16", cidr));
  }
  int len = bits / 8;
  // Network address (host bits cleared), then + 1.
  for (int i = 0; i < len; ++i) {
    int keep = std::clamp(prefix - i * 8, 0, 8);
    bytes[i] &= static_cast<unsigned char>(0xff00 >> keep);
  }
  for (int i = len - 1; i >= 0; --i) {
    if (++bytes[i] != 0) break;
  }
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, bytes, text, sizeof text);
  return text;
}

std::string api_server_url(const ClusterPkiSpec& spec) {
  if (!spec.api_server_url.empty()) return spec.api_server_url;
  for (const auto& h : spec.hosts) {
    if (!h.control_plane) continue;
    bool v6 = h.address.find(':') != std::string::npos;
    return fmt::format("https://{}{}{}:6443", v6 ? "[" : "", h.address, v6 ? "]" : "");
  }
  throw PkiError("the spec has no control-plane host, so there is no API server to point kubeconfigs at");
}

bool has_super_admin(int kubernetes_minor) { return kubernetes_minor >= 29; }

std::string admin_group(int kubernetes_minor) {
  return has_super_admin(kubernetes_minor) ? "kubeadm:cluster-admins" : "system:masters";
}

std::vector<Material> cluster_materials(const ClusterPkiSpec& spec) {
  if (!any_of(spec.hosts, &PkiHost::control_plane)) {
    throw PkiError("the spec has no control-plane host: at least one host needs the control-plane role");
  }
  for (const auto& h : spec.hosts) {
    if (h.name.empty()) throw PkiError("a host has no name");
    if (!is_ip(h.address)) throw PkiError(fmt::format("host {}: address '{}' is not an IP address", h.name, h.address));
  }
  if (spec.leaf_validity_days < 1 || spec.ca_validity_days < 1) throw PkiError("validity must be at least 1 day");
  const std::string service_ip = first_service_ip(spec.service_cidr);
  const std::string remote_url = api_server_url(spec);
  const std::string local_url = "https://127.0.0.1:6443";
  const bool split_admin = has_super_admin(spec.kubernetes_minor);
  const std::string admin_group = pki::admin_group(spec.kubernetes_minor);
  const auto server = std::vector{ExtendedUsage::ServerAuth};
  const auto client = std::vector{ExtendedUsage::ClientAuth};
  const auto both = std::vector{ExtendedUsage::ServerAuth, ExtendedUsage::ClientAuth};
  Builder b{spec, {}};

  // --- CAs: kubeadm's three. ca.key goes to the control plane only when asked.
  auto& ca = b.add("ca", MaterialKind::CertificateAuthority, "pki/ca");
  ca.leaf.subject.common_name = "kubernetes-ca";
  auto& etcd_ca = b.add("etcd-ca", MaterialKind::CertificateAuthority, "pki/etcd/ca");
  etcd_ca.leaf.subject.common_name = "etcd-ca";
  auto& fp_ca = b.add("front-proxy-ca", MaterialKind::CertificateAuthority, "pki/front-proxy-ca");
  fp_ca.leaf.subject.common_name = "kubernetes-front-proxy-ca";
  for (Material* m : {&ca, &etcd_ca, &fp_ca}) m->leaf.validity_days = spec.ca_validity_days;
  for (const auto& h : spec.hosts) {
    if (h.control_plane) {
      b.send(ca, h, layout::kPkiDir + "/ca", false, "client CA of the apiserver and controller-manager");
      if (spec.ca_key_on_control_plane) {
        ca.files.push_back({h.name, ca.key_path(), layout::kPkiDir + "/ca.key", kKeyMode, "root:root",
                            "spec pki.ca_key_on_control_plane: kube-controller-manager signs CSRs with it"});
      }
      b.send(etcd_ca, h, layout::kEtcdPkiDir + "/ca", false, "the apiserver verifies etcd with it");
      b.send(fp_ca, h, layout::kPkiDir + "/front-proxy-ca", false, "requestheader client CA");
    } else if (h.worker) {
      b.send(ca, h, layout::kPkiDir + "/ca", false, "the kubelet verifies clients with it");
    }
    if (h.etcd && !h.control_plane) b.send(etcd_ca, h, layout::kEtcdPkiDir + "/ca", false, "etcd trusts it");
  }

  // --- Service-account signing key pair.
  auto& sa = b.add("sa", MaterialKind::KeyPair, "pki/sa");
  for (const auto& h : spec.hosts) {
    if (h.control_plane) b.send(sa, h, layout::kPkiDir + "/sa", true, "service-account token signing");
  }

  // --- etcd: server and peer per member, then the two etcd clients.
  for (const auto& h : spec.hosts) {
    if (!h.etcd) continue;
    for (const auto& [kind, cn] : {std::pair{"server", "kube-etcd"}, std::pair{"peer", "kube-etcd-peer"}}) {
      auto& m = b.add(fmt::format("etcd-{}@{}", kind, h.name), MaterialKind::Leaf,
                      fmt::format("hosts/{}/pki/etcd/{}", h.name, kind), "etcd-ca");
      m.leaf = b.leaf(cn, {}, both);
      // kubeadm: hostname, host IP, localhost, 127.0.0.1 and ::1.
      for (const auto& san :
           {h.name, h.address, std::string("localhost"), std::string("127.0.0.1"), std::string("::1")}) {
        add_san(m.leaf, san);
      }
      b.send(m, h, layout::kEtcdPkiDir + "/" + kind, true, fmt::format("etcd {} TLS", kind));
    }
  }
  auto& health = b.add("etcd-healthcheck-client", MaterialKind::Leaf, "pki/etcd/healthcheck-client", "etcd-ca");
  health.leaf = b.leaf("kube-etcd-healthcheck-client", {}, client);
  for (const auto& h : spec.hosts) {
    if (h.etcd) b.send(health, h, layout::kEtcdPkiDir + "/healthcheck-client", true, "etcdctl health checks");
  }
  auto& etcd_client = b.add("apiserver-etcd-client", MaterialKind::Leaf, "pki/apiserver-etcd-client", "etcd-ca");
  etcd_client.leaf = b.leaf("kube-apiserver-etcd-client", {}, client);

  // --- kube-apiserver serving certificate: every name a client may dial.
  auto& apiserver = b.add("apiserver", MaterialKind::Leaf, "pki/apiserver", "ca");
  apiserver.leaf = b.leaf("kube-apiserver", {}, server);
  for (const auto& h : spec.hosts) {
    if (!h.control_plane) continue;
    add_san(apiserver.leaf, h.name);
    add_san(apiserver.leaf, h.address);
  }
  add_san(apiserver.leaf, service_ip);
  add_san(apiserver.leaf, "127.0.0.1");  // k8sfs: local components dial https://127.0.0.1:6443
  for (const auto& name : {"kubernetes", "kubernetes.default", "kubernetes.default.svc"}) add_san(apiserver.leaf, name);
  // The docs' table lists kubernetes.default.svc.cluster as well as the full name.
  add_san(apiserver.leaf, "kubernetes.default.svc." + spec.dns_domain.substr(0, spec.dns_domain.find('.')));
  add_san(apiserver.leaf, "kubernetes.default.svc." + spec.dns_domain);
  add_san(apiserver.leaf, url_host(remote_url));
  for (const auto& extra : spec.apiserver_extra_sans) add_san(apiserver.leaf, extra);

  auto& kubelet_client = b.add("apiserver-kubelet-client", MaterialKind::Leaf, "pki/apiserver-kubelet-client", "ca");
  kubelet_client.leaf = b.leaf("kube-apiserver-kubelet-client", {admin_group}, client);
  auto& fp_client = b.add("front-proxy-client", MaterialKind::Leaf, "pki/front-proxy-client", "front-proxy-ca");
  fp_client.leaf = b.leaf("front-proxy-client", {}, client);
  for (const auto& h : spec.hosts) {
    if (!h.control_plane) continue;
    b.send(etcd_client, h, layout::kPkiDir + "/apiserver-etcd-client", true, "the apiserver's etcd client");
    b.send(apiserver, h, layout::kPkiDir + "/apiserver", true, "the apiserver's serving certificate");
    b.send(kubelet_client, h, layout::kPkiDir + "/apiserver-kubelet-client", true, "apiserver -> kubelet calls");
    b.send(fp_client, h, layout::kPkiDir + "/front-proxy-client", true, "aggregation layer client");
  }

  // --- The metrics add-on's serving certificate, for the name the apiserver's
  // aggregation layer dials (<service>.<namespace>.svc). The first control
  // plane gets it; the add-on's chapter hands it to the pod as a Secret.
  if (spec.metrics_server) {
    auto& metrics = b.add("metrics-server", MaterialKind::Leaf, "pki/metrics-server", "ca");
    metrics.leaf = b.leaf("metrics-server", {}, server);
    add_san(metrics.leaf, "metrics-server.kube-system.svc");
    add_san(metrics.leaf, "metrics-server.kube-system.svc." + spec.dns_domain);
    for (const auto& h : spec.hosts) {
      if (!h.control_plane) continue;
      b.send(metrics, h, layout::kPkiDir + "/metrics-server", true, "the metrics add-on's Secret");
      break;
    }
  }

  // --- Per node: kubelet serving certificate (k8sfs issues it instead of
  // letting the kubelet self-sign, so the apiserver can verify kubelets).
  for (const auto& h : spec.hosts) {
    if (!h.worker) continue;
    auto& m = b.add("kubelet@" + h.name, MaterialKind::Leaf, fmt::format("hosts/{}/pki/kubelet", h.name), "ca");
    m.leaf = b.leaf("system:node:" + h.name, {"system:nodes"}, server);
    add_san(m.leaf, h.name);
    add_san(m.leaf, h.address);
    b.send(m, h, layout::kKubeletPkiDir + "/kubelet", true, "the kubelet's serving certificate");
  }

  // --- Kubeconfigs with embedded client certificates.
  auto kubeconfig = [&](const std::string& name, const std::string& path, const std::string& cn,
                        std::vector<std::string> orgs, const std::string& url) -> Material& {
    auto& m = b.add(name, MaterialKind::Kubeconfig, path, "ca");
    m.leaf = b.leaf(cn, std::move(orgs), client);
    m.server = url;
    return m;
  };
  auto& admin = kubeconfig("admin.conf", "admin.conf", "kubernetes-admin", {admin_group}, remote_url);
  if (split_admin) {
    auto& super_admin =
        kubeconfig("super-admin.conf", "super-admin.conf", "kubernetes-super-admin", {"system:masters"}, remote_url);
    // As `kubeadm init` does: only on the first control-plane host, where the
    // bootstrap RBAC (the binding that gives admin.conf its rights) is applied.
    for (const auto& h : spec.hosts) {
      if (!h.control_plane) continue;
      b.send(super_admin, h, layout::kSuperAdminConf, false, "bootstrap RBAC (break-glass identity)");
      break;
    }
  }
  auto& cm =
      kubeconfig("controller-manager.conf", "controller-manager.conf", "system:kube-controller-manager", {}, local_url);
  auto& sched = kubeconfig("scheduler.conf", "scheduler.conf", "system:kube-scheduler", {}, local_url);
  for (const auto& h : spec.hosts) {
    if (!h.control_plane) continue;
    b.send(admin, h, layout::kAdminConf, false, "kubectl on the control plane");
    b.send(cm, h, layout::kControllerManagerConf, false, "kube-controller-manager's identity");
    b.send(sched, h, layout::kSchedulerConf, false, "kube-scheduler's identity");
  }
  if (any_of(spec.hosts, &PkiHost::worker)) {
    auto& proxy =
        kubeconfig("kube-proxy.conf", "kube-proxy.conf", "system:kube-proxy", {"system:node-proxier"}, remote_url);
    for (const auto& h : spec.hosts) {
      if (h.worker) b.send(proxy, h, layout::kKubeProxyConf, false, "kube-proxy's identity");
    }
  }
  for (const auto& h : spec.hosts) {
    if (!h.worker) continue;
    auto& m = kubeconfig("kubelet.conf@" + h.name, fmt::format("hosts/{}/kubelet.conf", h.name),
                         "system:node:" + h.name, {"system:nodes"}, remote_url);
    b.send(m, h, layout::kKubeletConf, false, "the kubelet's identity (Node authorizer)");
  }
  return {std::make_move_iterator(b.out.begin()), std::make_move_iterator(b.out.end())};
}

}  // namespace k8sfs::pki
