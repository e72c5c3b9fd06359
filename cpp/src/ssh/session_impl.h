// Private state of a Session, shared by session.cpp (connect, exec) and
// sftp.cpp (transfers). Every *_locked member expects `mutex` to be held.
#pragma once

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include <condition_variable>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "k8sfs/ssh/session.h"

namespace k8sfs::ssh {

struct Session::Impl {
  explicit Impl(ConnectOptions opts);
  ~Impl();

  // The far end of one SSH hop: the target, or a ProxyJump host.
  struct Endpoint {
    std::string role;  // "" for the target, "jump host " for a hop
    std::string hostname;
    int port = 22;
    std::string user;
    std::string where() const;
  };

  Endpoint target() const;
  void apply_transport_options(ssh_session s) const;
  void connect_locked();
  void disconnect();
  void verify_host_key(ssh_session s, const Endpoint& peer);
  void authenticate(ssh_session s, const Endpoint& peer);
  static Endpoint jump_endpoint(ssh_session jump);
  static int jump_before_connection(ssh_session jump, void* userdata);
  static int jump_verify_knownhost(ssh_session jump, void* userdata);
  static int jump_authenticate(ssh_session jump, void* userdata);
  static int jump_step(void* userdata, ssh_session jump, void (Impl::*step)(ssh_session, const Endpoint&));
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
  std::vector<ssh_jump_callbacks_struct> jump_callbacks;  // must outlive ssh_connect
  std::exception_ptr jump_failure;

  std::thread keepalive_thread;
  std::mutex keepalive_mutex;
  std::condition_variable keepalive_cv;
  bool keepalive_stop = false;
};

}  // namespace k8sfs::ssh
