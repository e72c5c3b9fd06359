// How to reach and authenticate to one host.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace k8sfs::ssh {

// What to do with the server's host key.
//   Strict:    it must already be in known_hosts (the default).
//   AcceptNew: an unknown host is trusted on first use and recorded; a
//              changed key is still refused.
//   Off:       no check (for throwaway test hosts only).
enum class HostKeyPolicy { Strict, AcceptNew, Off };

HostKeyPolicy parse_host_key_policy(const std::string& text);
std::string to_string(HostKeyPolicy policy);

struct ConnectOptions {
  std::string host;                         // name as the user wrote it (alias in ssh config)
  std::string hostname;                     // address to connect to; empty: from config or host
  int port = 0;                             // 0: from config, else 22
  std::string user;                         // empty: from config, else the local user
  std::vector<std::string> identity_files;  // tried in order, before config's
  std::string key_passphrase;               // secret: for encrypted key files
  std::string password;                     // secret: password authentication
  bool use_agent = true;                    // try ssh-agent keys (SSH_AUTH_SOCK)
  std::string known_hosts_file;             // empty: ~/.ssh/known_hosts
  HostKeyPolicy host_key_policy = HostKeyPolicy::Strict;
  // Path of the ssh client configuration to honour; empty: ~/.ssh/config;
  // "none": no file.
  std::string ssh_config_file;
  std::string proxy_jump;          // [user@]host[:port][,...]; empty: from config
  double connect_timeout = 0;      // seconds; 0: from config, else 10
  double keepalive_interval = 15;  // seconds between keepalives; 0: none
  std::string sudo_password;       // secret: fed to sudo -S on stdin
};

// The options after ~/.ssh/config was applied: what a connection will use.
struct ResolvedOptions {
  std::string host;
  std::string hostname;
  int port = 22;
  std::string user;
  std::vector<std::string> identity_files;
  std::string known_hosts_file;
  std::string proxy_jump;
  HostKeyPolicy host_key_policy = HostKeyPolicy::Strict;
  double connect_timeout = 10;
};

// Applies the ssh client configuration to `options`: explicit options win,
// then the config file, then defaults. Pure apart from reading the file and
// the environment (HOME, USER).
ResolvedOptions resolve_options(const ConnectOptions& options);

}  // namespace k8sfs::ssh
