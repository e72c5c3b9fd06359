// Session over libssh: connect, host key policy, authentication, exec with
// streaming callbacks, keepalive. File transfers live in sftp.cpp.
#include "k8sfs/ssh/session.h"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "k8sfs/ssh/errors.h"
#include "k8sfs/ssh/known_hosts.h"
#include "session_impl.h"

namespace k8sfs::ssh {

namespace {

std::once_flag libssh_init_once;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string fingerprint(ssh_key key) {
  unsigned char* hash = nullptr;
  size_t len = 0;
  if (key == nullptr || ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &len) != SSH_OK) {
    return "(unknown)";
  }
  char* text = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
  std::string out = text ? text : "(unknown)";
  ssh_string_free_char(text);
  ssh_clean_pubkey_hash(&hash);
  return out;
}

// Fingerprints of the keys known_hosts records for host:port, for the
// message when the server's key differs from them.
std::string recorded_fingerprints(const std::string& known_hosts, const std::string& host, int port) {
  std::string out;
  for (const auto& known : known_keys_for(known_hosts, host, port)) {
    ssh_key key = nullptr;
    if (ssh_pki_import_pubkey_base64(known.base64.c_str(), ssh_key_type_from_name(known.type.c_str()), &key) !=
        SSH_OK) {
      continue;
    }
    out += fmt::format("{}{} ({})", out.empty() ? "" : ", ", fingerprint(key), known.type);
    ssh_key_free(key);
  }
  return out;
}

// Never prompt on a terminal for a key passphrase: fail instead.
int no_prompt(const char*, char*, size_t, int, int, void*) { return -1; }

// State of one running command, filled in by libssh's channel callbacks.
struct ExecState {
  ExecResult* result;
  LineSplitter out;
  LineSplitter err;
  // An exception thrown by a line callback must not unwind through libssh's
  // C frames: it is kept here and rethrown once the command is done.
  std::exception_ptr callback_error;
  bool got_exit = false;
  bool eof = false;
  bool closed = false;
};

int on_data(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr, void* userdata) {
  auto* state = static_cast<ExecState*>(userdata);
  std::string_view chunk(static_cast<const char*>(data), len);
  (is_stderr ? state->result->stderr_text : state->result->stdout_text).append(chunk);
  if (state->callback_error) return static_cast<int>(len);
  try {
    (is_stderr ? state->err : state->out).feed(chunk);
  } catch (...) {
    state->callback_error = std::current_exception();
  }
  return static_cast<int>(len);
}

void on_exit_status(ssh_session, ssh_channel, int status, void* userdata) {
  auto* state = static_cast<ExecState*>(userdata);
  state->result->exit_code = status;
  state->got_exit = true;
}

void on_exit_signal(ssh_session, ssh_channel, const char* signal, int, const char*, const char*, void* userdata) {
  auto* state = static_cast<ExecState*>(userdata);
  state->result->exit_code = -1;
  state->result->exit_signal = signal ? signal : "";
  state->got_exit = true;
}

void on_eof(ssh_session, ssh_channel, void* userdata) { static_cast<ExecState*>(userdata)->eof = true; }

void on_close(ssh_session, ssh_channel, void* userdata) { static_cast<ExecState*>(userdata)->closed = true; }

// Short form of a command for messages: the first line, at most 200 chars.
std::string brief(const std::string& command) {
  std::string line = command.substr(0, command.find('\n'));
  if (line.size() > 200) line = line.substr(0, 197) + "...";
  if (line.size() < command.size()) line += " ...";
  return line;
}

}  // namespace

Session::Impl::Impl(ConnectOptions opts) : options(std::move(opts)), resolved(resolve_options(options)) {
  std::call_once(libssh_init_once, [] { ssh_init(); });
}

Session::Impl::~Impl() {
  stop_keepalive();
  disconnect();
}

Session::Impl::Endpoint Session::Impl::target() const {
  return Endpoint{"", resolved.hostname, resolved.port, resolved.user};
}

std::string Session::Impl::where() const { return target().where(); }

// AES-GCM first: with AES-NI both ends spend far less CPU per byte on it
// than on chacha20-poly1305 (libssh's first choice), and uploads of
// Kubernetes binaries are most of what k8sfs sends. The others stay
// for hosts without it.
constexpr const char* kCiphers =
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr";

