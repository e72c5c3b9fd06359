#include "unit_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "k8sfs/components/version.h"

namespace k8sfs::components {

std::vector<std::string> files_in_flags(const std::vector<std::string>& flags, const std::vector<std::string>& except) {
  std::vector<std::string> files;
  for (const auto& flag : flags) {
    auto eq = flag.find('=');
    if (eq == std::string::npos || eq + 1 >= flag.size() || flag[eq + 1] != '/') continue;
    if (std::find(except.begin(), except.end(), flag.substr(0, eq)) != except.end()) continue;
    std::string path = flag.substr(eq + 1);
    if (std::find(files.begin(), files.end(), path) == files.end()) files.push_back(path);
  }
  return files;
}

std::string render_unit(const UnitSpec& u) {
  std::string exec = u.exec;
  for (const auto& flag : u.flags) {
    if (flag.find_first_of(" \t\n\"'\\$%;") != std::string::npos) {
      throw RenderError(fmt::format("flag '{}' contains characters a unit file would interpret", flag));
    }
    exec += " \\\n  " + flag;
  }
  std::string out = "# Written by k8sfs.\n";
  for (const auto& line : u.comment) out += "# " + line + "\n";
  out += "[Unit]\nDescription=" + u.description + "\n";
  if (!u.documentation.empty()) out += "Documentation=" + u.documentation + "\n";
  for (const auto& a : u.after) out += fmt::format("After={0}\nRequires={0}\n", a);
  if (!u.after_only.empty()) out += fmt::format("After={}\n", fmt::join(u.after_only, " "));
  if (!u.before.empty()) out += fmt::format("Before={}\n", fmt::join(u.before, " "));
  if (u.after.empty() && u.network_online) out += "After=network-online.target\nWants=network-online.target\n";
  out += "\n[Service]\n";
  if (!u.type.empty()) out += "Type=" + u.type + "\n";
  if (u.remain_after_exit) out += "RemainAfterExit=yes\n";
  for (const auto& pre : u.exec_start_pre) out += "ExecStartPre=" + pre + "\n";
  out += "ExecStart=" + exec + "\n";
  if (!u.restart.empty()) out += "Restart=" + u.restart + "\nRestartSec=5\n";
  for (const auto& line : u.extra_service) out += line + "\n";
  out += "\n[Install]\nWantedBy=multi-user.target\n";
  return out;
}

std::string render_component_unit(const std::string& title, const std::string& version, const std::string& page,
                                  const std::string& binary, const std::vector<std::string>& flags,
                                  const std::vector<std::string>& extra_service) {
  UnitSpec unit;
  unit.description = title + " " + version;
  unit.documentation = "https://kubernetes.io/docs/reference/command-line-tools-reference/" + page + "/";
  unit.exec = binary;
  unit.flags = flags;
  unit.extra_service = extra_service;
  return render_unit(unit);
}

}  // namespace k8sfs::components
