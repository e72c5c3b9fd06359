// Applying ~/.ssh/config and defaults to explicit connection options.
#include "k8sfs/ssh/options.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

#include "k8sfs/ssh/ssh_config.h"

namespace k8sfs::ssh {
namespace {

struct LocalIdentity {
  std::string home;
  std::string user;
};

LocalIdentity local_identity() {
  LocalIdentity id;
  const passwd* pw = ::getpwuid(::getuid());
  const char* home = std::getenv("HOME");
  id.home = home && *home ? home : (pw ? pw->pw_dir : "/");
  id.user = pw ? pw->pw_name : "root";
  return id;
}

}  // namespace

HostKeyPolicy parse_host_key_policy(const std::string& text) {
  if (text == "strict" || text == "yes") return HostKeyPolicy::Strict;
  if (text == "accept-new") return HostKeyPolicy::AcceptNew;
  if (text == "off" || text == "no") return HostKeyPolicy::Off;
  throw std::invalid_argument("host key policy must be strict, accept-new or off, not '" + text + "'");
}

std::string to_string(HostKeyPolicy policy) {
  switch (policy) {
    case HostKeyPolicy::Strict:
      return "strict";
    case HostKeyPolicy::AcceptNew:
      return "accept-new";
    case HostKeyPolicy::Off:
      return "off";
  }
  return "strict";
}

ResolvedOptions resolve_options(const ConnectOptions& options) {
  if (options.host.empty()) throw std::invalid_argument("no host given");
  const LocalIdentity me = local_identity();

  HostConfig config;
  if (options.ssh_config_file != "none") {
    const std::string path = options.ssh_config_file.empty() ? me.home + "/.ssh/config" : options.ssh_config_file;
    config = SshConfig::load(path, me.home).resolve(options.host);
  }

  ResolvedOptions out;
  out.host = options.host;
  out.port = options.port > 0 ? options.port : config.port.value_or(22);
  out.user = !options.user.empty() ? options.user : config.user.value_or(me.user);
  if (!options.hostname.empty()) {
    out.hostname = options.hostname;
  } else if (config.hostname) {
    out.hostname = expand_path(*config.hostname, me.home, me.user, options.host, out.user, out.port);
  } else {
    out.hostname = options.host;
  }
  auto expand = [&](const std::string& path) {
    return expand_path(path, me.home, me.user, out.hostname, out.user, out.port);
  };
  for (const auto& file : options.identity_files) out.identity_files.push_back(expand(file));
  for (const auto& file : config.identity_files) out.identity_files.push_back(expand(file));
  if (!options.known_hosts_file.empty()) {
    out.known_hosts_file = expand(options.known_hosts_file);
  } else if (config.user_known_hosts_file) {
    out.known_hosts_file = expand(*config.user_known_hosts_file);
  } else {
    out.known_hosts_file = me.home + "/.ssh/known_hosts";
  }
  out.proxy_jump = !options.proxy_jump.empty() ? options.proxy_jump : config.proxy_jump.value_or("");
  if (out.proxy_jump == "none") out.proxy_jump.clear();
  out.host_key_policy = options.host_key_policy;
  out.connect_timeout = options.connect_timeout > 0 ? options.connect_timeout : config.connect_timeout.value_or(10);
  return out;
}

}  // namespace k8sfs::ssh