// What every hop shares: the connect timeout, no Nagle delay (commands are
// small round trips), and the known_hosts file.
void Session::Impl::apply_transport_options(ssh_session s) const {
  int one = 1;
  long timeout = std::max(1L, static_cast<long>(resolved.connect_timeout));
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
  ssh_options_set(s, SSH_OPTIONS_NODELAY, &one);
  ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, resolved.known_hosts_file.c_str());
  ssh_options_set(s, SSH_OPTIONS_CIPHERS_C_S, kCiphers);
  ssh_options_set(s, SSH_OPTIONS_CIPHERS_S_C, kCiphers);
}

std::string Session::Impl::where_with_jump() const {
  if (resolved.proxy_jump.empty()) return where();
  return fmt::format("{} via ProxyJump {}", where(), resolved.proxy_jump);
}

void Session::Impl::disconnect() {
  if (sftp != nullptr) {
    sftp_free(sftp);
    sftp = nullptr;
  }
  if (session != nullptr) {
    if (ssh_is_connected(session)) ssh_disconnect(session);
    ssh_free(session);
    session = nullptr;
  }
  connected = false;
}

void Session::Impl::connect_locked() {
  if (connected && session != nullptr && ssh_is_connected(session)) return;
  disconnect();
  const auto& r = resolved;
  session = ssh_new();
  if (session == nullptr) throw ConnectError(r.host, fmt::format("{}: out of memory creating an SSH session", r.host));

  bool no = false;
  // k8sfs applied ~/.ssh/config itself; libssh must not apply it again.
  ssh_options_set(session, SSH_OPTIONS_PROCESS_CONFIG, &no);
  ssh_options_set(session, SSH_OPTIONS_HOST, r.hostname.c_str());
  ssh_options_set(session, SSH_OPTIONS_PORT, &r.port);
  ssh_options_set(session, SSH_OPTIONS_USER, r.user.c_str());
  apply_transport_options(session);
  if (!r.proxy_jump.empty()) {
    if (ssh_options_set(session, SSH_OPTIONS_PROXYJUMP, r.proxy_jump.c_str()) != SSH_OK) {
      std::string message = fmt::format("{}: invalid ProxyJump '{}': {}", r.host, r.proxy_jump, ssh_get_error(session));
      disconnect();
      throw ConnectError(r.host, message);
    }
    // Jump hosts get the same known_hosts, host key policy and credentials
    // as the target, through libssh's per-hop callbacks (one per hop).
    const auto hops = static_cast<std::size_t>(std::count(r.proxy_jump.begin(), r.proxy_jump.end(), ',') + 1);
    jump_callbacks.assign(hops, ssh_jump_callbacks_struct{});
    for (auto& cb : jump_callbacks) {
      cb.userdata = this;
      cb.before_connection = &Impl::jump_before_connection;
      cb.verify_knownhost = &Impl::jump_verify_knownhost;
      cb.authenticate = &Impl::jump_authenticate;
      ssh_options_set(session, SSH_OPTIONS_PROXYJUMP_CB_LIST_APPEND, &cb);
    }
  }
  jump_failure = nullptr;

  if (ssh_connect(session) != SSH_OK) {
    std::string message =
        fmt::format("{}: cannot connect to {}: {}", r.host, where_with_jump(), ssh_get_error(session));
    disconnect();
    if (jump_failure) std::rethrow_exception(jump_failure);
    throw ConnectError(r.host, message);
  }
  try {
    verify_host_key(session, target());
    authenticate(session, target());
  } catch (...) {
    disconnect();
    throw;
  }
  connected = true;
  start_keepalive();
}

