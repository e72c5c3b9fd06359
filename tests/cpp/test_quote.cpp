// Quoting is checked against a real /bin/sh: whatever the argument, the
// shell must hand the program exactly the bytes we started from.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "k8sfs/ssh/quote.h"

using k8sfs::ssh::join_command;
using k8sfs::ssh::quote;

namespace {

// Runs `line` with sh and returns what printf '%s\0' received as arguments.
std::vector<std::string> words_seen_by_shell(const std::string& line) {
  std::string command = "printf '%s\\0' " + line;
  std::string shell = "/bin/sh -c " + quote(command);
  FILE* pipe = ::popen(shell.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  REQUIRE(WEXITSTATUS(::pclose(pipe)) == 0);
  std::vector<std::string> words;
  std::size_t start = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '\0') {
      words.push_back(out.substr(start, i - start));
      start = i + 1;
    }
  }
  return words;
}

}  // namespace

TEST_CASE("hostile arguments reach the program unchanged through sh", "[quote]") {
  const std::vector<std::string> hostile = {
      "plain",
      "with space",
      "",
      "it's",
      "'",
      "''",
      "\"double\"",
      "$HOME",
      "${PATH}",
      "`id`",
      "$(touch /tmp/k8sfs-pwned)",
      "a;b",
      "a && b || c",
      "line1\nline2",
      "tab\there",
      "back\\slash",
      "*",
      "?",
      "[a-z]",
      "~",
      "~root",
      "-n",
      "--",
      "!event",
      "#comment",
      "a|b>c<d",
      "\x01\x7f control",
      "ünïcødé ✓",
  };
  CHECK(words_seen_by_shell(join_command(hostile)) == hostile);
  for (const auto& arg : hostile) {
    CHECK(words_seen_by_shell(quote(arg)) == std::vector<std::string>{arg});
  }
}

TEST_CASE("plain words stay readable", "[quote]") {
  CHECK(quote("/etc/kubernetes/pki/ca.crt") == "/etc/kubernetes/pki/ca.crt");
  CHECK(quote("--flag=value") == "--flag=value");
  CHECK(join_command({"systemctl", "restart", "kubelet"}) == "systemctl restart kubelet");
}

TEST_CASE("arguments that cannot be passed are refused", "[quote]") {
  CHECK_THROWS_AS(join_command({}), std::invalid_argument);
  CHECK_THROWS_AS(quote(std::string("a\0b", 3)), std::invalid_argument);
}
