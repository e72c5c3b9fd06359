// How explicit options, ~/.ssh/config and defaults combine.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "k8sfs/ssh/options.h"

using namespace k8sfs::ssh;

TEST_CASE("explicit options win over the config file, which wins over defaults", "[options]") {
  auto dir = std::filesystem::temp_directory_path() / "k8sfs-options-test";
  std::filesystem::create_directories(dir);
  auto cfg = dir / "config";
  std::ofstream(cfg) << "Host m\n  HostName 192.168.50.10\n  User admin\n  Port 2200\n"
                        "  IdentityFile %d/.ssh/m_key\n  UserKnownHostsFile /tmp/kh\n  ProxyJump none\n";
  ::setenv("HOME", "/home/tester", 1);

  ConnectOptions o;
  o.host = "m";
  o.ssh_config_file = cfg.string();
  auto r = resolve_options(o);
  CHECK(r.hostname == "192.168.50.10");
  CHECK(r.user == "admin");
  CHECK(r.port == 2200);
  CHECK(r.identity_files == std::vector<std::string>{"/home/tester/.ssh/m_key"});
  CHECK(r.known_hosts_file == "/tmp/kh");
  CHECK(r.proxy_jump.empty());
  CHECK(r.connect_timeout == 10);

  o.user = "root";
  o.port = 22;
  o.identity_files = {"/keys/first"};
  r = resolve_options(o);
  CHECK(r.user == "root");
  CHECK(r.port == 22);
  CHECK(r.identity_files == std::vector<std::string>{"/keys/first", "/home/tester/.ssh/m_key"});

  ConnectOptions none;
  none.host = "m";
  none.ssh_config_file = "none";
  r = resolve_options(none);
  CHECK(r.hostname == "m");
  CHECK(r.port == 22);
  CHECK(r.known_hosts_file == "/home/tester/.ssh/known_hosts");
  std::filesystem::remove_all(dir);
}

TEST_CASE("host key policies by name", "[options]") {
  CHECK(parse_host_key_policy("strict") == HostKeyPolicy::Strict);
  CHECK(parse_host_key_policy("accept-new") == HostKeyPolicy::AcceptNew);
  CHECK(parse_host_key_policy("off") == HostKeyPolicy::Off);
  CHECK_THROWS_AS(parse_host_key_policy("maybe"), std::invalid_argument);
}
