// Errors raised by the SSH layer. Each names the host it concerns, so a
// message read in a log or a traceback says where things went wrong.
// Messages never contain passwords, passphrases or key material.
#pragma once

#include <stdexcept>
#include <string>

namespace k8sfs::ssh {

// Base of every SSH-layer error.
class Error : public std::runtime_error {
 public:
  Error(std::string host, const std::string& message) : std::runtime_error(message), host_(std::move(host)) {}
  const std::string& host() const noexcept { return host_; }

 private:
  std::string host_;
};

// The TCP connection or the SSH handshake failed (host down, refused,
// unreachable, no route).
class ConnectError : public Error {
  using Error::Error;
};

// Every authentication method that was tried was refused.
class AuthError : public Error {
  using Error::Error;
};

// The server's host key is unknown (strict policy) or differs from the one
// recorded in known_hosts.
class HostKeyError : public Error {
  using Error::Error;
};

// A command ran past its timeout; the remote command was killed.
class TimeoutError : public Error {
  using Error::Error;
};

// An established connection went away (sshd stopped, network dropped).
// The session can be reopened with reconnect() or by the next call.
class ConnectionLost : public Error {
  using Error::Error;
};

// A file transfer failed.
class SftpError : public Error {
  using Error::Error;
};

// A command exited non-zero where success was required (exec with check).
class CommandError : public Error {
 public:
  CommandError(std::string host, const std::string& message, int exit_code)
      : Error(std::move(host), message), exit_code_(exit_code) {}
  int exit_code() const noexcept { return exit_code_; }

 private:
  int exit_code_;
};

}  // namespace k8sfs::ssh
