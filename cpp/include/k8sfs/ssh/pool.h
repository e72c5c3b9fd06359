// Runs one operation on many hosts at once. Each host gets its own Session
// (and thread while it works); one host's failure is recorded next to the
// others' results and never hides them.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "k8sfs/ssh/exec.h"
#include "k8sfs/ssh/options.h"
#include "k8sfs/ssh/session.h"
#include "k8sfs/ssh/transfer.h"

namespace k8sfs::ssh {

// What happened on one host: a value, or the error that stopped it.
template <typename T>
struct HostOutcome {
  std::string host;
  std::optional<T> value;
  std::string error_type;  // "ConnectError", "TimeoutError", ... ; empty on success
  std::string error_message;
  bool ok() const { return value.has_value(); }
};

class Pool {
 public:
  // `parallelism` 0 means one thread per host.
  explicit Pool(std::vector<ConnectOptions> hosts, std::size_t parallelism = 0);
  ~Pool();

  std::size_t size() const { return sessions_.size(); }
  Session& session(std::size_t index) { return *sessions_.at(index); }

  // The same command on every host; results in the order of the hosts.
  std::vector<HostOutcome<ExecResult>> exec(const ExecRequest& request);
  // The same file to every host.
  std::vector<HostOutcome<PutResult>> put(const std::string& local_path, const std::string& remote_path,
                                          const PutOptions& options = {});
  // Connects every host (in parallel); failures per host.
  std::vector<HostOutcome<bool>> connect();

  // Runs `work` for each host's session in parallel and collects outcomes.
  template <typename T>
  std::vector<HostOutcome<T>> run(const std::function<T(Session&)>& work);

 private:
  void for_each_parallel(const std::function<void(std::size_t)>& body);
  std::vector<std::unique_ptr<Session>> sessions_;
  std::size_t parallelism_;
};

// Name of the error class an exception belongs to, for HostOutcome.
std::string error_type_name(const std::exception& error);

template <typename T>
std::vector<HostOutcome<T>> Pool::run(const std::function<T(Session&)>& work) {
  std::vector<HostOutcome<T>> outcomes(sessions_.size());
  for_each_parallel([&](std::size_t i) {
    auto& outcome = outcomes[i];
    outcome.host = sessions_[i]->host();
    try {
      outcome.value = work(*sessions_[i]);
    } catch (const std::exception& error) {
      outcome.error_type = error_type_name(error);
      outcome.error_message = error.what();
    }
  });
  return outcomes;
}

}  // namespace k8sfs::ssh
