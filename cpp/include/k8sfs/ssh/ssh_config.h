// The subset of OpenSSH's client configuration (~/.ssh/config) that k8sfs
// honours: Host blocks with patterns, HostName, User, Port, IdentityFile,
// ProxyJump, UserKnownHostsFile, ConnectTimeout and
// Include. k8sfs parses it itself and hands libssh explicit options, so the
// outcome does not depend on the libssh version's own parser.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace k8sfs::ssh {

// What the configuration says about one host (first value wins, as in ssh).
struct HostConfig {
  std::optional<std::string> hostname;
  std::optional<std::string> user;
  std::optional<int> port;
  std::vector<std::string> identity_files;  // as written; see expand_path
  std::optional<std::string> proxy_jump;
  std::optional<std::string> user_known_hosts_file;
  std::optional<int> connect_timeout;
};

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class SshConfig {
 public:
  // Parses configuration text. `source` names it in error messages
  // ("~/.ssh/config:12: ..."). `home` is used for ~ and %d. Include lines
  // are resolved relative to `include_dir` (~/.ssh for the user's file).
  static SshConfig parse(std::string_view text, const std::string& source, const std::string& home,
                         const std::string& include_dir);
  // Reads a file; a missing file gives an empty configuration.
  static SshConfig load(const std::string& path, const std::string& home);

  // Resolves the options for `host` as `ssh host` would see them.
  HostConfig resolve(std::string_view host) const;

  // Lines that were read but are not honoured (Match blocks). Keywords
  // outside the subset are ignored without a note.
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  struct Entry {
    std::string keyword;  // lower case
    std::string value;
    std::string where;  // "file:line"
  };
  struct Block {
    std::vector<std::string> patterns;  // empty: applies to every host
    bool match_block = false;           // "Match": never applied
    std::vector<Entry> entries;
  };
  void parse_into(std::string_view text, const std::string& source, const std::string& include_dir, int depth);

  std::vector<Block> blocks_;
  std::vector<std::string> notes_;
  std::string home_;
};

// ssh's Host pattern matching: `*` and `?` wildcards, comma or space
// separated lists, `!` negation (a negated match excludes the host).
bool host_matches(std::string_view host, const std::vector<std::string>& patterns);

// Expands ~ and the %-tokens of IdentityFile and similar paths:
// %d home, %u local user, %h host name, %r remote user, %p port, %% a '%'.
std::string expand_path(std::string_view path, const std::string& home, std::string_view local_user,
                        std::string_view host, std::string_view remote_user, int port);

}  // namespace k8sfs::ssh
