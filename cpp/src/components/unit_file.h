// systemd unit files for k8sfs's services (private header).
#pragma once

#include <string>
#include <vector>

namespace k8sfs::components {

struct UnitSpec {
  std::string description;
  std::string documentation;
  std::vector<std::string> after;  // units to order after (and require)
  std::string exec;                // binary
  std::vector<std::string> flags;  // one per line, no quotes or blanks
  std::string type;                // empty = simple
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
