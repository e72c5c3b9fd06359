// Parallel fan-out over sessions: a fixed number of worker threads take
// hosts from a shared counter; each host's outcome is recorded on its own.
#include "k8sfs/ssh/pool.h"

#include <atomic>
#include <thread>

#include "k8sfs/ssh/errors.h"

namespace k8sfs::ssh {

Pool::Pool(std::vector<ConnectOptions> hosts, std::size_t parallelism) : parallelism_(parallelism) {
  sessions_.reserve(hosts.size());
  for (auto& options : hosts) sessions_.push_back(std::make_unique<Session>(std::move(options)));
}

Pool::~Pool() = default;

void Pool::for_each_parallel(const std::function<void(std::size_t)>& body) {
  const std::size_t count = sessions_.size();
  const std::size_t workers = parallelism_ == 0 ? count : std::min(parallelism_, count);
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < count; i = next++) body(i);
  };
  std::vector<std::thread> threads;
  for (std::size_t w = 1; w < workers; ++w) threads.emplace_back(worker);
  if (workers > 0) worker();
  for (auto& t : threads) t.join();
}

std::vector<HostOutcome<ExecResult>> Pool::exec(const ExecRequest& request) {
  return run<ExecResult>([&](Session& s) { return s.exec(request); });
}

std::vector<HostOutcome<PutResult>> Pool::put(const std::string& local_path, const std::string& remote_path,
                                              const PutOptions& options) {
  return run<PutResult>([&](Session& s) { return s.put(local_path, remote_path, options); });
}

std::vector<HostOutcome<bool>> Pool::connect() {
  return run<bool>([](Session& s) {
    s.connect();
    return true;
  });
}

std::string error_type_name(const std::exception& error) {
  // Most derived first.
  if (dynamic_cast<const CommandError*>(&error)) return "CommandError";
  if (dynamic_cast<const TimeoutError*>(&error)) return "TimeoutError";
  if (dynamic_cast<const HostKeyError*>(&error)) return "HostKeyError";
  if (dynamic_cast<const AuthError*>(&error)) return "AuthError";
  if (dynamic_cast<const ConnectError*>(&error)) return "ConnectError";
  if (dynamic_cast<const ConnectionLost*>(&error)) return "ConnectionLost";
  if (dynamic_cast<const SftpError*>(&error)) return "SftpError";
  if (dynamic_cast<const Error*>(&error)) return "SSHError";
  return "Error";
}

}  // namespace k8sfs::ssh
