// POSIX shell quoting: single quotes around anything that is not a plain
// word, with each embedded ' written as '\'' (close, escaped quote, reopen).
#include "k8sfs/ssh/quote.h"

#include <stdexcept>

namespace k8sfs::ssh {
namespace {

bool is_plain(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '@' ||
         c == '%' || c == '+' || c == '=' || c == ':' || c == ',' || c == '.' || c == '/' || c == '-';
}

}  // namespace

std::string quote(std::string_view arg) {
  if (arg.find('\0') != std::string_view::npos) {
    throw std::invalid_argument("argument contains a NUL byte, which a remote command cannot receive");
  }
  bool plain = !arg.empty();
  for (char c : arg) plain = plain && is_plain(c);
  if (plain) return std::string(arg);

  std::string out;
  out.reserve(arg.size() + 2);
  out += '\'';
  for (char c : arg) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

std::string join_command(const std::vector<std::string>& argv) {
  if (argv.empty()) throw std::invalid_argument("empty command: argv has no program");
  std::string line;
  for (const auto& arg : argv) {
    if (!line.empty()) line += ' ';
    line += quote(arg);
  }
  return line;
}

}  // namespace k8sfs::ssh
