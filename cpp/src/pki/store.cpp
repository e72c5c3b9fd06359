// The controller's PKI directory: plan (read only), apply, check, renew
// and import. Files are replaced atomically (temp file, fsync, rename), keys
// before certificates, so an interrupted run leaves only whole files and
// the next plan finishes the job.
#include "k8sfs/pki/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "k8sfs/pki/kubeconfig.h"

namespace k8sfs::pki {
namespace fs = std::filesystem;
namespace {

std::optional<std::string> read_optional(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream data;
  data << in.rdbuf();
  return data.str();
}

// Writes content to <path>.k8sfs-tmp, complete and on disk; returns that
// name. On any failure (a full disk) the temp file is gone and path untouched.
fs::path stage(const fs::path& path, const std::string& content, int mode) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) throw PkiError(fmt::format("creating {}: {}", path.parent_path().string(), ec.message()));
  fs::path tmp = path;
  tmp += ".k8sfs-tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) throw PkiError(fmt::format("writing {}: {}", path.string(), std::strerror(errno)));
  ::fchmod(fd, static_cast<mode_t>(mode));  // not narrowed by the umask
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw PkiError(fmt::format("writing {}: {}", path.string(), std::strerror(err)));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw PkiError(fmt::format("writing {}: {}", path.string(), std::strerror(err)));
  }
  return tmp;
}

// Renames a staged file into place (needs no space, so it does not fail for a full disk).
void commit(const fs::path& tmp, const fs::path& path) {
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw PkiError(fmt::format("writing {}: {}", path.string(), std::strerror(err)));
  }
}

void write_atomic(const fs::path& path, const std::string& content, int mode) {
  commit(stage(path, content, mode), path);
}

std::string subject_text(const std::string& cn, const std::vector<std::string>& orgs) {
  std::string out = "CN=" + cn;
  for (const auto& o : orgs) out += ",O=" + o;
  return out;
}

std::vector<std::string> san_list(const std::vector<std::string>& dns, const std::vector<std::string>& ips) {
  std::vector<std::string> out;
  for (const auto& d : dns) out.push_back("DNS:" + d);
  for (const auto& i : ips) out.push_back("IP:" + i);
  std::sort(out.begin(), out.end());
  return out;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

// Whole days left, rounded, so a certificate issued for 365 days shows 365.
long days_until(std::time_t t) {
  double seconds = std::difftime(t, std::time(nullptr));
  return static_cast<long>(seconds >= 0 ? (seconds + 43200) / 86400 : (seconds - 43200) / 86400);
}

// What exists on disk for one material.
struct Loaded {
  std::optional<Certificate> cert;
  std::optional<PrivateKey> key;
  std::optional<std::string> public_pem;  // key pairs
  std::optional<KubeconfigContent> kubeconfig;
  std::string unreadable;  // a file exists but cannot be read as what it should be
};

struct CaState {
  std::optional<Certificate> cert;
  bool is_new = false;
};

}  // namespace

std::string to_string(PlanAction action) {
  switch (action) {
    case PlanAction::Keep:
      return "keep";
    case PlanAction::Create:
      return "create";
    case PlanAction::Reissue:
      return "reissue";
    case PlanAction::Renew:
      return "renew";
  }
  return "keep";
}

bool PkiPlan::changes() const {
  return std::any_of(items.begin(), items.end(), [](const PlanItem& i) { return i.action != PlanAction::Keep; });
}

PkiStore::PkiStore(std::string dir) : dir_(std::move(dir)) {}

std::string PkiStore::read(const std::string& relative) const {
  auto data = read_optional(fs::path(dir_) / relative);
  if (!data) throw PkiError(fmt::format("{} is missing in {}", relative, dir_));
  return *data;
}

