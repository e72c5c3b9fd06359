// The certificate table against the facts of Kubernetes' "PKI certificates
// and requirements" page, the kubeconfig format, and the store's plan /
// apply / renew / import behaviour in a temporary directory.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include <catch2/catch.hpp>

#include "k8sfs/pki/cluster_pki.h"
#include "k8sfs/pki/kubeconfig.h"
#include "k8sfs/pki/store.h"

using namespace k8sfs::pki;
namespace fs = std::filesystem;

namespace {

// The walkthrough's three hosts.
ClusterPkiSpec walkthrough(int minor = 34) {
  ClusterPkiSpec spec;
  spec.kubernetes_minor = minor;
  spec.hosts = {{"k8s-master", "192.168.50.10", true, true, false},
                {"node-1", "192.168.50.11", false, false, true},
                {"node-2", "192.168.50.12", false, false, true}};
  return spec;
}

const Material& find(const std::vector<Material>& all, const std::string& name) {
  auto it = std::find_if(all.begin(), all.end(), [&](const Material& m) { return m.name == name; });
  REQUIRE(it != all.end());
  return *it;
}

bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/k8sfs-pki-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::map<std::string, PlanAction> actions(const PkiPlan& plan) {
  std::map<std::string, PlanAction> out;
  for (const auto& i : plan.items) out[i.name] = i.action;
  return out;
}

}  // namespace

TEST_CASE("first service IP of a range", "[pki][table]") {
  CHECK(first_service_ip("10.0.0.0/16") == "10.0.0.1");
  CHECK(first_service_ip("10.32.0.0/24") == "10.32.0.1");
  CHECK(first_service_ip("10.96.5.7/12") == "10.96.0.1");
  CHECK(first_service_ip("fd00:10:96::/112") == "fd00:10:96::1");
  CHECK_THROWS_AS(first_service_ip("10.0.0.0"), PkiError);
  CHECK_THROWS_AS(first_service_ip("10.0.0.300/16"), PkiError);
}

TEST_CASE("the table holds kubeadm's CAs, subjects and usages", "[pki][table]") {
  auto all = cluster_materials(walkthrough());
  CHECK(find(all, "ca").leaf.subject.common_name == "kubernetes-ca");
  CHECK(find(all, "etcd-ca").leaf.subject.common_name == "etcd-ca");
  CHECK(find(all, "front-proxy-ca").leaf.subject.common_name == "kubernetes-front-proxy-ca");
  CHECK(find(all, "ca").path == "pki/ca");
  CHECK(find(all, "etcd-ca").path == "pki/etcd/ca");
  CHECK(find(all, "sa").key_path() == "pki/sa.key");
  CHECK(find(all, "sa").certificate_path() == "pki/sa.pub");

  struct Row {
    const char* name;
    const char* cn;
    const char* ca;
    std::vector<std::string> orgs;
    std::vector<ExtendedUsage> usages;
  };
  using U = ExtendedUsage;
  const std::vector<Row> rows = {
      {"etcd-server@k8s-master", "kube-etcd", "etcd-ca", {}, {U::ServerAuth, U::ClientAuth}},
      {"etcd-peer@k8s-master", "kube-etcd-peer", "etcd-ca", {}, {U::ServerAuth, U::ClientAuth}},
      {"etcd-healthcheck-client", "kube-etcd-healthcheck-client", "etcd-ca", {}, {U::ClientAuth}},
      {"apiserver-etcd-client", "kube-apiserver-etcd-client", "etcd-ca", {}, {U::ClientAuth}},
      {"apiserver", "kube-apiserver", "ca", {}, {U::ServerAuth}},
      {"apiserver-kubelet-client", "kube-apiserver-kubelet-client", "ca", {"kubeadm:cluster-admins"}, {U::ClientAuth}},
      {"front-proxy-client", "front-proxy-client", "front-proxy-ca", {}, {U::ClientAuth}},
      {"kubelet@node-1", "system:node:node-1", "ca", {"system:nodes"}, {U::ServerAuth}},
      {"admin.conf", "kubernetes-admin", "ca", {"kubeadm:cluster-admins"}, {U::ClientAuth}},
      {"super-admin.conf", "kubernetes-super-admin", "ca", {"system:masters"}, {U::ClientAuth}},
      {"controller-manager.conf", "system:kube-controller-manager", "ca", {}, {U::ClientAuth}},
      {"scheduler.conf", "system:kube-scheduler", "ca", {}, {U::ClientAuth}},
      {"kube-proxy.conf", "system:kube-proxy", "ca", {"system:node-proxier"}, {U::ClientAuth}},
      {"kubelet.conf@node-2", "system:node:node-2", "ca", {"system:nodes"}, {U::ClientAuth}},
  };
  for (const auto& row : rows) {
    INFO(row.name);
    const auto& m = find(all, row.name);
    CHECK(m.leaf.subject.common_name == row.cn);
    CHECK(m.leaf.subject.organizations == row.orgs);
    CHECK(m.ca == row.ca);
    CHECK(m.leaf.usages == row.usages);
  }
}

