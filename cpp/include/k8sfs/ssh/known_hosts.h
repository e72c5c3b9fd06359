// Reading OpenSSH known_hosts files: which keys a file records for a host.
// libssh decides whether a server key is known; this is for saying which
// keys were expected when it is not (plain and hashed host names).
#pragma once

#include <string>
#include <vector>

namespace k8sfs::ssh {

struct KnownKey {
  std::string type;    // e.g. "ssh-ed25519"
  std::string base64;  // the key blob as written in the file
};

// Whether a known_hosts host field ("name,name2", "[name]:port" or a hashed
// "|1|salt|hash") names `target` ("name", or "[name]:port" off port 22).
bool known_hosts_field_matches(const std::string& field, const std::string& target);

// The keys `path` records for host:port, in file order; none when the file
// is missing. Lines marked @revoked are skipped.
std::vector<KnownKey> known_keys_for(const std::string& path, const std::string& host, int port);

}  // namespace k8sfs::ssh
