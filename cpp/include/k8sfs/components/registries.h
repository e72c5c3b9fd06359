// Where a node's runtime pulls images from: mirrors per registry, the
// credentials and CA certificates of the hosts it talks to, or no pulls at
// all (offline). Rendered for containerd (a hosts.toml per registry under
// certs.d, read at each pull, 1.5+ and 2.x) and for CRI-O (the containers
// configuration: policy.json, registries.conf v2, certs.d, an auth file).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace k8sfs::components {

struct RegistryCredentials {
  std::string username;
  std::string password;
};

struct RegistriesOptions {
  bool offline = false;  // every pull refused: images come only from what k8sfs imports
  // Registry host ("docker.io", "registry.k8s.io") -> endpoints tried first,
  // in order: "https://192.168.50.1:5000" (http:// for a plain-text one).
  std::map<std::string, std::vector<std::string>> mirrors;
  // host[:port] a runtime connects to (a mirror or a registry) -> login.
  std::map<std::string, RegistryCredentials> credentials;
  std::map<std::string, std::string> ca_certificates;  // host[:port] -> PEM
};

struct RegistryFile {
  std::string path;
  std::string content;
  bool secret = false;  // 0600 and never shown: it holds a password
};

inline const std::string kContainerdCertsDir = "/etc/containerd/certs.d";
inline const std::string kContainersCertsDir = "/etc/containers/certs.d";
inline const std::string kCrioAuthFile = "/etc/crio/auth.json";
// What an offline containerd is pointed at: a name that never resolves, so
// a pull fails at once and says why.
inline const std::string kOfflineServer = "https://pulls-are-off.k8sfs.invalid";

// Throws RenderError naming the entry for a host or URL that cannot be written.
void check_registries(const RegistriesOptions& options);

std::vector<RegistryFile> containerd_registry_files(const RegistriesOptions& options);
// policy.json, registries.conf, the CA certificates and (with credentials) the auth file.
std::vector<RegistryFile> crio_registry_files(const RegistriesOptions& options);
// The directories under certs.d k8sfs's files fill (others are removed).
std::vector<std::string> registry_dirs(const std::vector<RegistryFile>& files, const std::string& certs_dir);

}  // namespace k8sfs::components
