// Component rendering: version parsing, the version-aware kubelet flag set
// (K8S-REFERENCE §3) and the cgroup-driver agreement check.
#include <algorithm>

#include <catch2/catch.hpp>

#include "k8sfs/components/apiserver.h"
#include "k8sfs/components/etcd.h"
#include "k8sfs/components/keepalived.h"
#include "k8sfs/components/kubelet.h"
#include "k8sfs/components/registries.h"
#include "k8sfs/components/runtime.h"
#include "k8sfs/components/service.h"

using namespace k8sfs::components;

namespace {
bool has_prefix(const std::vector<std::string>& flags, const std::string& prefix) {
  return std::any_of(flags.begin(), flags.end(), [&](const std::string& f) { return f.rfind(prefix, 0) == 0; });
}
}  // namespace

TEST_CASE("Kubernetes versions parse and unsupported ones are refused", "[components]") {
  auto v = KubeVersion::parse("v1.21.6");
  CHECK(v.minor == 21);
  CHECK(v.patch == 6);
  CHECK(KubeVersion::parse("1.34.4").str() == "v1.34.4");
  CHECK_THROWS_AS(KubeVersion::parse("v1.20.0"), RenderError);
  CHECK_THROWS_AS(KubeVersion::parse("v1.34"), RenderError);
  CHECK_THROWS_AS(KubeVersion::parse("v1.34.4-rc.0"), RenderError);
}

TEST_CASE("kubelet flags: --container-runtime until 1.23, endpoint flag until 1.26", "[components]") {
  KubeletOptions o;
  o.version = KubeVersion::parse("v1.23.0");
  CHECK(has_prefix(kubelet_flags(o), "--container-runtime=remote"));
  o.version = KubeVersion::parse("v1.26.0");
  CHECK_FALSE(has_prefix(kubelet_flags(o), "--container-runtime=remote"));
  CHECK(has_prefix(kubelet_flags(o), "--container-runtime-endpoint="));
  CHECK(render_kubelet_config(o).find("containerRuntimeEndpoint") == std::string::npos);
  o.version = KubeVersion::parse("v1.27.0");
  CHECK_FALSE(has_prefix(kubelet_flags(o), "--container-runtime-endpoint="));
  CHECK(render_kubelet_config(o).find("containerRuntimeEndpoint: unix:///run/containerd/containerd.sock") !=
        std::string::npos);
}

TEST_CASE("failCgroupV1 is written only when chosen and the version knows it", "[components]") {
  KubeletOptions o;
  o.version = KubeVersion::parse("v1.35.0");
  CHECK(render_kubelet_config(o).find("failCgroupV1") == std::string::npos);
  o.fail_cgroup_v1 = false;
  CHECK(render_kubelet_config(o).find("failCgroupV1: false") != std::string::npos);
  o.version = KubeVersion::parse("v1.30.0");
  CHECK(render_kubelet_config(o).find("failCgroupV1") == std::string::npos);
}

TEST_CASE("cgroup driver from crictl info and the mismatch message", "[components]") {
  auto info =
      R"({"config":{"containerd":{"defaultRuntimeName":"runc","runtimes":{"runc":{"options":{"SystemdCgroup":true}}}}}})";
  CHECK(containerd_cgroup_driver_from_info(info) == CgroupDriver::Systemd);
  CHECK(containerd_cgroup_driver_from_info(R"({"cgroupDriver":"CGROUPFS"})") == CgroupDriver::Cgroupfs);
  CHECK_FALSE(containerd_cgroup_driver_from_info("{}").has_value());
  CHECK(cgroup_driver_mismatch("crio", CgroupDriver::Cgroupfs, CgroupDriver::Cgroupfs).empty());
  auto message = cgroup_driver_mismatch("crio", CgroupDriver::Systemd, CgroupDriver::Cgroupfs);
  CHECK(message.find("crio uses systemd") != std::string::npos);
  CHECK(message.find("cgroup_manager") != std::string::npos);
}