void Session::Impl::verify_host_key(ssh_session s, const Endpoint& peer) {
  const auto& r = resolved;
  ssh_key key = nullptr;
  ssh_get_server_publickey(s, &key);
  const std::string offered = fingerprint(key);
  ssh_key_free(key);
  if (s == session) server_fingerprint = offered;
  if (r.host_key_policy == HostKeyPolicy::Off) return;

  const auto state = ssh_session_is_known_server(s);

  switch (state) {
    case SSH_KNOWN_HOSTS_OK:
      return;
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER: {
      const std::string known = recorded_fingerprints(r.known_hosts_file, peer.hostname, peer.port);
      throw HostKeyError(
          r.host, fmt::format("{}: host key of {}{}:{} has CHANGED: the server offers {}, but {} records {}. "
                              "Refusing to connect (this could be a man-in-the-middle). If the host was "
                              "rebuilt, remove the old entry: ssh-keygen -R {} -f {}",
                              r.host, peer.role, peer.hostname, peer.port, offered, r.known_hosts_file,
                              known.empty() ? "another key" : known,
                              peer.port == 22 ? peer.hostname : fmt::format("'[{}]:{}'", peer.hostname, peer.port),
                              r.known_hosts_file));
    }
    case SSH_KNOWN_HOSTS_UNKNOWN:
    case SSH_KNOWN_HOSTS_NOT_FOUND:
      if (r.host_key_policy == HostKeyPolicy::AcceptNew) {
        std::error_code ignored;
        std::filesystem::create_directories(std::filesystem::path(r.known_hosts_file).parent_path(), ignored);
        if (ssh_session_update_known_hosts(s) != SSH_OK) {
          throw HostKeyError(r.host, fmt::format("{}: cannot record the host key of {}{} in {}: {}", r.host, peer.role,
                                                 peer.hostname, r.known_hosts_file, ssh_get_error(s)));
        }
        return;
      }
      throw HostKeyError(r.host, fmt::format("{}: host key of {}{}:{} ({}) is not in {} and the host key policy is "
                                             "strict. Add it to that file, or connect once with accept-new.",
                                             r.host, peer.role, peer.hostname, peer.port, offered, r.known_hosts_file));
    case SSH_KNOWN_HOSTS_ERROR:
    default:
      throw HostKeyError(r.host, fmt::format("{}: cannot check the host key of {}{} against {}: {}", r.host, peer.role,
                                             peer.hostname, r.known_hosts_file, ssh_get_error(s)));
  }
}

void Session::Impl::authenticate(ssh_session s, const Endpoint& peer) {
  const auto& r = resolved;
  std::vector<std::string> tried;

  if (options.use_agent) {
    const char* sock = std::getenv("SSH_AUTH_SOCK");
    if (sock != nullptr && *sock != '\0') {
      if (ssh_userauth_agent(s, nullptr) == SSH_AUTH_SUCCESS) return;
      tried.push_back("ssh-agent (no key accepted)");
    } else {
      tried.push_back("ssh-agent (SSH_AUTH_SOCK not set)");
    }
  }

  std::vector<std::string> keys = r.identity_files;
  if (keys.empty()) {
    const char* home = std::getenv("HOME");
    for (const char* name : {"id_ed25519", "id_ecdsa", "id_rsa"}) {
      std::string path = fmt::format("{}/.ssh/{}", home ? home : "/root", name);
      if (std::filesystem::exists(path)) keys.push_back(path);
    }
  }
  for (const auto& path : keys) {
    if (!std::filesystem::exists(path)) {
      tried.push_back(fmt::format("key {} (file not found)", path));
      continue;
    }
    ssh_key key = nullptr;
    const char* passphrase = options.key_passphrase.empty() ? nullptr : options.key_passphrase.c_str();
    if (ssh_pki_import_privkey_file(path.c_str(), passphrase, no_prompt, nullptr, &key) != SSH_OK) {
      tried.push_back(fmt::format("key {} (cannot read it{})", path,
                                  passphrase ? "; wrong passphrase?" : "; encrypted without a passphrase given?"));
      continue;
    }
    int rc = ssh_userauth_publickey(s, nullptr, key);
    ssh_key_free(key);
    if (rc == SSH_AUTH_SUCCESS) return;
    if (rc == SSH_AUTH_ERROR) {
      throw ConnectionLost(r.host, fmt::format("{}: connection failed during authentication to {}{}: {}", r.host,
                                               peer.role, peer.where(), ssh_get_error(s)));
    }
    tried.push_back(fmt::format("key {} (refused)", path));
  }

  if (!options.password.empty()) {
    if (ssh_userauth_password(s, nullptr, options.password.c_str()) == SSH_AUTH_SUCCESS) return;
    tried.push_back("password (refused)");
  }

  std::string list;
  for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t;
  if (list.empty()) list = "nothing (no agent, no key, no password)";
  throw AuthError(r.host,
                  fmt::format("{}: authentication to {}{} failed; tried: {}", r.host, peer.role, peer.where(), list));
}

std::string Session::Impl::Endpoint::where() const { return fmt::format("{}@{}:{}", user, hostname, port); }