namespace {

Loaded load(const std::string& dir, const Material& m) {
  Loaded l;
  const fs::path base(dir);
  try {
    if (m.kind == MaterialKind::Kubeconfig) {
      auto text = read_optional(base / m.path);
      if (!text) return l;
      l.kubeconfig = parse_kubeconfig(*text);
      if (!l.kubeconfig) {
        l.unreadable = m.path + " is not a kubeconfig with embedded certificates";
        return l;
      }
      l.cert = Certificate::from_pem(l.kubeconfig->client_certificate_pem, m.path + " client certificate");
      l.key = PrivateKey::from_pem(l.kubeconfig->client_key_pem, m.path + " client key");
      return l;
    }
    if (auto key = read_optional(base / m.key_path())) l.key = PrivateKey::from_pem(*key, m.key_path());
    if (m.kind == MaterialKind::KeyPair) {
      l.public_pem = read_optional(base / m.certificate_path());
    } else if (auto cert = read_optional(base / m.certificate_path())) {
      l.cert = Certificate::from_pem(*cert, m.certificate_path());
    }
  } catch (const PkiError& e) {
    l.unreadable = e.what();
  }
  return l;
}

// The reason a leaf or kubeconfig must be (re)issued, or empty.
PlanItem evaluate(const Material& m, const Loaded& l, const std::map<std::string, CaState>& cas,
                  const ClusterPkiSpec& spec, int renew_within_days) {
  PlanItem item{m.name, m.kind, PlanAction::Keep, {}};
  auto set = [&](PlanAction a, std::string why) {
    item.action = a;
    item.reason = std::move(why);
    return item;
  };
  if (!l.unreadable.empty()) return set(PlanAction::Create, l.unreadable);
  if (m.kind == MaterialKind::KeyPair) {
    if (!l.key) return set(PlanAction::Create, "missing");
    if (!l.public_pem || *l.public_pem != l.key->public_pem()) {
      return set(PlanAction::Reissue,
                 m.certificate_path() + " is missing or is not the public half of " + m.key_path());
    }
    return item;
  }
  if (!l.cert || !l.key) return set(PlanAction::Create, "missing");
  const CaState& ca = cas.at(m.ca);
  if (ca.is_new) return set(PlanAction::Reissue, fmt::format("its CA {} is new", m.ca));
  if (!ca.cert || !l.cert->is_signed_by(*ca.cert)) {
    return set(PlanAction::Reissue, fmt::format("not signed by the current {}", m.ca));
  }
  if (!l.cert->matches(*l.key)) return set(PlanAction::Reissue, "the certificate does not match its key");
  auto have_subject = subject_text(l.cert->common_name(), l.cert->organizations());
  auto want_subject = subject_text(m.leaf.subject.common_name, m.leaf.subject.organizations);
  if (have_subject != want_subject) {
    return set(PlanAction::Reissue, fmt::format("subject is {}, the table wants {}", have_subject, want_subject));
  }
  auto have = san_list(l.cert->dns_names(), l.cert->ip_addresses());
  auto want = san_list(m.leaf.dns_names, m.leaf.ip_addresses);
  if (have != want) {
    std::vector<std::string> added, dropped;
    std::set_difference(want.begin(), want.end(), have.begin(), have.end(), std::back_inserter(added));
    std::set_difference(have.begin(), have.end(), want.begin(), want.end(), std::back_inserter(dropped));
    std::string why = "SANs changed:";
    if (!added.empty()) why += " adds " + join(added);
    if (!dropped.empty()) why += std::string(added.empty() ? "" : ";") + " drops " + join(dropped);
    return set(PlanAction::Reissue, why);
  }
  auto usages = l.cert->extended_usages();
  auto wanted_usages = m.leaf.usages;
  std::sort(usages.begin(), usages.end());
  std::sort(wanted_usages.begin(), wanted_usages.end());
  if (usages != wanted_usages) return set(PlanAction::Reissue, "extended key usages differ from the table");
  if (m.kind == MaterialKind::Kubeconfig) {
    if (l.kubeconfig->server != m.server) {
      return set(PlanAction::Reissue, fmt::format("server is {}, the spec wants {}", l.kubeconfig->server, m.server));
    }
    if (l.kubeconfig->ca_pem != ca.cert->to_pem()) return set(PlanAction::Reissue, "its CA data is not the current ca");
    if (l.kubeconfig->cluster_name != spec.cluster_name) {
      return set(PlanAction::Reissue,
                 fmt::format("cluster name is {}, the spec wants {}", l.kubeconfig->cluster_name, spec.cluster_name));
    }
  }
  long left = days_until(l.cert->not_after());
  if (left < renew_within_days) {
    return set(PlanAction::Renew,
               left < 0 ? fmt::format("expired {} days ago", -left) : fmt::format("expires in {} days", left));
  }
  return item;
}

// Checks a CA pair on disk; an inconsistent CA is an error, never silently replaced.
CaState evaluate_ca(const Material& m, const Loaded& l, PlanItem& item) {
  if (!l.unreadable.empty()) throw PkiError(l.unreadable);
  if (!l.cert && !l.key) {
    item.action = PlanAction::Create;
    item.reason = "missing";
    return CaState{std::nullopt, true};
  }
  if (!l.cert || !l.key) {
    throw PkiError(
        fmt::format("{} exists but {} does not: restore it, import the CA with `k8sfs pki import`, "
                    "or move the directory away to start over",
                    l.cert ? m.certificate_path() : m.key_path(), l.cert ? m.key_path() : m.certificate_path()));
  }
  if (!l.cert->is_ca()) throw PkiError(fmt::format("{} is not a CA certificate", m.certificate_path()));
  if (!l.cert->matches(*l.key)) {
    throw PkiError(
        fmt::format("{} does not match {}: a CA must come with its own key", m.certificate_path(), m.key_path()));
  }
  if (days_until(l.cert->not_after()) < 0) {
    throw PkiError(fmt::format("CA {} has expired; k8sfs does not rotate CAs: import a new one", m.name));
  }
  return CaState{l.cert, false};
}

}  // namespace

