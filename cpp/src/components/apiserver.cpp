// kube-apiserver rendering. Flags per K8S-REFERENCE §3: nothing a version
// rejects (no insecure-port/kubelet-https), everything it requires
// (service-account issuer and keys from 1.20).
#include "k8sfs/components/apiserver.h"

#include <fmt/format.h>

#include "unit_file.h"

namespace k8sfs::components {

std::string service_account_issuer(const std::string& dns_domain) {
  return "https://kubernetes.default.svc." + dns_domain;
}

std::vector<std::string> apiserver_flags(const ApiserverOptions& o) {
  if (o.advertise_address.empty()) throw RenderError("kube-apiserver needs an advertise address");
  const std::string& p = o.pki_dir;
  std::vector<std::string> flags = {
      "--advertise-address=" + o.advertise_address,
      "--allow-privileged=true",
      "--audit-log-maxage=30",
      "--audit-log-maxbackup=10",  // CIS 1.2.18
      "--audit-log-maxsize=100",
      "--audit-log-path=" + o.audit_log,
      "--audit-policy-file=" + o.audit_policy,
      "--authorization-mode=Node,RBAC",
      "--bind-address=0.0.0.0",
      "--client-ca-file=" + p + "/ca.crt",
      "--enable-admission-plugins=NodeRestriction",
      // Webhooks and aggregated APIs are called at their endpoints (pod IPs,
      // which the control plane routes to), not their ClusterIP: no
      // kube-proxy runs on a control-plane host.
      "--enable-aggregator-routing=true",
      "--encryption-provider-config=" + o.encryption_config,
      "--etcd-cafile=" + p + "/etcd/ca.crt",
      "--etcd-certfile=" + p + "/apiserver-etcd-client.crt",
      "--etcd-keyfile=" + p + "/apiserver-etcd-client.key",
      "--etcd-servers=" + o.etcd_servers,
      // k8sfs issues the kubelets' serving certificates, so the apiserver verifies them.
      "--kubelet-certificate-authority=" + p + "/ca.crt",
      "--kubelet-client-certificate=" + p + "/apiserver-kubelet-client.crt",
      "--kubelet-client-key=" + p + "/apiserver-kubelet-client.key",
      "--kubelet-preferred-address-types=InternalIP,Hostname",
      "--profiling=false",  // CIS 1.2.15
      "--proxy-client-cert-file=" + p + "/front-proxy-client.crt",
      "--proxy-client-key-file=" + p + "/front-proxy-client.key",
      "--requestheader-allowed-names=front-proxy-client",
      "--requestheader-client-ca-file=" + p + "/front-proxy-ca.crt",
      "--requestheader-extra-headers-prefix=X-Remote-Extra-",
      "--requestheader-group-headers=X-Remote-Group",
      "--requestheader-username-headers=X-Remote-User",
      "--secure-port=6443",
      "--service-account-extend-token-expiration=false",  // CIS 1.2.30: tokens live as long as they say
      "--service-account-issuer=" + service_account_issuer(o.dns_domain),
      "--service-account-key-file=" + p + "/sa.pub",
      "--service-account-signing-key-file=" + p + "/sa.key",
      "--service-cluster-ip-range=" + o.service_cidr,
      "--service-node-port-range=" + o.node_port_range,
      "--tls-cert-file=" + p + "/apiserver.crt",
      "--tls-private-key-file=" + p + "/apiserver.key",
      "--v=2",
  };
  return flags;
}

std::vector<std::string> apiserver_reads(const ApiserverOptions& o, const std::string& binary) {
  auto files = files_in_flags(apiserver_flags(o), {"--audit-log-path"});
  files.insert(files.begin(), binary);
  return files;
}

std::string render_apiserver_unit(const ApiserverOptions& o, const std::string& binary) {
  return render_component_unit("Kubernetes API server", o.version.str(), "kube-apiserver", binary, apiserver_flags(o),
                               {"LimitNOFILE=65536"});
}

std::string render_encryption_config(const std::string& key_base64, const std::string& key_name) {
  return fmt::format(
      "# Written by k8sfs. Holds the key that encrypts secrets in etcd: keep it 0600.\n"
      "apiVersion: apiserver.config.k8s.io/v1\n"
      "kind: EncryptionConfiguration\n"
      "resources:\n"
      "- resources:\n"
      "  - secrets\n"
      "  providers:\n"
      "  - aescbc:\n"
      "      keys:\n"
      "      - name: {}\n"
      "        secret: {}\n"
      "  - identity: {{}}\n",
      key_name, key_base64);
}

std::string render_audit_policy() {
  // Metadata for everything except the noisy read-only health and event
  // traffic; never request bodies (they carry secrets).
  return "# Written by k8sfs.\n"
         "apiVersion: audit.k8s.io/v1\n"
         "kind: Policy\n"
         "omitStages:\n"
         "- RequestReceived\n"
         "rules:\n"
         "- level: None\n"
         "  nonResourceURLs:\n"
         "  - /healthz*\n"
         "  - /livez*\n"
         "  - /readyz*\n"
         "  - /version\n"
         "- level: None\n"
         "  resources:\n"
         "  - group: \"\"\n"
         "    resources:\n"
         "    - events\n"
         "- level: Metadata\n";
}

}  // namespace k8sfs::components