Session::Impl::Endpoint Session::Impl::jump_endpoint(ssh_session jump) {
  Endpoint peer{"jump host ", "", 22, ""};
  char* value = nullptr;
  if (ssh_options_get(jump, SSH_OPTIONS_HOST, &value) == SSH_OK) {
    peer.hostname = value;
    ssh_string_free_char(value);
  }
  if (ssh_options_get(jump, SSH_OPTIONS_USER, &value) == SSH_OK) {
    peer.user = value;
    ssh_string_free_char(value);
  }
  unsigned int port = 22;
  if (ssh_options_get_port(jump, &port) == SSH_OK) peer.port = static_cast<int>(port);
  return peer;
}

int Session::Impl::jump_before_connection(ssh_session jump, void* userdata) {
  static_cast<Impl*>(userdata)->apply_transport_options(jump);
  return SSH_OK;
}

// libssh calls these from inside ssh_connect (C frames): errors are kept
// and rethrown once ssh_connect has returned.
int Session::Impl::jump_step(void* userdata, ssh_session jump, void (Impl::*step)(ssh_session, const Endpoint&)) {
  auto* impl = static_cast<Impl*>(userdata);
  try {
    (impl->*step)(jump, jump_endpoint(jump));
    return SSH_OK;
  } catch (...) {
    impl->jump_failure = std::current_exception();
    return SSH_ERROR;
  }
}

int Session::Impl::jump_verify_knownhost(ssh_session jump, void* userdata) {
  return jump_step(userdata, jump, &Impl::verify_host_key);
}

int Session::Impl::jump_authenticate(ssh_session jump, void* userdata) {
  return jump_step(userdata, jump, &Impl::authenticate);
}

void Session::Impl::start_keepalive() {
  if (options.keepalive_interval <= 0 || keepalive_thread.joinable()) return;
  keepalive_stop = false;
  keepalive_thread = std::thread([this] {
    const auto interval = std::chrono::duration<double>(options.keepalive_interval);
    std::unique_lock<std::mutex> wait_lock(keepalive_mutex);
    while (!keepalive_cv.wait_for(wait_lock, interval, [this] { return keepalive_stop; })) {
      // Skip this beat when a command or transfer holds the session: its
      // own traffic keeps the connection alive.
      std::unique_lock<std::mutex> use(mutex, std::try_to_lock);
      if (!use.owns_lock() || !connected || session == nullptr) continue;
      if (ssh_send_ignore(session, "keepalive@k8sfs") != SSH_OK || !ssh_is_connected(session)) {
        connected = false;
      }
    }
  });
}

void Session::Impl::stop_keepalive() {
  {
    std::lock_guard<std::mutex> guard(keepalive_mutex);
    keepalive_stop = true;
  }
  keepalive_cv.notify_all();
  if (keepalive_thread.joinable()) keepalive_thread.join();
}

[[noreturn]] void Session::Impl::connection_lost(const std::string& doing) {
  std::string detail = session ? ssh_get_error(session) : "";
  if (detail.empty()) detail = "the server closed the connection";
  connected = false;
  disconnect();
  throw ConnectionLost(resolved.host,
                       fmt::format("{}: connection to {} lost while {}: {}", resolved.host, where(), doing, detail));
}

