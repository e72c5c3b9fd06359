// The cluster's certificate table: every CA, key pair, leaf certificate and
// kubeconfig a from-scratch cluster needs, with kubeadm's subjects, usages
// and SANs, where each lives on the controller and which host gets which
// file. Pure: the same spec gives the same table.
#pragma once

#include <string>
#include <vector>

#include "k8sfs/pki/certificate.h"
#include "k8sfs/pki/key.h"

namespace k8sfs::pki {

struct PkiHost {
  std::string name;     // host name, also the node name (system:node:<name>)
  std::string address;  // IPv4 or IPv6 address the others reach it at
  bool control_plane = false;
  bool etcd = false;
  bool worker = false;  // runs a kubelet and kube-proxy
};

struct ClusterPkiSpec {
  int kubernetes_minor = 34;  // 1.<minor>: picks the admin identity (1.29 split admin/super-admin)
  std::string cluster_name = "kubernetes";
  std::string service_cidr = "10.0.0.0/16";  // its first address is the apiserver's Service IP
  std::string dns_domain = "cluster.local";
  std::vector<PkiHost> hosts;
  std::vector<std::string> apiserver_extra_sans;  // DNS names or IPs (load balancer, public name)
  // Where components off the control plane (kubelets, kube-proxy, admin)
  // reach the apiserver; empty means https://<first control-plane address>:6443.
  std::string api_server_url;
  KeyType key_type = KeyType::EcdsaP256;
  int ca_validity_days = 3650;
  int leaf_validity_days = 365;
  // kube-controller-manager's CSR signer needs ca.key on the control plane;
  // off by default so the CA key never leaves the controller.
  bool ca_key_on_control_plane = false;
  // The metrics add-on (spec addons: metrics): metrics-server's serving
  // certificate, so the apiserver verifies the aggregated Metrics API.
  bool metrics_server = false;
};

// One file that goes to one host.
struct FileStep {
  std::string host;
  std::string local;   // relative to the PKI directory on the controller
  std::string remote;  // absolute path on the host
  int mode = 0644;
  std::string owner = "root:root";
  std::string reason;  // why this host gets it (shown in plans)
};

enum class MaterialKind { CertificateAuthority, KeyPair, Leaf, Kubeconfig };
std::string to_string(MaterialKind kind);

struct Material {
  std::string name;  // ca, etcd-ca, apiserver, etcd-server@k8s-master, admin.conf, kubelet.conf@node-1, ...
  MaterialKind kind = MaterialKind::Leaf;
  // Controller path relative to the PKI directory: "pki/apiserver" (the
  // .crt/.key pair), "pki/sa" (.key/.pub) or "admin.conf".
  std::string path;
  std::string ca;               // issuing CA's name (leaves, kubeconfigs)
  LeafSpec leaf;                // leaves and kubeconfigs: the certificate's content
  std::string server;           // kubeconfigs: the apiserver URL
  std::vector<FileStep> files;  // distribution to hosts

  std::string certificate_path() const;  // .crt, .pub or the .conf
  std::string key_path() const;          // .key, or empty for kubeconfigs
};

// The full table for `spec`, CAs first, then key pairs, leaves, kubeconfigs.
// Throws PkiError for an unusable spec (no control-plane host, bad CIDR).
std::vector<Material> cluster_materials(const ClusterPkiSpec& spec);

// First usable address of a CIDR ("10.0.0.0/16" -> "10.0.0.1"), the
// ClusterIP of the `kubernetes` Service.
std::string first_service_ip(const std::string& cidr);

// The group admin.conf's certificate carries: kubeadm:cluster-admins from
// 1.29 (KEP-4214: bound to cluster-admin by RBAC, so it can be revoked, with
// super-admin.conf keeping system:masters), system:masters before.
std::string admin_group(int kubernetes_minor);
// Whether the minor has super-admin.conf beside admin.conf.
bool has_super_admin(int kubernetes_minor);

// The API server URL components off the control plane use.
std::string api_server_url(const ClusterPkiSpec& spec);

}  // namespace k8sfs::pki
