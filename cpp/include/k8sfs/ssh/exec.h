// What a remote command is asked to do and what came back.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace k8sfs::ssh {

// Called once per complete output line (without its newline); a last line
// without a newline is delivered when the command ends.
using LineCallback = std::function<void(std::string_view line)>;

struct ExecRequest {
  std::string command;  // a shell command line; build it with join_command
  std::string stdin_data;
  double timeout = 0;                      // seconds; 0 waits forever
  std::map<std::string, std::string> env;  // set through `env`, not AcceptEnv
  bool sudo = false;                       // run through sudo when the login user is not root
  bool check = false;                      // throw CommandError when the exit code is not 0
  LineCallback on_stdout;
  LineCallback on_stderr;
};

struct ExecResult {
  std::string host;
  std::string command;
  int exit_code = -1;       // -1 when the command died of a signal
  std::string exit_signal;  // e.g. "KILL", empty when it exited
  std::string stdout_text;
  std::string stderr_text;
  double elapsed = 0;  // seconds, from opening the channel to its close

  bool ok() const { return exit_code == 0; }
  // The last `lines` lines of stderr, for error messages.
  std::string stderr_tail(std::size_t lines = 10) const;
};

// Splits a byte stream into lines for a LineCallback, keeping the partial
// last line until more data or flush().
class LineSplitter {
 public:
  explicit LineSplitter(LineCallback callback) : callback_(std::move(callback)) {}
  void feed(std::string_view data);
  void flush();

 private:
  LineCallback callback_;
  std::string pending_;
};

// Builds the line actually sent to the server from a request: env
// assignments through `env`, and sudo when asked and the user is not root.
// With a sudo password, sudo reads it from stdin (-S) and never prompts on
// a terminal; without one, sudo -n fails at once instead of hanging.
std::string wrap_command(const ExecRequest& request, std::string_view login_user, bool have_sudo_password);

}  // namespace k8sfs::ssh
