// The pure parts of running a command: line splitting for streaming
// callbacks, the stderr tail in error messages, and the line sent to sshd.
#include <catch2/catch.hpp>

#include "k8sfs/ssh/exec.h"

using namespace k8sfs::ssh;

TEST_CASE("lines are delivered whole however the bytes arrive", "[exec]") {
  std::vector<std::string> lines;
  LineSplitter splitter([&](std::string_view l) { lines.emplace_back(l); });
  splitter.feed("fir");
  splitter.feed("st\nsecond\nthi");
  CHECK(lines == std::vector<std::string>{"first", "second"});
  splitter.feed("rd\n\n");
  splitter.feed("no newline at end");
  splitter.flush();
  CHECK(lines == std::vector<std::string>{"first", "second", "third", "", "no newline at end"});
}

TEST_CASE("stderr tail keeps the last lines", "[exec]") {
  ExecResult r;
  r.stderr_text = "one\ntwo\nthree\nfour\n";
  CHECK(r.stderr_tail(2) == "three\nfour");
  CHECK(r.stderr_tail(10) == "one\ntwo\nthree\nfour");
  r.stderr_text = "only";
  CHECK(r.stderr_tail(1) == "only");
  r.stderr_text = "";
  CHECK(r.stderr_tail(3).empty());
}

TEST_CASE("the command line sent for env and sudo", "[exec]") {
  ExecRequest req;
  req.command = "echo $A";
  CHECK(wrap_command(req, "root", false) == "echo $A");

  req.env = {{"A", "x y"}};
  CHECK(wrap_command(req, "root", false) == "env 'A=x y' sh -c 'echo $A'");

  req.env.clear();
  req.sudo = true;
  CHECK(wrap_command(req, "root", false) == "echo $A");  // root needs no sudo
  // sudo -n fails at once instead of waiting for a password nobody types.
  CHECK(wrap_command(req, "admin", false) == "sudo -n -- sh -c 'echo $A'");
  // With a password: read from stdin, empty prompt.
  CHECK(wrap_command(req, "admin", true) == "sudo -S -p '' -- sh -c 'echo $A'");

  req.env = {{"bad name", "v"}};
  CHECK_THROWS_AS(wrap_command(req, "admin", false), std::invalid_argument);
}