PkiPlan PkiStore::plan(const ClusterPkiSpec& spec, int renew_within_days) const {
  PkiPlan plan;
  std::map<std::string, CaState> cas;
  for (const auto& m : cluster_materials(spec)) {
    Loaded l = load(dir_, m);
    PlanItem item{m.name, m.kind, PlanAction::Keep, {}};
    if (m.kind == MaterialKind::CertificateAuthority) {
      cas[m.name] = evaluate_ca(m, l, item);
    } else {
      item = evaluate(m, l, cas, spec, renew_within_days);
    }
    plan.items.push_back(std::move(item));
    plan.files.insert(plan.files.end(), m.files.begin(), m.files.end());
  }
  return plan;
}

namespace {

struct Signer {
  Certificate cert;
  PrivateKey key;
};

// Both files staged before either is renamed into place: a full disk leaves
// neither, never a key without its certificate (which, for a CA, k8sfs would
// refuse to replace).
void write_pair(const fs::path& base, const Material& m, const PrivateKey& key, const std::string& public_text) {
  const fs::path key_tmp = stage(base / m.key_path(), key.to_pem(), 0600);
  fs::path cert_tmp;
  try {
    cert_tmp = stage(base / m.certificate_path(), public_text, 0644);
  } catch (...) {
    ::unlink(key_tmp.c_str());
    throw;
  }
  commit(key_tmp, base / m.key_path());
  commit(cert_tmp, base / m.certificate_path());
}

void issue(const fs::path& base, const Material& m, const PrivateKey& key, const Signer& ca,
           const ClusterPkiSpec& spec) {
  Certificate cert = issue_leaf(m.leaf, key, ca.cert, ca.key);
  if (m.kind == MaterialKind::Kubeconfig) {
    KubeconfigContent content{spec.cluster_name,          m.server,      ca.cert.to_pem(),
                              m.leaf.subject.common_name, cert.to_pem(), key.to_pem()};
    write_atomic(base / m.path, render_kubeconfig(content), 0600);
  } else {
    write_pair(base, m, key, cert.to_pem());
  }
}

Signer load_signer(const std::string& dir, const Material& m) {
  Loaded l = load(dir, m);
  PlanItem ignored;
  evaluate_ca(m, l, ignored);
  if (!l.cert) throw PkiError(fmt::format("CA {} does not exist yet: run `k8sfs pki init` first", m.name));
  return Signer{*l.cert, *l.key};
}

}  // namespace

