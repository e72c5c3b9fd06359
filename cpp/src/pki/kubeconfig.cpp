// Kubeconfig rendering and the small reader for our own output.
#include "k8sfs/pki/kubeconfig.h"

#include <openssl/evp.h>

#include <fmt/format.h>

namespace k8sfs::pki {

std::string base64_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as data bytes.
  std::size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

std::string render_kubeconfig(const KubeconfigContent& c) {
  std::string context = c.user + "@" + c.cluster_name;
  return fmt::format(
      "apiVersion: v1\n"
      "kind: Config\n"
      "clusters:\n"
      "- cluster:\n"
      "    certificate-authority-data: {ca}\n"
      "    server: {server}\n"
      "  name: {cluster}\n"
      "contexts:\n"
      "- context:\n"
      "    cluster: {cluster}\n"
      "    user: {user}\n"
      "  name: {context}\n"
      "current-context: {context}\n"
      "preferences: {{}}\n"
      "users:\n"
      "- name: {user}\n"
      "  user:\n"
      "    client-certificate-data: {cert}\n"
      "    client-key-data: {key}\n",
      fmt::arg("ca", base64_encode(c.ca_pem)), fmt::arg("server", c.server), fmt::arg("cluster", c.cluster_name),
      fmt::arg("user", c.user), fmt::arg("context", context), fmt::arg("cert", base64_encode(c.client_certificate_pem)),
      fmt::arg("key", base64_encode(c.client_key_pem)));
}

namespace {

// The value of the first "<key>: value" line (after indentation or "- ").
std::optional<std::string> field(std::string_view text, std::string_view key) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    std::size_t start = line.find_first_not_of(" -");
    if (start == std::string_view::npos) continue;
    line.remove_prefix(start);
    if (line.size() > key.size() + 1 && line.substr(0, key.size()) == key && line[key.size()] == ':') {
      std::string_view value = line.substr(key.size() + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '"')) value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '"' || value.back() == '\r')) {
        value.remove_suffix(1);
      }
      return std::string(value);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<KubeconfigContent> parse_kubeconfig(std::string_view text) {
  auto server = field(text, "server");
  auto ca = field(text, "certificate-authority-data");
  auto cert = field(text, "client-certificate-data");
  auto key = field(text, "client-key-data");
  auto cluster = field(text, "cluster");
  auto user = field(text, "user");
  if (!server || !ca || !cert || !key) return std::nullopt;
  auto ca_pem = base64_decode(*ca);
  auto cert_pem = base64_decode(*cert);
  auto key_pem = base64_decode(*key);
  if (!ca_pem || !cert_pem || !key_pem) return std::nullopt;
  return KubeconfigContent{cluster.value_or(""), *server, *ca_pem, user.value_or(""), *cert_pem, *key_pem};
}

}  // namespace k8sfs::pki