TEST_CASE("etcd: three members know each other, TLS everywhere", "[components]") {
  EtcdOptions o;
  o.members = {{"etcd-a", "10.1.0.1"}, {"etcd-b", "10.1.0.2"}, {"etcd-c", "10.1.0.3"}};
  o.self = o.members[1];
  auto flags = etcd_flags(o);
  auto has = [&](const std::string& f) { return std::find(flags.begin(), flags.end(), f) != flags.end(); };
  CHECK(
      has("--initial-cluster=etcd-a=https://10.1.0.1:2380,etcd-b=https://10.1.0.2:2380,etcd-c=https://10.1.0.3:2380"));
  CHECK(has("--listen-peer-urls=https://10.1.0.2:2380"));
  CHECK(has("--client-cert-auth=true"));
  CHECK(has("--peer-client-cert-auth=true"));
  CHECK_FALSE(has_prefix(flags, "--listen-client-urls=http://"));
  CHECK(etcd_client_urls(o.members) == "https://10.1.0.1:2379,https://10.1.0.2:2379,https://10.1.0.3:2379");
}

TEST_CASE("kube-apiserver flags: required ones present, removed ones absent, for every minor", "[components]") {
  for (int minor = kOldestMinor; minor <= kNewestMinor; ++minor) {
    ApiserverOptions o;
    o.version = KubeVersion::parse("v1." + std::to_string(minor) + ".0");
    o.advertise_address = "192.168.50.10";
    auto flags = apiserver_flags(o);
    INFO("1." << minor);
    // Required since 1.20 (TokenRequest GA).
    CHECK(has_prefix(flags, "--service-account-issuer=https://kubernetes.default.svc.cluster.local"));
    CHECK(has_prefix(flags, "--service-account-key-file="));
    CHECK(has_prefix(flags, "--service-account-signing-key-file="));
    CHECK(has_prefix(flags, "--authorization-mode=Node,RBAC"));
    CHECK(has_prefix(flags, "--enable-admission-plugins=NodeRestriction"));
    CHECK(has_prefix(flags, "--encryption-provider-config="));
    CHECK(has_prefix(flags, "--service-cluster-ip-range=10.0.0.0/16"));
    // Removed in 1.24 (insecure serving), a no-op since 1.19, gone with in-tree clouds.
    for (const char* gone : {"--insecure-port", "--insecure-bind-address", "--port=", "--address=", "--kubelet-https",
                             "--cloud-provider"}) {
      CHECK_FALSE(has_prefix(flags, gone));
    }
  }
  ApiserverOptions empty;
  CHECK_THROWS_AS(apiserver_flags(empty), RenderError);
}

TEST_CASE("encryption configuration: aescbc first, identity to read old data", "[components]") {
  auto text = render_encryption_config("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYg==");
  CHECK(text.find("kind: EncryptionConfiguration") != std::string::npos);
  CHECK(text.find("- aescbc:") < text.find("- identity: {}"));
  CHECK(text.find("secret: c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYg==") != std::string::npos);
}

