// etcd: flags (TLS for clients and peers with kubeadm's file names), the
// systemd unit, and the etcdctl arguments of a health check. Pure rendering.
#pragma once

#include <string>
#include <vector>
#include "k8sfs/components/layout.h"

namespace k8sfs::components {

struct EtcdMember {
  std::string name;
  std::string address;
};

struct EtcdOptions {
  std::string version = "v3.6.5";
  EtcdMember self;
  std::vector<EtcdMember> members;  // all members, self included
  std::string cluster_token = "kubernetes";
  std::string data_dir = layout::kEtcdDataDir;
  std::string pki_dir = layout::kEtcdPkiDir;
};

std::vector<std::string> etcd_flags(const EtcdOptions& options);
std::string render_etcd_unit(const EtcdOptions& options, const std::string& binary = layout::binary("etcd"));
// The binary and the certificates and keys etcd reads (not its data dir).
std::vector<std::string> etcd_reads(const EtcdOptions& options, const std::string& binary = layout::binary("etcd"));
// https://<address>:2379 of every member, comma-separated.
std::string etcd_client_urls(const std::vector<EtcdMember>& members);
// etcdctl's TLS arguments with the health-check client certificate.
std::vector<std::string> etcdctl_tls_args(const std::string& pki_dir = layout::kEtcdPkiDir,
                                          const std::string& endpoint = "https://127.0.0.1:2379");

}  // namespace k8sfs::components
