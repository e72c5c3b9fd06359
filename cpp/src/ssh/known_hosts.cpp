// known_hosts parsing; hashed names are HMAC-SHA1(salt, name) as OpenSSH's
// HashKnownHosts writes them.
#include "k8sfs/ssh/known_hosts.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace k8sfs::ssh {
namespace {

std::string base64_decode(const std::string& text) {
  std::string out((text.size() / 4 + 1) * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return {};
  std::size_t padding = 0;
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) ++padding;
  out.resize(static_cast<std::size_t>(n) - std::min<std::size_t>(padding, static_cast<std::size_t>(n)));
  return out;
}

}  // namespace

bool known_hosts_field_matches(const std::string& field, const std::string& target) {
  if (field.rfind("|1|", 0) == 0) {
    auto bar = field.find('|', 3);
    if (bar == std::string::npos) return false;
    std::string salt = base64_decode(field.substr(3, bar - 3));
    std::string hash = base64_decode(field.substr(bar + 1));
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    HMAC(EVP_sha1(), salt.data(), static_cast<int>(salt.size()), reinterpret_cast<const unsigned char*>(target.data()),
         target.size(), mac, &mac_len);
    return hash.size() == mac_len && std::memcmp(hash.data(), mac, mac_len) == 0;
  }
  std::istringstream names(field);
  std::string name;
  while (std::getline(names, name, ',')) {
    if (name == target) return true;
  }
  return false;
}

std::vector<KnownKey> known_keys_for(const std::string& path, const std::string& host, int port) {
  const std::string target = port == 22 ? host : fmt::format("[{}]:{}", host, port);
  std::vector<KnownKey> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string field, type, blob;
    if (!(words >> field) || field[0] == '#') continue;
    if (field == "@revoked") continue;
    if (field[0] == '@' && !(words >> field)) continue;  // @cert-authority
    if (!(words >> type >> blob) || !known_hosts_field_matches(field, target)) continue;
    out.push_back({type, blob});
  }
  return out;
}

}  // namespace k8sfs::ssh