// What a service reads decides when it restarts: every file named on its
// command line or in its config, never what it writes or its data dir.
TEST_CASE("services declare the files they read", "[components][reads]") {
  ApiserverOptions api;
  api.version = KubeVersion::parse("v1.34.4");
  api.advertise_address = "192.168.50.10";
  auto reads = apiserver_reads(api);
  auto has = [&](const std::string& path) { return std::find(reads.begin(), reads.end(), path) != reads.end(); };
  CHECK(reads.front() == "/usr/local/bin/kube-apiserver");
  for (const char* name : {"ca.crt", "apiserver.crt", "apiserver.key", "apiserver-etcd-client.key", "sa.pub", "sa.key",
                           "front-proxy-client.crt", "etcd/ca.crt"}) {
    CHECK(has(std::string("/etc/kubernetes/pki/") + name));
  }
  CHECK(has(api.encryption_config));
  CHECK(has(api.audit_policy));
  CHECK_FALSE(has(api.audit_log));  // written, not read
  CHECK(std::count(reads.begin(), reads.end(), "/etc/kubernetes/pki/ca.crt") == 1);

  EtcdOptions etcd;
  etcd.self = {"k8s-master", "192.168.50.10"};
  etcd.members = {etcd.self};
  auto etcd_files = etcd_reads(etcd);
  CHECK(std::find(etcd_files.begin(), etcd_files.end(), "/etc/kubernetes/pki/etcd/peer.key") != etcd_files.end());
  CHECK(std::find(etcd_files.begin(), etcd_files.end(), etcd.data_dir) == etcd_files.end());

  KubeletOptions standalone;
  CHECK(kubelet_reads(standalone) == std::vector<std::string>{"/usr/local/bin/kubelet", standalone.config_path});
  KubeletOptions joined;
  joined.kubeconfig = "/etc/kubernetes/kubelet.conf";
  joined.client_ca_file = "/etc/kubernetes/pki/ca.crt";
  joined.tls_cert_file = "/var/lib/kubelet/pki/kubelet.crt";
  joined.tls_private_key_file = "/var/lib/kubelet/pki/kubelet.key";
  CHECK(kubelet_reads(joined).size() == 6);
}

TEST_CASE("keepalived holds the endpoint by unicast VRRP, tracking the local apiserver", "[components][keepalived]") {
  KeepalivedOptions o;
  o.virtual_ip = "192.168.50.9";
  o.self = "192.168.50.10";
  o.peers = {"192.168.50.11", "192.168.50.12"};
  o.priority = 150;
  auto conf = render_keepalived_config(o);
  CHECK(conf.find("unicast_src_ip 192.168.50.10\n") != std::string::npos);
  CHECK(conf.find("    192.168.50.11\n    192.168.50.12\n") != std::string::npos);
  CHECK(conf.find("    192.168.50.9/24 dev eth0\n") != std::string::npos);
  CHECK(conf.find("priority 150\n") != std::string::npos);
  CHECK(conf.find("  nopreempt\n") != std::string::npos);  // a recovered host does not take it back
  CHECK(conf.find("script \"/usr/local/sbin/k8sfs-apiserver-ready\"") != std::string::npos);
  CHECK(conf.find("track_script {\n    apiserver\n  }") != std::string::npos);
  o.peers = {"192.168.50.11; evil"};
  CHECK_THROWS_AS(render_keepalived_config(o), RenderError);
  int id = virtual_router_id_for("kubernetes");
  CHECK(id >= 1);
  CHECK(id <= 255);
  CHECK(id == virtual_router_id_for("kubernetes"));
}

TEST_CASE("a service bundle: the unit where systemd reads it, its program among its reads, its files too",
          "[components][service]") {
  KubeletOptions kubelet;
  kubelet.version = KubeVersion::parse("v1.34.4");
  auto b = kubelet_service(kubelet, "crio");
  CHECK(b.unit == "kubelet");
  CHECK(b.unit_path == "/etc/systemd/system/kubelet.service");
  CHECK(b.binary == "/usr/local/bin/kubelet");
  CHECK(b.unit_text.find("ExecStart=/usr/local/bin/kubelet") != std::string::npos);
  CHECK(b.unit_text.find("Requires=crio.service") != std::string::npos);
  REQUIRE(b.files.size() == 1);
  CHECK(b.files[0].path == kubelet.config_path);
  CHECK(b.files[0].content.find("kind: KubeletConfiguration") != std::string::npos);
  for (const auto& path : {b.binary, b.files[0].path}) {
    CHECK(std::find(b.reads.begin(), b.reads.end(), path) != b.reads.end());
  }

  ApiserverOptions api;
  api.version = KubeVersion::parse("v1.34.4");
  api.advertise_address = "192.168.50.10";
  auto a = apiserver_service(api);
  REQUIRE(a.files.size() == 1);
  CHECK(a.files[0].path == api.audit_policy);  // the encryption config holds a key: the caller adds it
}