TEST_CASE("SANs: apiserver, etcd and kubelet names", "[pki][table]") {
  auto spec = walkthrough();
  spec.apiserver_extra_sans = {"api.example.com", "203.0.113.7"};
  auto all = cluster_materials(spec);
  const auto& api = find(all, "apiserver").leaf;
  for (const auto* dns : {"kubernetes", "kubernetes.default", "kubernetes.default.svc",
                          "kubernetes.default.svc.cluster.local", "k8s-master", "api.example.com"}) {
    INFO(dns);
    CHECK(has(api.dns_names, dns));
  }
  for (const auto* ip : {"10.0.0.1", "192.168.50.10", "127.0.0.1", "203.0.113.7"}) {
    INFO(ip);
    CHECK(has(api.ip_addresses, ip));
  }
  CHECK_FALSE(has(api.ip_addresses, "192.168.50.11"));  // workers are not the apiserver

  const auto& etcd = find(all, "etcd-server@k8s-master").leaf;
  CHECK(has(etcd.dns_names, "k8s-master"));
  CHECK(has(etcd.dns_names, "localhost"));
  CHECK(has(etcd.ip_addresses, "192.168.50.10"));
  CHECK(has(etcd.ip_addresses, "127.0.0.1"));

  const auto& kubelet = find(all, "kubelet@node-2").leaf;
  CHECK(kubelet.dns_names == std::vector<std::string>{"node-2"});
  CHECK(kubelet.ip_addresses == std::vector<std::string>{"192.168.50.12"});
  CHECK(find(all, "apiserver-etcd-client").leaf.dns_names.empty());
}

TEST_CASE("before 1.29 admin is system:masters and there is no super-admin", "[pki][table]") {
  auto all = cluster_materials(walkthrough(21));
  CHECK(find(all, "admin.conf").leaf.subject.organizations == std::vector<std::string>{"system:masters"});
  CHECK(std::none_of(all.begin(), all.end(), [](const Material& m) { return m.name == "super-admin.conf"; }));
}

TEST_CASE("kubeconfig servers: local components on loopback, the rest at the control plane", "[pki][table]") {
  auto all = cluster_materials(walkthrough());
  CHECK(find(all, "controller-manager.conf").server == "https://127.0.0.1:6443");
  CHECK(find(all, "scheduler.conf").server == "https://127.0.0.1:6443");
  CHECK(find(all, "kubelet.conf@node-1").server == "https://192.168.50.10:6443");
  CHECK(find(all, "admin.conf").server == "https://192.168.50.10:6443");
}

TEST_CASE("distribution: CA keys stay on the controller unless the spec asks", "[pki][table]") {
  auto spec = walkthrough();
  auto steps_for = [](const std::vector<Material>& all) {
    std::vector<FileStep> steps;
    for (const auto& m : all) steps.insert(steps.end(), m.files.begin(), m.files.end());
    return steps;
  };
  auto steps = steps_for(cluster_materials(spec));
  for (const auto& s : steps) {
    INFO(s.host << " " << s.remote);
    CHECK(s.local.find("ca.key") == std::string::npos);
    bool secret = s.remote.size() > 4 && (s.remote.ends_with(".key") || s.remote.ends_with(".conf"));
    CHECK(s.mode == (secret ? 0600 : 0644));
  }
  auto on = [&](const std::string& host, const std::string& remote) {
    return std::any_of(steps.begin(), steps.end(),
                       [&](const FileStep& s) { return s.host == host && s.remote == remote; });
  };
  CHECK(on("k8s-master", "/etc/kubernetes/pki/apiserver.crt"));
  CHECK(on("k8s-master", "/etc/kubernetes/pki/sa.key"));
  CHECK(on("k8s-master", "/etc/kubernetes/pki/etcd/server.key"));
  CHECK(on("node-1", "/etc/kubernetes/kubelet.conf"));
  CHECK(on("node-1", "/var/lib/kubelet/pki/kubelet.crt"));
  CHECK_FALSE(on("node-1", "/etc/kubernetes/pki/sa.key"));
  CHECK_FALSE(on("node-1", "/etc/kubernetes/pki/apiserver.key"));

  spec.ca_key_on_control_plane = true;
  auto with_key = steps_for(cluster_materials(spec));
  auto ca_key =
      std::find_if(with_key.begin(), with_key.end(), [](const FileStep& s) { return s.local == "pki/ca.key"; });
  REQUIRE(ca_key != with_key.end());
  CHECK(ca_key->host == "k8s-master");
  CHECK(ca_key->mode == 0600);
  CHECK(ca_key->reason.find("ca_key_on_control_plane") != std::string::npos);
}

