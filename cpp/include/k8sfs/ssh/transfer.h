// Options and outcome of copying files to and from a host.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace k8sfs::ssh {

// Called as bytes move: (bytes done, bytes in total).
using ProgressCallback = std::function<void(std::uint64_t done, std::uint64_t total)>;

struct PutOptions {
  std::optional<unsigned> mode;  // e.g. 0644; default: 0644
  std::string owner;             // user name or uid; empty: leave as is
  std::string group;             // group name or gid; empty: leave as is
  bool skip_if_same = true;      // skip when content, mode and owner match
  bool sudo = false;             // place the file through sudo (non-root login)
  ProgressCallback progress;
};

struct PutResult {
  bool changed = false;  // false: the remote file already matched
  std::uint64_t bytes = 0;
  std::string sha256;  // hex digest of the content
  double elapsed = 0;
};

struct GetResult {
  std::uint64_t bytes = 0;
  double elapsed = 0;
};

}  // namespace k8sfs::ssh