namespace {

// Generates `count` keys on all cores: RSA keys take a prime search each
// (about 0.1 s for 2048 bits, seconds for 4096), and they are independent.
std::vector<PrivateKey> generate_keys(std::size_t count, KeyType type) {
  std::vector<std::optional<PrivateKey>> keys(count);
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < count; i = next++) keys[i] = PrivateKey::generate(type);
  };
  std::size_t threads = std::min<std::size_t>(count, std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::future<void>> running;
  for (std::size_t t = 1; t < threads; ++t) running.push_back(std::async(std::launch::async, work));
  work();
  for (auto& r : running) r.get();  // rethrows a failure of any thread
  std::vector<PrivateKey> out;
  for (auto& k : keys) out.push_back(std::move(*k));
  return out;
}

}  // namespace

PkiPlan PkiStore::apply(const ClusterPkiSpec& spec, int renew_within_days) {
  PkiPlan done = plan(spec, renew_within_days);
  auto materials = cluster_materials(spec);
  // First decide which items need a fresh key, then make those keys in
  // parallel, then write in table order (CAs before what they sign).
  std::vector<Loaded> loaded(materials.size());
  std::vector<bool> fresh_key(materials.size(), false);
  for (std::size_t i = 0; i < materials.size(); ++i) {
    const Material& m = materials[i];
    const PlanAction action = done.items[i].action;
    if (action == PlanAction::Keep) continue;
    if (m.kind == MaterialKind::CertificateAuthority) {
      fresh_key[i] = action == PlanAction::Create;
      continue;
    }
    loaded[i] = load(dir_, m);
    const Loaded& l = loaded[i];
    if (m.kind == MaterialKind::KeyPair) {
      fresh_key[i] = !l.key || action == PlanAction::Create;
    } else {
      // A renewal keeps the key; a reissue keeps it only if it still belongs to the certificate.
      fresh_key[i] = !(l.key && l.cert && l.cert->matches(*l.key) && action != PlanAction::Create);
    }
  }
  std::vector<PrivateKey> keys = generate_keys(std::count(fresh_key.begin(), fresh_key.end(), true), spec.key_type);
  std::size_t next_key = 0;

  const fs::path base(dir_);
  fs::create_directories(base);
  fs::permissions(base, fs::perms::owner_all, fs::perm_options::replace);  // 0700: it holds keys
  std::map<std::string, Signer> signers;
  for (std::size_t i = 0; i < materials.size(); ++i) {
    const Material& m = materials[i];
    const PlanAction action = done.items[i].action;
    if (m.kind == MaterialKind::CertificateAuthority) {
      if (action == PlanAction::Create) {
        const PrivateKey& key = keys[next_key++];
        Certificate cert = make_ca(key, m.leaf.subject.common_name, m.leaf.validity_days);
        write_pair(base, m, key, cert.to_pem());
        signers.emplace(m.name, Signer{cert, key});
      } else {
        signers.emplace(m.name, load_signer(dir_, m));
      }
      continue;
    }
    if (action == PlanAction::Keep) continue;
    const PrivateKey& key = fresh_key[i] ? keys[next_key++] : *loaded[i].key;
    if (m.kind == MaterialKind::KeyPair) {
      write_pair(base, m, key, key.public_pem());
    } else {
      issue(base, m, key, signers.at(m.ca), spec);
    }
  }
  return done;
}

