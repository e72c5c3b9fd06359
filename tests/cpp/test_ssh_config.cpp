// ~/.ssh/config semantics as ssh_config(5) describes them: first value wins,
// Host patterns with wildcards and negation, Include, tokens in paths.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "k8sfs/ssh/ssh_config.h"

using namespace k8sfs::ssh;

TEST_CASE("host patterns: wildcards, lists and negation", "[ssh_config]") {
  CHECK(host_matches("node-1", {"node-*"}));
  CHECK(host_matches("node-1", {"node-?"}));
  CHECK_FALSE(host_matches("node-10", {"node-?"}));
  CHECK(host_matches("NODE-1", {"node-1"}));  // case-insensitive, as ssh
  CHECK(host_matches("web", {"db,web"}));
  CHECK(host_matches("web", {"db", "web"}));
  CHECK_FALSE(host_matches("node-2", {"node-*", "!node-2"}));
  CHECK_FALSE(host_matches("other", {"!node-2"}));  // negation alone matches nothing
  CHECK(host_matches("anything", {"*"}));
}

TEST_CASE("first obtained value wins, IdentityFile accumulates", "[ssh_config]") {
  const char* text = R"(
# comment
Host master
  HostName 192.168.50.10
  User admin
  IdentityFile ~/.ssh/master_key

Host master node-*
  User ignored-because-already-set
  Port 2222
  ProxyJump bastion.example

Host *
  User default-user
  IdentityFile ~/.ssh/id_ed25519
  Port=22
)";
  auto config = SshConfig::parse(text, "config", "/home/u", "/home/u/.ssh");
  auto master = config.resolve("master");
  CHECK(master.hostname == "192.168.50.10");
  CHECK(master.user == "admin");
  CHECK(master.port == 2222);
  CHECK(master.proxy_jump == "bastion.example");
  CHECK(master.identity_files == std::vector<std::string>{"~/.ssh/master_key", "~/.ssh/id_ed25519"});

  auto other = config.resolve("elsewhere");
  CHECK_FALSE(other.hostname.has_value());
  CHECK(other.user == "default-user");
  CHECK(other.port == 22);
}

TEST_CASE("keyword=value, quoted values and Match blocks", "[ssh_config]") {
  const char* text =
      "Host a\n  HostName=10.0.0.1\n  IdentityFile \"/keys/with space\"\n"
      "Match user root\n  Port 2200\n";
  auto config = SshConfig::parse(text, "cfg", "/root", "/root/.ssh");
  auto a = config.resolve("a");
  CHECK(a.hostname == "10.0.0.1");
  CHECK(a.identity_files == std::vector<std::string>{"/keys/with space"});
  CHECK_FALSE(a.port.has_value());  // Match is not applied
  REQUIRE(config.notes().size() == 1);
  CHECK(config.notes()[0].find("cfg:4") != std::string::npos);
}

TEST_CASE("errors name the file and line", "[ssh_config]") {
  try {
    SshConfig::parse("Host a\n  Port seventy\n", "my.conf", "/root", "/root/.ssh").resolve("a");
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).find("my.conf:2") != std::string::npos);
    CHECK(std::string(e.what()).find("seventy") != std::string::npos);
  }
  CHECK_THROWS_AS(SshConfig::parse("Host\n", "c", "/", "/"), ConfigError);
  CHECK_THROWS_AS(SshConfig::parse("HostName \"unterminated\n", "c", "/", "/"), ConfigError);
}

TEST_CASE("Include reads files relative to ~/.ssh", "[ssh_config]") {
  auto dir = std::filesystem::temp_directory_path() / "k8sfs-ssh-config-test";
  std::filesystem::create_directories(dir / "conf.d");
  std::ofstream(dir / "conf.d" / "lab.conf") << "Host lab1\n  HostName 192.168.50.10\n  User root\n";
  auto config = SshConfig::parse("Include conf.d/*.conf\nHost *\n  User nobody\n", "config", "/home/u", dir.string());
  CHECK(config.resolve("lab1").hostname == "192.168.50.10");
  CHECK(config.resolve("lab1").user == "root");
  CHECK(config.resolve("other").user == "nobody");
  std::filesystem::remove_all(dir);
}

TEST_CASE("path tokens", "[ssh_config]") {
  CHECK(expand_path("~/.ssh/id_%r@%h:%p", "/home/u", "me", "host", "root", 22) == "/home/u/.ssh/id_root@host:22");
  CHECK(expand_path("%d/k-%u-%%", "/home/u", "me", "h", "r", 22) == "/home/u/k-me-%");
  CHECK(expand_path("/abs/~notexpanded", "/home/u", "me", "h", "r", 22) == "/abs/~notexpanded");
}

TEST_CASE("an Include whose file does not parse reports it and leaks nothing", "[ssh_config]") {
  // The reproducer libFuzzer found: the include's error used to skip globfree
  // (ASan in make cpp-sanitize reports a leak if it comes back).
  char dir[] = "/tmp/k8sfs-include-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  std::string bad = std::string(dir) + "/bad.conf";
  {
    std::ofstream out(bad);
    out << "Host\n";
  }
  CHECK_THROWS_AS(SshConfig::parse("Include " + bad + "\n", "config", "/nonexistent", dir), ConfigError);
  std::remove(bad.c_str());
  rmdir(dir);
}
