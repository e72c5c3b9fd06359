// One SSH connection to one host, over libssh. Many commands and transfers
// share the connection (one channel each); nothing reconnects per command.
//
// A Session serialises its own use: libssh sessions and channels must never
// be used from two threads at once, so every public call takes the
// session's lock. Use a Pool to work on many hosts in parallel.
#pragma once

#include <memory>
#include <string>

#include "k8sfs/ssh/exec.h"
#include "k8sfs/ssh/options.h"
#include "k8sfs/ssh/transfer.h"

namespace k8sfs::ssh {

class Session {
 public:
  explicit Session(ConnectOptions options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Connects and authenticates; does nothing when already connected.
  // Throws ConnectError, HostKeyError or AuthError.
  void connect();
  // Drops the connection (if any) and connects again.
  void reconnect();
  void close();
  // True when the connection is established and has not been seen to drop.
  bool is_connected() const;

  // Runs a command. Connects first if needed (so a call after a
  // ConnectionLost reopens the connection). Throws TimeoutError when the
  // timeout passes (the remote command is killed), ConnectionLost when the
  // connection drops meanwhile, CommandError when `check` is set and the
  // exit code is not 0.
  ExecResult exec(const ExecRequest& request);

  // Copies a local file to `remote_path` atomically (temporary file next to
  // it, then rename), with mode and owner. Skips the copy when the remote
  // file already has the same sha256, mode and owner.
  PutResult put(const std::string& local_path, const std::string& remote_path, const PutOptions& options = {});
  // Same, with the content given in memory (rendered files).
  PutResult put_content(const std::string& content, const std::string& remote_path, const PutOptions& options = {});
  // Copies a remote file to `local_path` atomically.
  GetResult get(const std::string& remote_path, const std::string& local_path, const ProgressCallback& progress = {});

  // What the connection uses after ~/.ssh/config was applied.
  const ResolvedOptions& resolved() const;
  // Name used in messages: the host as given.
  const std::string& host() const;
  // SHA256 fingerprint of the server's key, "SHA256:..." (empty before connect).
  std::string host_key_fingerprint() const;

  // Private state, defined in src/ssh/session_impl.h; public only so the
  // transfer code there can name it.
  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace k8sfs::ssh
