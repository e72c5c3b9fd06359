// File transfers over SFTP with many requests in flight (libssh's sftp_aio
// API, 0.11+), so a large file moves at the link's speed rather than one
// round trip per 32 KiB. Uploads are atomic: the data goes to a temporary
// file (mode 0600 while it is written), which is then given its mode and
// owner and renamed over the target in one remote command.
#include <fcntl.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "k8sfs/ssh/errors.h"
#include "k8sfs/ssh/quote.h"
#include "session_impl.h"

namespace k8sfs::ssh {
namespace {

constexpr std::size_t kMaxChunk = 256 * 1024;
constexpr std::size_t kMaxInFlight = 64;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string sftp_error_text(int code) {
  switch (code) {
    case SSH_FX_EOF:
      return "unexpected end of file";
    case SSH_FX_NO_SUCH_FILE:
      return "no such file or directory";
    case SSH_FX_PERMISSION_DENIED:
      return "permission denied";
    case SSH_FX_FAILURE:
      return "the server reported a failure (disk full, or a directory in the way?)";
    case SSH_FX_BAD_MESSAGE:
      return "bad message";
    case SSH_FX_NO_CONNECTION:
      return "no connection";
    case SSH_FX_CONNECTION_LOST:
      return "connection lost";
    case SSH_FX_OP_UNSUPPORTED:
      return "operation not supported by the server";
    case SSH_FX_FILE_ALREADY_EXISTS:
      return "file already exists";
    case SSH_FX_WRITE_PROTECT:
      return "filesystem is read-only";
    case SSH_FX_NO_MEDIA:
      return "no media";
    default:
      return fmt::format("SFTP error {}", code);
  }
}

std::string random_suffix() {
  unsigned char bytes[8];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed");
  std::string out;
  for (unsigned char b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

std::string hex(const unsigned char* data, unsigned len) {
  std::string out;
  for (unsigned i = 0; i < len; ++i) out += fmt::format("{:02x}", data[i]);
  return out;
}

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  void update(const char* data, std::size_t n) { EVP_DigestUpdate(ctx_.get(), data, n); }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx_.get(), digest, &len);
    return k8sfs::ssh::hex(digest, len);
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

// Where the bytes of an upload come from: a local file or a string.
class Source {
 public:
  virtual ~Source() = default;
  virtual std::uint64_t size() const = 0;
  // Fills `buffer` with up to buffer.size() bytes from the current position.
  virtual std::size_t read(std::vector<char>& buffer) = 0;
  virtual void rewind() = 0;
  std::string sha256() {
    Sha256 digest;
    std::vector<char> buffer(1 << 20);
    rewind();
    while (std::size_t n = read(buffer)) digest.update(buffer.data(), n);
    rewind();
    return digest.hex();
  }
};

class FileSource : public Source {
 public:
  explicit FileSource(const std::string& path) : path_(path) {
    file_ = std::fopen(path.c_str(), "rb");
    if (file_ == nullptr) throw std::runtime_error(fmt::format("cannot read local file {}", path));
    struct stat st{};
    ::fstat(::fileno(file_), &st);
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  ~FileSource() override { std::fclose(file_); }
  std::uint64_t size() const override { return size_; }
  std::size_t read(std::vector<char>& buffer) override { return std::fread(buffer.data(), 1, buffer.size(), file_); }
  void rewind() override { std::rewind(file_); }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  std::uint64_t size_ = 0;
};

class StringSource : public Source {
 public:
  explicit StringSource(const std::string& content) : content_(content) {}
  std::uint64_t size() const override { return content_.size(); }
  std::size_t read(std::vector<char>& buffer) override {
    std::size_t n = std::min(buffer.size(), content_.size() - pos_);
    std::copy_n(content_.data() + pos_, n, buffer.data());
    pos_ += n;
    return n;
  }
  void rewind() override { pos_ = 0; }

 private:
  const std::string& content_;
  std::size_t pos_ = 0;
};

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_name(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// What the remote side has at the target path, gathered in one command.
struct RemoteState {
  bool dir_exists = false;
  bool file_exists = false;
  std::string sha256;
  unsigned mode = 0;
  std::string user, group, uid, gid;
};

// Args: path, its directory, "digest" or "". Prints "nodir", "nofile", or
// the file's digest ("-" when not asked for: hashing a large file that will
// be replaced anyway is wasted work) and "mode user group uid gid".
constexpr const char* kStateScript =
    "if [ -f \"$1\" ]; then if [ \"$3\" = digest ]; then sha256sum < \"$1\" | cut -c1-64; else echo -; fi; "
    "stat -c '%a %U %G %u %g' -- \"$1\"; elif [ -d \"$2\" ]; then echo nofile; else echo nodir; fi";

// Args: mode (octal), owner[:group] or "", path.
constexpr const char* kMetadataScript = "chmod \"$1\" -- \"$3\" && { [ -z \"$2\" ] || chown -- \"$2\" \"$3\"; }";

RemoteState parse_state(const std::string& out) {
  RemoteState state;
  std::istringstream in(out);
  std::string first;
  in >> first;
  if (first == "nodir") return state;
  state.dir_exists = true;
  if (first == "nofile") return state;
  state.file_exists = true;
  state.sha256 = first;
  std::string mode;
  in >> mode >> state.user >> state.group >> state.uid >> state.gid;
  state.mode = static_cast<unsigned>(std::stoul(mode, nullptr, 8));
  return state;
}

bool owner_matches(const std::string& wanted, const std::string& name, const std::string& id) {
  return wanted.empty() || wanted == name || wanted == id;
}

}  // namespace

sftp_session Session::Impl::sftp_locked() {
  connect_locked();
  if (sftp != nullptr) return sftp;
  sftp = sftp_new(session);
  if (sftp == nullptr) connection_lost("opening the SFTP channel");
  if (sftp_init(sftp) != SSH_OK) {
    int code = sftp_get_error(sftp);
    sftp_free(sftp);
    sftp = nullptr;
    if (!ssh_is_connected(session)) connection_lost("starting SFTP");
    throw SftpError(resolved.host, fmt::format("{}: the SFTP subsystem of {} did not start: {}", resolved.host, where(),
                                               sftp_error_text(code)));
  }
  return sftp;
}

void Session::Impl::sftp_failed(const std::string& doing, const std::string& path) {
  if (session == nullptr || !ssh_is_connected(session)) connection_lost(doing + " " + path);
  const int code = sftp ? sftp_get_error(sftp) : 0;
  throw SftpError(resolved.host, fmt::format("{}: {} {} failed: {}", resolved.host, doing, path,
                                             code ? sftp_error_text(code) : ssh_get_error(session)));
}

namespace {

// Runs a helper command during a transfer, through sudo when asked.
ExecResult run_step(Session::Impl& impl, const std::vector<std::string>& argv, bool sudo, const std::string& what) {
  ExecRequest request;
  request.command = join_command(argv);
  request.sudo = sudo;
  ExecResult result = impl.exec_locked(request);
  if (!result.ok()) {
    throw SftpError(impl.resolved.host, fmt::format("{}: {} failed (exit {}): {}", impl.resolved.host, what,
                                                    result.exit_code, result.stderr_tail(5)));
  }
  return result;
}

PutResult put_from(Session::Impl& impl, Source& source, const std::string& remote_path, const PutOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const std::string& host = impl.resolved.host;
  if (remote_path.empty() || remote_path.back() == '/') {
    throw SftpError(host, fmt::format("{}: put needs a file path, not '{}'", host, remote_path));
  }
  const unsigned mode = options.mode.value_or(0644);
  const bool sudo = options.sudo && impl.resolved.user != "root";
  const std::string dir = parent_dir(remote_path);

  PutResult result;
  result.bytes = source.size();
  // The digest decides whether to skip; without skipping it is computed
  // while the bytes go out instead of in a pass of its own.
  std::optional<Sha256> running;
  if (options.skip_if_same) {
    result.sha256 = source.sha256();
  } else {
    running.emplace();
  }

  const RemoteState state = parse_state(
      run_step(impl, {"sh", "-c", kStateScript, "k8sfs", remote_path, dir, options.skip_if_same ? "digest" : ""}, sudo,
               "checking " + remote_path)
          .stdout_text);
  const bool same_content = state.file_exists && state.sha256 == result.sha256;
  const bool same_meta = state.file_exists && state.mode == mode &&
                         owner_matches(options.owner, state.user, state.uid) &&
                         owner_matches(options.group, state.group, state.gid);
  std::string chown_to = options.owner;
  if (!options.group.empty()) chown_to += ":" + options.group;

  if (options.skip_if_same && same_content) {
    if (!same_meta) {
      // Content is right; only mode or owner need fixing.
      run_step(impl, {"sh", "-c", kMetadataScript, "k8sfs", fmt::format("{:o}", mode), chown_to, remote_path}, sudo,
               "setting mode and owner of " + remote_path);
      result.changed = true;
    }
    result.elapsed = seconds_since(start);
    return result;
  }
  if (!state.dir_exists) run_step(impl, {"mkdir", "-p", "--", dir}, sudo, "creating directory " + dir);

  // Upload to a temporary name; a non-root login with sudo uploads to /tmp
  // (which it can write) and sudo moves the file into place.
  const std::string tmp =
      sudo ? "/tmp/.k8sfs-put-" + random_suffix() : dir + "/." + base_name(remote_path) + ".k8sfs-" + random_suffix();
  sftp_session sftp = impl.sftp_locked();
  sftp_file file = sftp_open(sftp, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_EXCL, 0600);
  if (file == nullptr) impl.sftp_failed("creating", tmp);

  std::size_t chunk = kMaxChunk;
  if (sftp_limits_t limits = sftp_limits(sftp)) {
    if (limits->max_write_length > 0) chunk = std::min<std::size_t>(chunk, limits->max_write_length);
    sftp_limits_free(limits);
  }
  std::deque<sftp_aio> in_flight;
  auto abandon = [&](const std::string& doing) {
    for (auto& aio : in_flight) sftp_aio_free(aio);
    in_flight.clear();
    sftp_close(file);
    if (ssh_is_connected(impl.session)) sftp_unlink(sftp, tmp.c_str());
    impl.sftp_failed(doing, remote_path);
  };
  std::vector<char> buffer(chunk);
  std::uint64_t queued = 0;
  std::uint64_t done = 0;
  source.rewind();
  while (queued < result.bytes || !in_flight.empty()) {
    while (in_flight.size() < kMaxInFlight && queued < result.bytes) {
      std::size_t n = source.read(buffer);
      if (n == 0) break;
      if (running) running->update(buffer.data(), n);
      sftp_aio aio = nullptr;
      ssize_t accepted = sftp_aio_begin_write(file, buffer.data(), n, &aio);
      if (accepted < 0 || static_cast<std::size_t>(accepted) != n) abandon("writing");
      in_flight.push_back(aio);
      queued += n;
    }
    if (in_flight.empty()) break;
    ssize_t written = sftp_aio_wait_write(&in_flight.front());
    in_flight.pop_front();
    if (written < 0) abandon("writing");
    done += static_cast<std::uint64_t>(written);
    if (options.progress) options.progress(done, result.bytes);
  }
  if (sftp_close(file) != SSH_OK) {
    sftp_unlink(sftp, tmp.c_str());
    impl.sftp_failed("closing", tmp);
  }
  if (done != result.bytes) {
    sftp_unlink(sftp, tmp.c_str());
    throw SftpError(host, fmt::format("{}: local file changed size while it was sent to {}", host, remote_path));
  }
  if (running) result.sha256 = running->hex();

  // Mode, owner and the rename in one command; the temporary file is removed
  // when any of it fails.
  std::string script;
  if (sudo) {
    script =
        "new=\"$2.k8sfs-new\"; cp -- \"$1\" \"$new\" && rm -f -- \"$1\" && chmod \"$3\" -- \"$new\" && "
        "{ [ -z \"$4\" ] || chown -- \"$4\" \"$new\"; } && mv -f -- \"$new\" \"$2\" || "
        "{ rc=$?; rm -f -- \"$1\" \"$new\"; exit $rc; }";
  } else {
    script =
        "chmod \"$3\" -- \"$1\" && { [ -z \"$4\" ] || chown -- \"$4\" \"$1\"; } && mv -f -- \"$1\" \"$2\" || "
        "{ rc=$?; rm -f -- \"$1\"; exit $rc; }";
  }
  run_step(impl, {"sh", "-c", script, "k8sfs", tmp, remote_path, fmt::format("{:o}", mode), chown_to}, sudo,
           "placing " + remote_path);
  result.changed = true;
  result.elapsed = seconds_since(start);
  return result;
}

}  // namespace

PutResult Session::put(const std::string& local_path, const std::string& remote_path, const PutOptions& options) {
  std::lock_guard<std::mutex> guard(impl_->mutex);
  std::unique_ptr<FileSource> source;
  try {
    source = std::make_unique<FileSource>(local_path);
  } catch (const std::runtime_error& error) {
    throw SftpError(impl_->resolved.host, fmt::format("{}: {}", impl_->resolved.host, error.what()));
  }
  return put_from(*impl_, *source, remote_path, options);
}

PutResult Session::put_content(const std::string& content, const std::string& remote_path, const PutOptions& options) {
  std::lock_guard<std::mutex> guard(impl_->mutex);
  StringSource source(content);
  return put_from(*impl_, source, remote_path, options);
}

GetResult Session::get(const std::string& remote_path, const std::string& local_path,
                       const ProgressCallback& progress) {
  std::lock_guard<std::mutex> guard(impl_->mutex);
  auto& impl = *impl_;
  const std::string& host = impl.resolved.host;
  const auto start = std::chrono::steady_clock::now();
  sftp_session sftp = impl.sftp_locked();

  sftp_file file = sftp_open(sftp, remote_path.c_str(), O_RDONLY, 0);
  if (file == nullptr) impl.sftp_failed("opening", remote_path);
  sftp_attributes attrs = sftp_fstat(file);
  if (attrs == nullptr) {
    sftp_close(file);
    impl.sftp_failed("reading attributes of", remote_path);
  }
  const std::uint64_t size = attrs->size;
  const unsigned mode = attrs->permissions & 0777;
  sftp_attributes_free(attrs);

  const std::string tmp = local_path + ".k8sfs-part-" + random_suffix();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    sftp_close(file);
    throw SftpError(host, fmt::format("{}: cannot create local file {}: {}", host, tmp, std::strerror(errno)));
  }
  std::size_t chunk = kMaxChunk;
  if (sftp_limits_t limits = sftp_limits(sftp)) {
    if (limits->max_read_length > 0) chunk = std::min<std::size_t>(chunk, limits->max_read_length);
    sftp_limits_free(limits);
  }

  struct Pending {
    sftp_aio aio;
    std::uint64_t offset;
    std::size_t length;
  };
  std::deque<Pending> in_flight;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> gaps;  // short reads to fetch again
  std::vector<char> buffer(chunk);
  std::uint64_t requested = 0;
  std::uint64_t received = 0;
  auto fail = [&](const std::string& doing) {
    for (auto& p : in_flight) sftp_aio_free(p.aio);
    sftp_close(file);
    ::close(fd);
    ::unlink(tmp.c_str());
    impl.sftp_failed(doing, remote_path);
  };
  while (requested < size || !in_flight.empty()) {
    while (in_flight.size() < kMaxInFlight && requested < size) {
      std::size_t length = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, size - requested));
      sftp_aio aio = nullptr;
      if (sftp_aio_begin_read(file, length, &aio) < 0) fail("reading");
      in_flight.push_back({aio, requested, length});
      requested += length;
    }
    Pending p = in_flight.front();
    in_flight.pop_front();
    ssize_t n = sftp_aio_wait_read(&p.aio, buffer.data(), buffer.size());
    if (n < 0) fail("reading");
    if (n > 0 && ::pwrite(fd, buffer.data(), static_cast<std::size_t>(n), static_cast<off_t>(p.offset)) != n) {
      fail("writing locally");
    }
    if (static_cast<std::size_t>(n) < p.length) gaps.emplace_back(p.offset + n, p.length - n);
    received += static_cast<std::uint64_t>(n);
    if (progress) progress(received, size);
  }
  for (auto [offset, length] : gaps) {
    // The server returned less than asked (allowed by the protocol): read
    // the rest of that range synchronously.
    sftp_seek64(file, offset);
    while (length > 0) {
      ssize_t n =
          sftp_read(file, buffer.data(), static_cast<std::size_t>(std::min<std::uint64_t>(length, buffer.size())));
      if (n <= 0) fail("reading");
      if (::pwrite(fd, buffer.data(), static_cast<std::size_t>(n), static_cast<off_t>(offset)) != n)
        fail("writing locally");
      offset += n;
      length -= n;
      received += n;
    }
  }
  sftp_close(file);
  ::fchmod(fd, mode ? mode : 0600);
  if (::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(tmp.c_str(), local_path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw SftpError(host, fmt::format("{}: cannot write local file {}: {}", host, local_path, std::strerror(errno)));
  }
  return GetResult{received, seconds_since(start)};
}

}  // namespace k8sfs::ssh