std::vector<CertificateStatus> PkiStore::check(const ClusterPkiSpec& spec) const {
  std::vector<CertificateStatus> rows;
  std::map<std::string, CaState> cas;
  for (const auto& m : cluster_materials(spec)) {
    Loaded l = load(dir_, m);
    CertificateStatus row;
    row.name = m.name;
    row.kind = m.kind;
    row.path = m.certificate_path();
    row.present = l.cert.has_value() || l.key.has_value();
    if (l.cert) {
      row.subject = subject_text(l.cert->common_name(), l.cert->organizations());
      row.issuer = "CN=" + l.cert->issuer_common_name();
      row.sans = san_list(l.cert->dns_names(), l.cert->ip_addresses());
      row.not_after = l.cert->not_after();
      row.days_left = days_until(row.not_after);
    }
    if (m.kind == MaterialKind::CertificateAuthority) {
      PlanItem item;
      try {
        cas[m.name] = evaluate_ca(m, l, item);
        if (item.action == PlanAction::Create) row.problem = "missing";
      } catch (const PkiError& e) {
        row.problem = e.what();
        cas[m.name] = CaState{std::nullopt, false};
      }
    } else {
      PlanItem item = evaluate(m, l, cas, spec, 0);
      if (item.action != PlanAction::Keep) row.problem = item.reason;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<std::string> PkiStore::renew(const ClusterPkiSpec& spec, const std::vector<std::string>& names,
                                         bool new_key) {
  auto materials = cluster_materials(spec);
  std::set<std::string> wanted(names.begin(), names.end());
  std::vector<std::string> renewable;
  for (const auto& m : materials) {
    if (m.kind == MaterialKind::Leaf || m.kind == MaterialKind::Kubeconfig) renewable.push_back(m.name);
  }
  for (const auto& n : wanted) {
    if (std::find(renewable.begin(), renewable.end(), n) == renewable.end()) {
      throw PkiError(fmt::format("no renewable certificate is called '{}'; the names are: {}", n, join(renewable)));
    }
  }
  const fs::path base(dir_);
  std::map<std::string, Signer> signers;
  std::vector<std::string> done;
  for (const auto& m : materials) {
    if (m.kind == MaterialKind::CertificateAuthority) {
      // Every CA is checked before anything is written.
      signers.emplace(m.name, load_signer(dir_, m));
      continue;
    }
    if (m.kind == MaterialKind::KeyPair || (!wanted.empty() && !wanted.count(m.name))) continue;
    Loaded l = load(dir_, m);
    bool keep_key = !new_key && l.key && l.cert && l.cert->matches(*l.key);
    issue(base, m, keep_key ? *l.key : PrivateKey::generate(spec.key_type), signers.at(m.ca), spec);
    done.push_back(m.name);
  }
  return done;
}

void PkiStore::import_ca(const std::string& which, const std::string& cert_pem, const std::string& key_pem,
                         const std::string& source) {
  static const std::map<std::string, std::string> paths = {
      {"ca", "pki/ca"}, {"etcd-ca", "pki/etcd/ca"}, {"front-proxy-ca", "pki/front-proxy-ca"}};
  auto it = paths.find(which);
  if (it == paths.end()) {
    throw PkiError(fmt::format("cannot import '{}': the CAs are ca, etcd-ca and front-proxy-ca", which));
  }
  Certificate cert = Certificate::from_pem(cert_pem, source + " (certificate)");
  PrivateKey key = PrivateKey::from_pem(key_pem, source + " (key)");
  if (!cert.is_ca()) throw PkiError(fmt::format("{}: the certificate is not a CA (basicConstraints CA:TRUE)", source));
  if (!cert.matches(key)) throw PkiError(fmt::format("{}: the key does not belong to the CA certificate", source));
  if (days_until(cert.not_after()) < 0) throw PkiError(fmt::format("{}: the CA certificate has expired", source));
  Material m;
  m.kind = MaterialKind::CertificateAuthority;
  m.path = it->second;
  const fs::path base(dir_);
  fs::create_directories(base);
  fs::permissions(base, fs::perms::owner_all, fs::perm_options::replace);
  write_pair(base, m, key, cert.to_pem());
}

}  // namespace k8sfs::pki
