// Small RAII helpers around OpenSSL for the PKI code (private header).
#pragma once

#include <openssl/bio.h>
#include <openssl/err.h>

#include <string>
#include <string_view>

namespace k8sfs::pki::detail {

// The queued OpenSSL errors as one line (and the queue cleared).
inline std::string openssl_error() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

// A memory BIO: empty for writing, or reading from a string.
class Bio {
 public:
  Bio() : bio_(BIO_new(BIO_s_mem())) {}
  explicit Bio(std::string_view data) : bio_(BIO_new_mem_buf(data.data(), static_cast<int>(data.size()))) {}
  ~Bio() { BIO_free(bio_); }
  Bio(const Bio&) = delete;
  Bio& operator=(const Bio&) = delete;
  BIO* get() const { return bio_; }
  std::string str() const {
    char* data = nullptr;
    long len = BIO_get_mem_data(bio_, &data);
    return std::string(data, static_cast<std::size_t>(len));
  }

 private:
  BIO* bio_;
};

}  // namespace k8sfs::pki::detail