TEST_CASE("runtime and one-shot units come from the same renderer as the Kubernetes ones", "[components][service]") {
  auto containerd = containerd_service(ContainerdOptions{}, "2.1.4");
  CHECK(containerd.unit_text.rfind("# Written by k8sfs.\n# containerd 2.1.4", 0) == 0);
  CHECK(containerd.unit_text.find("ExecStartPre=-/sbin/modprobe overlay\nExecStart=/usr/local/bin/containerd\n") !=
        std::string::npos);
  CHECK(containerd.unit_text.find("KillMode=process") != std::string::npos);
  CHECK(containerd.unit_text.find("network-online") == std::string::npos);
  CHECK(containerd.files.at(0).path == "/etc/containerd/config.toml");

  auto crio = crio_service(CrioOptions{}, "1.34.1");
  CHECK(crio.unit_text.find("Restart=on-failure\n") != std::string::npos);
  CHECK(crio.files.at(0).path == "/etc/crio/crio.conf.d/10-k8sfs.conf");

  auto once = oneshot_service("k8sfs-container-host", "host settings", "/usr/local/sbin/k8sfs-container-host",
                              {"containerd.service", "kubelet.service"});
  CHECK(once.binary.empty());
  CHECK(once.unit_text.find("Before=containerd.service kubelet.service\n") != std::string::npos);
  CHECK(once.unit_text.find("Type=oneshot\nRemainAfterExit=yes\n") != std::string::npos);
  CHECK(once.unit_text.find("Restart=") == std::string::npos);  // runs once; a failure stays failed
  CHECK(once.unit_text.find("network-online") == std::string::npos);
  auto routes = oneshot_service("k8sfs-pod-routes", "routes", "/usr/local/sbin/k8sfs-pod-routes", {}, true);
  CHECK(routes.unit_text.find("After=network-online.target\nWants=network-online.target\n") != std::string::npos);
}

TEST_CASE("registries for containerd: a hosts.toml per registry, mirrors first, logins as a secret header",
          "[components][registries]") {
  RegistriesOptions o;
  o.mirrors["docker.io"] = {"https://192.168.50.1:5000", "http://cache.lan"};
  o.credentials["192.168.50.1:5000"] = {"k8sfs", "s3cret"};
  o.ca_certificates["192.168.50.1:5000"] = "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n";
  o.credentials["registry.example.com"] = {"me", "pw"};
  auto files = containerd_registry_files(o);
  REQUIRE(files.size() == 3);  // the CA, docker.io's hosts.toml, registry.example.com's
  const auto& ca = files[0];
  CHECK(ca.path == "/etc/containerd/certs.d/docker.io/192.168.50.1_5000.crt");
  const auto& hub = files[1];
  CHECK(hub.path == "/etc/containerd/certs.d/docker.io/hosts.toml");
  CHECK(hub.secret);
  CHECK(hub.content.find("server = \"https://registry-1.docker.io\"\n") != std::string::npos);
  auto first = hub.content.find("[host.\"https://192.168.50.1:5000\"]");
  auto second = hub.content.find("[host.\"http://cache.lan\"]");
  CHECK(first != std::string::npos);
  CHECK(second > first);  // tried in the spec's order
  CHECK(hub.content.find("ca = \"" + ca.path + "\"") != std::string::npos);
  // base64("k8sfs:s3cret")
  CHECK(hub.content.find("authorization = \"Basic azhzZnM6czNjcmV0\"") != std::string::npos);
  CHECK(files[2].path == "/etc/containerd/certs.d/registry.example.com/hosts.toml");
  CHECK(files[2].content.find("[header]\n  authorization = \"Basic bWU6cHc=\"") != std::string::npos);
  CHECK(registry_dirs(files, kContainerdCertsDir) == std::vector<std::string>{"docker.io", "registry.example.com"});

  RegistriesOptions offline;
  offline.offline = true;
  auto off = containerd_registry_files(offline);
  REQUIRE(off.size() > 2);
  CHECK(off[0].path == "/etc/containerd/certs.d/_default/hosts.toml");
  CHECK(off[1].path == "/etc/containerd/certs.d/docker.io/hosts.toml");  // containerd 1.6 reads no _default
  for (const auto& f : off) CHECK(f.content.find(kOfflineServer) != std::string::npos);
  offline.mirrors["docker.io"] = {"https://192.168.50.1:5000"};
  CHECK_THROWS_WITH(containerd_registry_files(offline), Catch::Contains("offline refuses every pull"));
}

