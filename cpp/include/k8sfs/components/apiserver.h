// kube-apiserver: version-aware flags, systemd unit, the encryption
// configuration for secrets at rest and the audit policy. Pure rendering.
#pragma once

#include <string>
#include <vector>

#include "k8sfs/components/layout.h"
#include "k8sfs/components/version.h"

namespace k8sfs::components {

struct ApiserverOptions {
  KubeVersion version;
  std::string advertise_address;
  std::string etcd_servers = "https://127.0.0.1:2379";
  std::string service_cidr = "10.0.0.0/16";
  std::string dns_domain = "cluster.local";
  std::string pki_dir = layout::kPkiDir;
  std::string encryption_config = layout::kEncryptionConfig;
  std::string audit_policy = layout::kAuditPolicy;
  std::string audit_log = layout::kAuditLog;
  std::string node_port_range = "30000-32767";
};

std::vector<std::string> apiserver_flags(const ApiserverOptions& options);
std::string render_apiserver_unit(const ApiserverOptions& options,
                                  const std::string& binary = layout::binary("kube-apiserver"));
// Every file kube-apiserver reads at start (its binary, certificates, keys,
// encryption config, audit policy); not the audit log it writes.
std::vector<std::string> apiserver_reads(const ApiserverOptions& options,
                                         const std::string& binary = layout::binary("kube-apiserver"));
// aescbc for secrets with `key_base64` (32 random bytes), then identity so
// data written before encryption stays readable. The file holds a secret.
std::string render_encryption_config(const std::string& key_base64, const std::string& key_name = "key1");
std::string render_audit_policy();
// A Service account issuer URL for the cluster domain (kubeadm's form).
std::string service_account_issuer(const std::string& dns_domain);

}  // namespace k8sfs::components
