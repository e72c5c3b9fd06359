// The PKI directory on the controller: reads what exists, plans what to
// create or reissue (with the reason), writes it atomically with safe
// modes, renews leaves and imports a CA someone already has.
#pragma once

#include <ctime>
#include <string>
#include <vector>

#include "k8sfs/pki/cluster_pki.h"

namespace k8sfs::pki {

enum class PlanAction { Keep, Create, Reissue, Renew };
std::string to_string(PlanAction action);

struct PlanItem {
  std::string name;
  MaterialKind kind = MaterialKind::Leaf;
  PlanAction action = PlanAction::Keep;
  std::string reason;  // why it changes (never key material)
};

struct PkiPlan {
  std::vector<PlanItem> items;  // in the table's order
  std::vector<FileStep> files;  // distribution to hosts
  bool changes() const;
};

// One row of `k8sfs pki check`.
struct CertificateStatus {
  std::string name;
  MaterialKind kind = MaterialKind::Leaf;
  std::string path;  // relative to the directory
  bool present = false;
  std::string subject;  // CN=...,O=...
  std::string issuer;
  std::vector<std::string> sans;  // DNS:..., IP:...
  std::time_t not_after = 0;
  long days_left = 0;
  std::string problem;  // empty when the material matches the table
};

class PkiStore {
 public:
  // `dir` holds kubeadm's layout: pki/..., *.conf, hosts/<host>/...
  explicit PkiStore(std::string dir);
  const std::string& dir() const { return dir_; }

  // What apply() would do; reads only. Leaves expiring within
  // `renew_within_days` are planned for renewal.
  PkiPlan plan(const ClusterPkiSpec& spec, int renew_within_days = 30) const;
  // Brings the directory in line with the table; returns what was done.
  PkiPlan apply(const ClusterPkiSpec& spec, int renew_within_days = 30);
  std::vector<CertificateStatus> check(const ClusterPkiSpec& spec) const;
  // Reissues leaves and kubeconfig certificates by name (all when `names`
  // is empty), keeping the CAs; the same key unless `new_key`.
  std::vector<std::string> renew(const ClusterPkiSpec& spec, const std::vector<std::string>& names, bool new_key);
  // Brings your own CA: `which` is ca, etcd-ca or front-proxy-ca. The
  // certificate must be a CA and the key must be its key; nothing is
  // written otherwise. Leaves it did not sign are reissued by the next apply.
  void import_ca(const std::string& which, const std::string& cert_pem, const std::string& key_pem,
                 const std::string& source);

  // Content of a file in the directory (for the distribution step).
  std::string read(const std::string& relative) const;

 private:
  std::string dir_;
};

}  // namespace k8sfs::pki