TEST_CASE("registries: a mirror's path is a namespace on that registry, for both runtimes",
          "[components][registries]") {
  RegistriesOptions o;
  o.mirrors["docker.io"] = {"https://192.168.50.1:5000/docker.io", "https://mirror.lan/v2"};
  auto hub = containerd_registry_files(o).at(0);
  // containerd would append /v2 after the path; the API root is said instead.
  CHECK(hub.content.find("[host.\"https://192.168.50.1:5000/v2/docker.io\"]\n  capabilities = [\"pull\", "
                         "\"resolve\"]\n  override_path = true\n") != std::string::npos);
  auto root = hub.content.find("[host.\"https://mirror.lan/v2\"]");  // an API root already: unchanged
  REQUIRE(root != std::string::npos);
  CHECK(hub.content.find("override_path", root) == std::string::npos);
  auto conf = crio_registry_files(o).at(1);
  CHECK(conf.content.find("location = \"192.168.50.1:5000/docker.io\"") != std::string::npos);
}

TEST_CASE("registries for CRI-O: pulls allowed unless offline, mirrors in registries.conf, logins in a 0600 file",
          "[components][registries]") {
  RegistriesOptions o;
  auto defaults = crio_registry_files(o);
  REQUIRE(defaults.size() == 2);
  CHECK(defaults[0].path == "/etc/containers/policy.json");
  CHECK(defaults[0].content.find("insecureAcceptAnything") < defaults[0].content.find("transports"));
  CHECK(defaults[0].content.find("reject") == std::string::npos);

  o.mirrors["docker.io"] = {"http://192.168.50.1:5000/cache"};
  o.credentials["192.168.50.1:5000"] = {"k8sfs", "s3cret"};
  auto files = crio_registry_files(o);
  REQUIRE(files.size() == 3);
  CHECK(files[1].content.find("[[registry]]\nprefix = \"docker.io\"\nlocation = \"docker.io\"\n") != std::string::npos);
  CHECK(files[1].content.find("[[registry.mirror]]\nlocation = \"192.168.50.1:5000/cache\"\ninsecure = true\n") !=
        std::string::npos);
  CHECK(files[2].path == kCrioAuthFile);
  CHECK(files[2].secret);
  CHECK(files[2].content.find("\"192.168.50.1:5000\"") != std::string::npos);
  CHECK(files[2].content.find("azhzZnM6czNjcmV0") != std::string::npos);

  RegistriesOptions offline;
  offline.offline = true;
  auto policy = crio_registry_files(offline)[0].content;
  CHECK(policy.find("\"default\": [\n    {\n      \"type\": \"reject\"") != std::string::npos);

  RegistriesOptions bad;
  bad.mirrors["docker.io"] = {"192.168.50.1:5000"};  // no scheme
  CHECK_THROWS_WITH(crio_registry_files(bad), Catch::Contains("registries.mirrors.docker.io"));
}

TEST_CASE("the runtimes' configs point at the registry configuration", "[components][registries]") {
  ContainerdOptions one;
  CHECK(render_containerd_config(one).find("registry]\n  config_path = \"/etc/containerd/certs.d\"") !=
        std::string::npos);
  ContainerdOptions two;
  two.major_version = 2;
  CHECK(render_containerd_config(two).find("[plugins.'io.containerd.cri.v1.images'.registry]\n  config_path = "
                                           "'/etc/containerd/certs.d'") != std::string::npos);
  CrioOptions crio;
  CHECK(render_crio_config(crio).find("global_auth_file") == std::string::npos);
  crio.global_auth_file = kCrioAuthFile;
  CHECK(render_crio_config(crio).find("global_auth_file = \"/etc/crio/auth.json\"") != std::string::npos);
}