TEST_CASE("a spec without a control plane is refused", "[pki][table]") {
  ClusterPkiSpec spec;
  spec.hosts = {{"node-1", "192.168.50.11", false, false, true}};
  CHECK_THROWS_WITH(cluster_materials(spec), Catch::Contains("control-plane"));
  spec.hosts = {{"m", "192.168.50.300", true, true, false}};
  CHECK_THROWS_WITH(cluster_materials(spec), Catch::Contains("192.168.50.300"));
}

TEST_CASE("kubeconfig round trip and base64", "[pki][kubeconfig]") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_decode("Zm9vYg==").value() == "foob");
  CHECK_FALSE(base64_decode("Zm9").has_value());
  KubeconfigContent c{"kubernetes", "https://10.0.0.1:6443", "CA PEM\n", "system:node:node-1", "CERT\n", "KEY\n"};
  auto text = render_kubeconfig(c);
  CHECK(text.find("current-context: system:node:node-1@kubernetes") != std::string::npos);
  auto back = parse_kubeconfig(text);
  REQUIRE(back);
  CHECK(back->server == c.server);
  CHECK(back->ca_pem == c.ca_pem);
  CHECK(back->client_certificate_pem == c.client_certificate_pem);
  CHECK(back->client_key_pem == c.client_key_pem);
  CHECK(back->user == c.user);
  CHECK(back->cluster_name == "kubernetes");
  CHECK_FALSE(parse_kubeconfig("apiVersion: v1\nkind: Config\n"));
}

