// Building remote command lines from argument vectors. Every remote command
// k8sfs runs goes through these, so no user-supplied string is ever spliced
// into a shell line unquoted.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace k8sfs::ssh {

// Quotes one argument for a POSIX shell: the result, read by sh, is exactly
// `arg`. Plain words ([A-Za-z0-9_@%+=:,./-]) are returned as they are.
std::string quote(std::string_view arg);

// Joins an argument vector into a command line whose words, read by sh, are
// exactly `argv`. Throws std::invalid_argument for an empty vector or an
// argument containing a NUL byte (which no remote process can receive).
std::string join_command(const std::vector<std::string>& argv);

}  // namespace k8sfs::ssh
