// Pure parts of running a command: line splitting, the stderr tail for
// messages, and the command line actually sent (env, sudo).
#include "k8sfs/ssh/exec.h"

#include <stdexcept>
#include <vector>

#include "k8sfs/ssh/quote.h"

namespace k8sfs::ssh {

std::string ExecResult::stderr_tail(std::size_t lines) const {
  std::string_view text = stderr_text;
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  std::size_t begin = 0;  // first character of the tail
  std::size_t pos = text.size();
  for (std::size_t n = 0; n < lines; ++n) {
    std::size_t nl = pos == 0 ? std::string_view::npos : text.rfind('\n', pos - 1);
    if (nl == std::string_view::npos) {
      begin = 0;
      break;
    }
    begin = nl + 1;
    pos = nl;
  }
  return std::string(text.substr(begin));
}

void LineSplitter::feed(std::string_view data) {
  if (!callback_) return;
  std::size_t begin = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data[i] != '\n') continue;
    if (pending_.empty()) {
      callback_(data.substr(begin, i - begin));
    } else {
      pending_.append(data.substr(begin, i - begin));
      callback_(pending_);
      pending_.clear();
    }
    begin = i + 1;
  }
  pending_.append(data.substr(begin));
}

void LineSplitter::flush() {
  if (callback_ && !pending_.empty()) callback_(pending_);
  pending_.clear();
}

namespace {

bool valid_env_name(const std::string& name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string wrap_command(const ExecRequest& request, std::string_view login_user, bool have_sudo_password) {
  const bool use_sudo = request.sudo && login_user != "root";
  if (request.env.empty() && !use_sudo) return request.command;

  std::vector<std::string> argv;
  if (use_sudo) {
    if (have_sudo_password) {
      argv = {"sudo", "-S", "-p", "", "--"};
    } else {
      argv = {"sudo", "-n", "--"};
    }
  }
  if (!request.env.empty()) {
    argv.push_back("env");
    for (const auto& [name, value] : request.env) {
      if (!valid_env_name(name)) {
        throw std::invalid_argument("invalid environment variable name: " + quote(name));
      }
      argv.push_back(name + "=" + value);
    }
  }
  argv.insert(argv.end(), {"sh", "-c", request.command});
  return join_command(argv);
}

}  // namespace k8sfs::ssh