TEST_CASE("store: apply creates everything once, then keeps it", "[pki][store]") {
  TempDir dir;
  PkiStore store(dir.path.string());
  auto spec = walkthrough();
  auto first = store.plan(spec);
  CHECK(first.changes());
  for (const auto& i : first.items) CHECK(i.action == PlanAction::Create);
  CHECK_FALSE(fs::exists(dir.path / "pki"));  // plan writes nothing

  store.apply(spec);
  struct stat st{};
  REQUIRE(::stat((dir.path / "pki/ca.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat((dir.path / "pki/ca.crt").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);
  REQUIRE(::stat((dir.path / "admin.conf").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat(dir.path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  CHECK(fs::exists(dir.path / "hosts/k8s-master/pki/etcd/server.crt"));
  CHECK(fs::exists(dir.path / "hosts/node-2/kubelet.conf"));

  auto second = store.plan(spec);
  CHECK_FALSE(second.changes());
  auto ca_before = slurp(dir.path / "pki/ca.crt");
  store.apply(spec);
  CHECK(slurp(dir.path / "pki/ca.crt") == ca_before);

  SECTION("a node's new IP reissues its serving certificate and says why") {
    spec.hosts[1].address = "192.168.50.21";
    auto plan = store.plan(spec);
    auto a = actions(plan);
    CHECK(a["kubelet@node-1"] == PlanAction::Reissue);
    CHECK(a["kubelet@node-2"] == PlanAction::Keep);
    CHECK(a["apiserver"] == PlanAction::Keep);
    auto item = std::find_if(plan.items.begin(), plan.items.end(), [](auto& i) { return i.name == "kubelet@node-1"; });
    CHECK(item->reason.find("adds IP:192.168.50.21") != std::string::npos);
    CHECK(item->reason.find("drops IP:192.168.50.11") != std::string::npos);
    store.apply(spec);
    CHECK_FALSE(store.plan(spec).changes());
  }
  SECTION("a deleted leaf is recreated, nothing else changes") {
    fs::remove(dir.path / "pki/front-proxy-client.crt");
    auto a = actions(store.plan(spec));
    CHECK(a["front-proxy-client"] == PlanAction::Create);
    CHECK(a["apiserver"] == PlanAction::Keep);
  }
  SECTION("a new control-plane address rewrites the kubeconfigs that point at it") {
    spec.api_server_url = "https://api.example.com:6443";
    auto a = actions(store.plan(spec));
    CHECK(a["admin.conf"] == PlanAction::Reissue);
    CHECK(a["kubelet.conf@node-1"] == PlanAction::Reissue);
    CHECK(a["scheduler.conf"] == PlanAction::Keep);
    CHECK(a["apiserver"] == PlanAction::Reissue);  // the new name is a SAN
  }
  SECTION("leaves close to expiry are planned for renewal") {
    auto a = actions(store.plan(spec, 400));
    CHECK(a["apiserver"] == PlanAction::Renew);
    CHECK(a["ca"] == PlanAction::Keep);
  }
  SECTION("renew keeps the key unless asked, and keeps the CA") {
    auto key = slurp(dir.path / "pki/apiserver.key");
    auto cert = slurp(dir.path / "pki/apiserver.crt");
    CHECK(store.renew(spec, {"apiserver"}, false) == std::vector<std::string>{"apiserver"});
    CHECK(slurp(dir.path / "pki/apiserver.key") == key);
    CHECK(slurp(dir.path / "pki/apiserver.crt") != cert);
    store.renew(spec, {"apiserver"}, true);
    CHECK(slurp(dir.path / "pki/apiserver.key") != key);
    CHECK(slurp(dir.path / "pki/ca.crt") == ca_before);
    CHECK_FALSE(store.plan(spec).changes());
    CHECK_THROWS_WITH(store.renew(spec, {"nope"}, false), Catch::Contains("apiserver"));
  }
  SECTION("a CA that does not match its key is an error, and nothing is written") {
    TempDir other;
    PkiStore(other.path.string()).apply(spec);
    auto foreign_key = slurp(other.path / "pki/ca.key");
    CHECK_THROWS_WITH(store.import_ca("ca", ca_before, foreign_key, "byo"), Catch::Contains("does not belong"));
    CHECK(slurp(dir.path / "pki/ca.key") != foreign_key);
    // On disk: the plan refuses to go on.
    std::ofstream(dir.path / "pki/ca.key") << foreign_key;
    CHECK_THROWS_WITH(store.plan(spec), Catch::Contains("does not match"));
  }
  SECTION("an imported CA makes every leaf it did not sign due for reissue") {
    TempDir other;
    PkiStore(other.path.string()).apply(spec);
    store.import_ca("ca", slurp(other.path / "pki/ca.crt"), slurp(other.path / "pki/ca.key"), "byo");
    auto a = actions(store.plan(spec));
    CHECK(a["ca"] == PlanAction::Keep);
    CHECK(a["apiserver"] == PlanAction::Reissue);
    CHECK(a["etcd-server@k8s-master"] == PlanAction::Keep);  // other CA
  }
}

TEST_CASE("store: check reports every certificate with days left", "[pki][store]") {
  TempDir dir;
  PkiStore store(dir.path.string());
  auto spec = walkthrough();
  auto before = store.check(spec);
  CHECK(std::all_of(before.begin(), before.end(), [](const CertificateStatus& s) { return !s.present; }));
  store.apply(spec);
  for (const auto& row : store.check(spec)) {
    INFO(row.name);
    CHECK(row.present);
    CHECK(row.problem.empty());
    if (row.kind == MaterialKind::CertificateAuthority) CHECK(row.days_left == 3650);
    if (row.kind == MaterialKind::Leaf) CHECK(row.days_left == 365);
  }
}

TEST_CASE("the admin group follows the 1.29 split", "[pki][table]") {
  CHECK(admin_group(28) == "system:masters");
  CHECK_FALSE(has_super_admin(28));
  CHECK(admin_group(29) == "kubeadm:cluster-admins");
  CHECK(has_super_admin(29));
  auto spec = walkthrough();
  spec.kubernetes_minor = 34;
  for (const auto& m : cluster_materials(spec)) {
    if (m.name == "admin.conf") CHECK(m.leaf.subject.organizations == std::vector<std::string>{admin_group(34)});
  }
}
