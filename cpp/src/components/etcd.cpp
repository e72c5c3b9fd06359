// etcd rendering: a member of a static cluster, TLS everywhere (the
// walkthrough's KTHW source runs plain HTTP on loopback; k8sfs does not).
#include "k8sfs/components/etcd.h"

#include <fmt/format.h>

#include "k8sfs/components/version.h"
#include "unit_file.h"

namespace k8sfs::components {
namespace {

std::string url(const std::string& address, int port) {
  bool v6 = address.find(':') != std::string::npos;
  return fmt::format("https://{}{}{}:{}", v6 ? "[" : "", address, v6 ? "]" : "", port);
}

}  // namespace

std::string etcd_client_urls(const std::vector<EtcdMember>& members) {
  std::string out;
  for (const auto& m : members) out += (out.empty() ? "" : ",") + url(m.address, 2379);
  return out;
}

std::vector<std::string> etcd_flags(const EtcdOptions& o) {
  if (o.self.name.empty() || o.self.address.empty()) throw RenderError("etcd member has no name or address");
  std::string initial;
  for (const auto& m : o.members) initial += (initial.empty() ? "" : ",") + m.name + "=" + url(m.address, 2380);
  const std::string& p = o.pki_dir;
  return {
      "--name=" + o.self.name,
      "--data-dir=" + o.data_dir,
      "--listen-client-urls=" + url("127.0.0.1", 2379) + "," + url(o.self.address, 2379),
      "--advertise-client-urls=" + url(o.self.address, 2379),
      "--listen-peer-urls=" + url(o.self.address, 2380),
      "--initial-advertise-peer-urls=" + url(o.self.address, 2380),
      "--initial-cluster=" + initial,
      "--initial-cluster-state=new",
      "--initial-cluster-token=" + o.cluster_token,
      "--client-cert-auth=true",
      "--trusted-ca-file=" + p + "/ca.crt",
      "--cert-file=" + p + "/server.crt",
      "--key-file=" + p + "/server.key",
      "--peer-client-cert-auth=true",
      "--peer-trusted-ca-file=" + p + "/ca.crt",
      "--peer-cert-file=" + p + "/peer.crt",
      "--peer-key-file=" + p + "/peer.key",
      "--listen-metrics-urls=http://127.0.0.1:2381",
      "--snapshot-count=10000",
  };
}

std::vector<std::string> etcd_reads(const EtcdOptions& o, const std::string& binary) {
  auto files = files_in_flags(etcd_flags(o), {"--data-dir"});
  files.insert(files.begin(), binary);
  return files;
}

std::string render_etcd_unit(const EtcdOptions& o, const std::string& binary) {
  UnitSpec unit;
  unit.description = fmt::format("etcd {} (member {})", o.version, o.self.name);
  unit.documentation = "https://etcd.io/docs/";
  unit.exec = binary;
  unit.flags = etcd_flags(o);
  unit.type = "notify";
  unit.extra_service = {"LimitNOFILE=40000"};
  return render_unit(unit);
}

std::vector<std::string> etcdctl_tls_args(const std::string& pki_dir, const std::string& endpoint) {
  return {"--endpoints=" + endpoint, "--cacert=" + pki_dir + "/ca.crt", "--cert=" + pki_dir + "/healthcheck-client.crt",
          "--key=" + pki_dir + "/healthcheck-client.key"};
}

}  // namespace k8sfs::components
