// Registry configuration for containerd and CRI-O (see registries.h).
#include "k8sfs/components/registries.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <regex>
#include <set>

#include "k8sfs/components/version.h"

namespace k8sfs::components {

namespace {

const std::regex kHostPort(R"([a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?)");
const std::regex kEndpoint(R"((https?)://([a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?)(/[A-Za-z0-9._/-]*)?)");

std::string base64(const std::string& in) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned value = 0;
  int bits = -6;
  for (unsigned char c : in) {
    value = (value << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(table[(value >> bits) & 0x3F]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(table[((value << 8) >> (bits + 8)) & 0x3F]);
  while (out.size() % 4) out.push_back('=');
  return out;
}

// "https://192.168.50.1:5000/v2" -> "192.168.50.1:5000"
std::string host_of(const std::string& endpoint) {
  std::smatch m;
  std::regex_match(endpoint, m, kEndpoint);
  return m[2].str();
}

// A mirror's path is a namespace on that registry: "https://r:5000/docker.io"
// serves docker.io/library/nginx as r:5000/docker.io/library/nginx. CRI-O
// takes that as it is; containerd appends /v2 after a path unless told the
// path is the API root, so it gets "https://r:5000/v2/docker.io" and
// override_path. An endpoint without a path (or ending in /v2) is unchanged.
std::string containerd_host_url(const std::string& endpoint) {
  std::smatch m;
  std::regex_match(endpoint, m, kEndpoint);
  std::string path = m[5].str();
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.empty() || (path.size() >= 3 && path.compare(path.size() - 3, 3, "/v2") == 0)) {
    return endpoint;
  }
  return fmt::format("{}://{}/v2{}", m[1].str(), m[2].str(), path);
}

std::string upstream(const std::string& registry) {
  return registry == "docker.io" ? "https://registry-1.docker.io" : "https://" + registry;
}

std::string file_name(const std::string& host) {
  std::string name = host;
  std::replace(name.begin(), name.end(), ':', '_');
  return name;
}

std::string basic(const RegistryCredentials& c) { return "Basic " + base64(c.username + ":" + c.password); }

// The registries that get a hosts.toml: every mirrored one, and every host
// with a login or a CA that is not a mirror itself (a registry reached directly).
std::set<std::string> registries_to_configure(const RegistriesOptions& o) {
  std::set<std::string> endpoints, registries;
  for (const auto& [registry, list] : o.mirrors) {
    registries.insert(registry);
    for (const auto& e : list) endpoints.insert(host_of(e));
  }
  for (const auto& [host, _] : o.credentials) {
    if (!endpoints.count(host)) registries.insert(host);
  }
  for (const auto& [host, _] : o.ca_certificates) {
    if (!endpoints.count(host)) registries.insert(host);
  }
  return registries;
}

}  // namespace

void check_registries(const RegistriesOptions& o) {
  if (o.offline && !o.mirrors.empty()) {
    throw RenderError("registries: offline refuses every pull, so mirrors would never be used; choose one");
  }
  for (const auto& [registry, list] : o.mirrors) {
    if (!std::regex_match(registry, kHostPort)) {
      throw RenderError(fmt::format("registries.mirrors: '{}' is not a registry host like docker.io", registry));
    }
    if (list.empty()) throw RenderError(fmt::format("registries.mirrors.{}: no endpoint", registry));
    for (const auto& e : list) {
      if (!std::regex_match(e, kEndpoint)) {
        throw RenderError(
            fmt::format("registries.mirrors.{}: '{}' is not an endpoint like https://192.168.50.1:5000", registry, e));
      }
    }
  }
  for (const auto& [host, c] : o.credentials) {
    if (!std::regex_match(host, kHostPort)) {
      throw RenderError(fmt::format("registries.credentials: '{}' is not a host[:port]", host));
    }
    if (c.username.empty() || c.username.find(':') != std::string::npos) {
      throw RenderError(fmt::format("registries.credentials.{}.username: empty or contains ':'", host));
    }
  }
  for (const auto& [host, pem] : o.ca_certificates) {
    if (!std::regex_match(host, kHostPort)) {
      throw RenderError(fmt::format("registries.ca_files: '{}' is not a host[:port]", host));
    }
    if (pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      throw RenderError(fmt::format("registries.ca_files.{}: not a PEM certificate", host));
    }
  }
}

std::vector<RegistryFile> containerd_registry_files(const RegistriesOptions& o) {
  check_registries(o);
  std::vector<RegistryFile> files;
  if (o.offline) {
    // containerd 1.7+ reads _default for every registry without a directory
    // of its own; 1.6 (Debian bookworm's) does not, so the registries
    // manifests name most are written out as well.
    for (const auto& registry : {"_default", "docker.io", "registry.k8s.io", "ghcr.io", "quay.io", "gcr.io",
                                 "mcr.microsoft.com", "public.ecr.aws"}) {
      files.push_back({fmt::format("{}/{}/hosts.toml", kContainerdCertsDir, registry),
                       fmt::format("# Written by k8sfs: offline, every pull is refused (the images k8sfs imports\n"
                                   "# are all a node has); this name never resolves. containerd 1.6 reads\n"
                                   "# the server only as a fallback after a [host], so it is both.\n"
                                   "server = \"{0}\"\n\n[host.\"{0}\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
                                   kOfflineServer)});
    }
    return files;
  }
  for (const auto& registry : registries_to_configure(o)) {
    const std::string dir = kContainerdCertsDir + "/" + registry;
    bool secret = false;
    auto tls_and_login = [&](const std::string& host, const std::string& indent, const std::string& table) {
      std::string out;
      if (auto ca = o.ca_certificates.find(host); ca != o.ca_certificates.end()) {
        const std::string path = dir + "/" + file_name(host) + ".crt";
        files.push_back({path, ca->second});
        out += fmt::format("{}ca = \"{}\"\n", indent, path);
      }
      if (auto login = o.credentials.find(host); login != o.credentials.end()) {
        out += fmt::format("{}[{}header]\n{}  authorization = \"{}\"\n", indent, table, indent, basic(login->second));
        secret = true;
      }
      return out;
    };
    std::string text = fmt::format("# Written by k8sfs: where containerd pulls {} images from.\n", registry);
    text += fmt::format("server = \"{}\"\n", upstream(registry));
    text += tls_and_login(registry, "", "");
    if (auto m = o.mirrors.find(registry); m != o.mirrors.end()) {
      for (const auto& endpoint : m->second) {
        const std::string url = containerd_host_url(endpoint);
        text += fmt::format("\n[host.\"{}\"]\n  capabilities = [\"pull\", \"resolve\"]\n", url);
        if (url != endpoint) text += "  override_path = true\n";
        text += tls_and_login(host_of(endpoint), "  ", fmt::format("host.\"{}\".", url));
      }
    }
    files.push_back({dir + "/hosts.toml", text, secret});
  }
  return files;
}

std::vector<RegistryFile> crio_registry_files(const RegistriesOptions& o) {
  check_registries(o);
  nlohmann::ordered_json policy;
  policy["default"] = nlohmann::json::array({{{"type", o.offline ? "reject" : "insecureAcceptAnything"}}});
  // What k8sfs imports itself comes through these transports, never a registry.
  const auto accept = nlohmann::json::array({{{"type", "insecureAcceptAnything"}}});
  policy["transports"] = {{"docker-archive", {{"", accept}}}, {"containers-storage", {{"", accept}}}};
  std::vector<RegistryFile> files{{"/etc/containers/policy.json", policy.dump(2) + "\n"}};

  std::string conf = o.offline ? "# Written by k8sfs: offline, every pull is refused (policy.json); the images\n"
                                 "# k8sfs imports are all a node has.\n"
                               : "# Written by k8sfs: a short name (busybox) is docker.io's, as containerd and\n"
                                 "# Docker read it; mirrors are tried first.\n";
  // One search registry: enforcing never has to ask which one was meant.
  conf += "unqualified-search-registries = [\"docker.io\"]\nshort-name-mode = \"enforcing\"\n";
  for (const auto& [registry, list] : o.mirrors) {
    conf += fmt::format("\n[[registry]]\nprefix = \"{0}\"\nlocation = \"{0}\"\n", registry);
    for (const auto& endpoint : list) {
      std::smatch m;
      std::regex_match(endpoint, m, kEndpoint);
      conf += fmt::format("\n[[registry.mirror]]\nlocation = \"{}{}\"\n", m[2].str(), m[5].str());
      if (m[1].str() == "http") conf += "insecure = true\n";
    }
  }
  files.push_back({"/etc/containers/registries.conf", conf});
  for (const auto& [host, pem] : o.ca_certificates) {
    files.push_back({kContainersCertsDir + "/" + host + "/ca.crt", pem});
  }
  if (!o.credentials.empty()) {
    nlohmann::ordered_json auths = nlohmann::json::object();
    for (const auto& [host, login] : o.credentials) {
      auths[host == "docker.io" ? "docker.io" : host] = {{"auth", base64(login.username + ":" + login.password)}};
    }
    files.push_back({kCrioAuthFile, nlohmann::ordered_json{{"auths", auths}}.dump(2) + "\n", true});
  }
  return files;
}

std::vector<std::string> registry_dirs(const std::vector<RegistryFile>& files, const std::string& certs_dir) {
  std::set<std::string> dirs;
  const std::string prefix = certs_dir + "/";
  for (const auto& f : files) {
    if (f.path.rfind(prefix, 0) != 0) continue;
    dirs.insert(f.path.substr(prefix.size(), f.path.find('/', prefix.size()) - prefix.size()));
  }
  return {dirs.begin(), dirs.end()};
}

}  // namespace k8sfs::components
