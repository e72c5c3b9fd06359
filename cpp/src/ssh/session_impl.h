// Private state of a Session, shared by session.cpp (connect, exec) and
// sftp.cpp (transfers). Every *_locked member expects `mutex` to be held.
#pragma once

#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "k8sfs/ssh/session.h"

namespace k8sfs::ssh {

struct Session::Impl {
  explicit Impl(ConnectOptions opts);
  ~Impl();

  void connect_locked();
  void disconnect();
  void verify_host_key();
  void authenticate();
  ExecResult exec_locked(const ExecRequest& request);
  [[noreturn]] void connection_lost(const std::string& doing);
  sftp_session sftp_locked();
  [[noreturn]] void sftp_failed(const std::string& doing, const std::string& path);

  // "user@address:port", for messages.
  std::string where() const;
  std::string where_with_jump() const;

  void start_keepalive();
  void stop_keepalive();

  ConnectOptions options;
  ResolvedOptions resolved;
  mutable std::mutex mutex;  // guards everything below
  ssh_session session = nullptr;
  sftp_session sftp = nullptr;
  bool connected = false;
  std::string server_fingerprint;

  std::thread keepalive_thread;
  std::mutex keepalive_mutex;
  std::condition_variable keepalive_cv;
  bool keepalive_stop = false;
};

}  // namespace k8sfs::ssh
