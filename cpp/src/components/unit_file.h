// systemd unit files for k8sfs's services (private header).
#pragma once

#include <string>
#include <vector>

namespace k8sfs::components {

struct UnitSpec {
  std::string description;
  std::string documentation;
  std::vector<std::string> after;     // units to order after (and require)
  std::string exec;                   // binary
  std::vector<std::string> flags;     // one per line, no quotes or blanks
  std::string type;                   // empty = simple
  std::vector<std::string> extra_service;
};

// Throws RenderError for a flag a unit cannot carry unquoted.
std::string render_unit(const UnitSpec& unit);

}  // namespace k8sfs::components