ExecResult Session::Impl::exec_locked(const ExecRequest& request) {
  connect_locked();
  const bool feed_password = request.sudo && resolved.user != "root" && !options.sudo_password.empty();
  const std::string line = wrap_command(request, resolved.user, feed_password);

  ExecResult result;
  result.host = resolved.host;
  result.command = request.command;
  ExecState state{&result, LineSplitter(request.on_stdout), LineSplitter(request.on_stderr), nullptr};
  const auto start = std::chrono::steady_clock::now();

  ssh_channel channel = ssh_channel_new(session);
  if (channel == nullptr) connection_lost(fmt::format("opening a channel for `{}`", brief(request.command)));
  struct ssh_channel_callbacks_struct callbacks{};
  callbacks.userdata = &state;
  callbacks.channel_data_function = on_data;
  callbacks.channel_exit_status_function = on_exit_status;
  callbacks.channel_exit_signal_function = on_exit_signal;
  callbacks.channel_eof_function = on_eof;
  callbacks.channel_close_function = on_close;
  ssh_callbacks_init(&callbacks);
  ssh_set_channel_callbacks(channel, &callbacks);

  auto fail = [&](const std::string& doing) {
    ssh_channel_free(channel);
    connection_lost(doing);
  };
  if (ssh_channel_open_session(channel) != SSH_OK) {
    fail(fmt::format("opening a channel for `{}`", brief(request.command)));
  }
  if (ssh_channel_request_exec(channel, line.c_str()) != SSH_OK) {
    fail(fmt::format("starting `{}`", brief(request.command)));
  }
  std::string input = feed_password ? options.sudo_password + "\n" + request.stdin_data : request.stdin_data;
  std::size_t sent = 0;
  while (sent < input.size()) {
    int n = ssh_channel_write(channel, input.data() + sent,
                              static_cast<uint32_t>(std::min<std::size_t>(input.size() - sent, 1 << 20)));
    if (n == SSH_ERROR) {
      if (state.closed || state.eof) break;  // the command ended without reading all its input
      fail(fmt::format("sending stdin to `{}`", brief(request.command)));
    }
    sent += static_cast<std::size_t>(n);
  }
  if (!state.closed) ssh_channel_send_eof(channel);

  ssh_event event = ssh_event_new();
  ssh_event_add_session(event, session);
  const bool has_deadline = request.timeout > 0;
  const auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    std::chrono::duration<double>(request.timeout));
  bool timed_out = false;
  while (!state.closed && !state.callback_error) {
    int wait_ms = 1000;
    if (has_deadline) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) {
        timed_out = true;
        break;
      }
      wait_ms = static_cast<int>(std::min<long long>(left, 1000));
    }
    int rc = ssh_event_dopoll(event, wait_ms);
    if ((rc == SSH_ERROR && !state.closed) || !ssh_is_connected(session)) {
      ssh_event_remove_session(event, session);
      ssh_event_free(event);
      fail(fmt::format("running `{}`", brief(request.command)));
    }
  }
  ssh_event_remove_session(event, session);
  ssh_event_free(event);
  result.elapsed = seconds_since(start);
  if (!state.callback_error) {
    try {
      state.out.flush();
      state.err.flush();
    } catch (...) {
      state.callback_error = std::current_exception();
    }
  }

  if (timed_out || (state.callback_error && !state.closed)) {
    // sshd delivers the signal to the command's process group.
    ssh_channel_request_send_signal(channel, "KILL");
    ssh_channel_close(channel);
    ssh_channel_free(channel);
    if (state.callback_error) std::rethrow_exception(state.callback_error);
    std::string tail = result.stderr_tail(5);
    throw TimeoutError(resolved.host, fmt::format("{}: `{}` did not finish within {:g}s and was killed{}",
                                                  resolved.host, brief(request.command), request.timeout,
                                                  tail.empty() ? "" : "; stderr ended with:\n" + tail));
  }
  ssh_channel_close(channel);
  ssh_channel_free(channel);
  if (state.callback_error) std::rethrow_exception(state.callback_error);
  if (!state.got_exit) {
    // The channel closed without an exit status: the server side went away.
    if (!ssh_is_connected(session)) connection_lost(fmt::format("running `{}`", brief(request.command)));
  }
  if (request.check && !result.ok()) {
    std::string tail = result.stderr_tail(10);
    throw CommandError(resolved.host,
                       fmt::format("{}: `{}` failed with {}{}", resolved.host, brief(request.command),
                                   result.exit_signal.empty() ? fmt::format("exit code {}", result.exit_code)
                                                              : "signal " + result.exit_signal,
                                   tail.empty() ? "" : "; stderr ended with:\n" + tail),
                       result.exit_code);
  }
  return result;
}

Session::Session(ConnectOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Session::~Session() = default;

void Session::connect() {
  std::lock_guard<std::mutex> guard(impl_->mutex);
  impl_->connect_locked();
}

void Session::reconnect() {
  std::lock_guard<std::mutex> guard(impl_->mutex);
  impl_->disconnect();
  impl_->connect_locked();
}

void Session::close() {
  impl_->stop_keepalive();
  std::lock_guard<std::mutex> guard(impl_->mutex);
  impl_->disconnect();
}

bool Session::is_connected() const {
  std::lock_guard<std::mutex> guard(impl_->mutex);
  return impl_->connected && impl_->session != nullptr && ssh_is_connected(impl_->session);
}

ExecResult Session::exec(const ExecRequest& request) {
  std::lock_guard<std::mutex> guard(impl_->mutex);
  return impl_->exec_locked(request);
}

const ResolvedOptions& Session::resolved() const { return impl_->resolved; }
const std::string& Session::host() const { return impl_->resolved.host; }

std::string Session::host_key_fingerprint() const {
  std::lock_guard<std::mutex> guard(impl_->mutex);
  return impl_->server_fingerprint;
}

}  // namespace k8sfs::ssh
