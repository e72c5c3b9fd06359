// systemd unit files for k8sfs's services (private header).
#pragma once

#include <string>
#include <vector>

namespace k8sfs::components {

// Every unit k8sfs writes, Kubernetes services, runtimes and one-shot
// scripts alike, is rendered from one of these.
struct UnitSpec {
  std::vector<std::string> comment;  // lines under "# Written by k8sfs."
  std::string description;
  std::string documentation;
  std::vector<std::string> after;       // units to order after (and require)
  std::vector<std::string> after_only;  // units to order after, not required
  std::vector<std::string> before;      // units that start after this one
  bool network_online = true;           // with nothing in `after`: wait for the network
  std::string exec;                     // binary
  std::vector<std::string> flags;       // one per line, no quotes or blanks
  std::vector<std::string> exec_start_pre;
  std::string type;                // empty = simple
  bool remain_after_exit = false;  // a oneshot that counts as active once it ran
  std::string restart = "always";  // empty: no Restart= (oneshots)
  std::vector<std::string> extra_service;
};

// The absolute file paths that `--name=/path` flags give, in flag order,
// except the flags in `except` (what the service writes or a directory):
// what a service reads at start, so a newer file means a restart.
std::vector<std::string> files_in_flags(const std::vector<std::string>& flags,
                                        const std::vector<std::string>& except = {});

// Throws RenderError for a flag a unit cannot carry unquoted.
std::string render_unit(const UnitSpec& unit);

// A Kubernetes component's unit: "<title> <version>", its reference page
// (https://kubernetes.io/docs/reference/command-line-tools-reference/<page>/).
std::string render_component_unit(const std::string& title, const std::string& version, const std::string& page,
                                  const std::string& binary, const std::vector<std::string>& flags,
                                  const std::vector<std::string>& extra_service = {});

}  // namespace k8sfs::components
