// known_hosts lookups, with hashed entries written by `ssh-keygen -H`
// (OpenSSH's own tool) from plain lines for 192.168.50.10 and
// [192.168.50.11]:2222.
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "k8sfs/ssh/known_hosts.h"

using namespace k8sfs::ssh;

namespace {
const char* kHashedMaster = "|1|CIEjGlOHvUU6VM+8bh9IRDCTOUI=|QJSzUqpn1JhlCep3A4CYgbfWAsw=";
const char* kHashedNode1Port2222 = "|1|1jEvoFf7u9WJdBgGELwMZgCPWuo=|9GOLL2UwOlv/oSmSHm9AnzXj/VI=";
const char* kKey = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
}  // namespace

TEST_CASE("hashed host names match only the name they were made from", "[known_hosts]") {
  CHECK(known_hosts_field_matches(kHashedMaster, "192.168.50.10"));
  CHECK_FALSE(known_hosts_field_matches(kHashedMaster, "192.168.50.11"));
  CHECK(known_hosts_field_matches(kHashedNode1Port2222, "[192.168.50.11]:2222"));
  CHECK_FALSE(known_hosts_field_matches(kHashedNode1Port2222, "192.168.50.11"));
  CHECK_FALSE(known_hosts_field_matches("|1|broken", "192.168.50.10"));
}

TEST_CASE("plain host fields are comma-separated names", "[known_hosts]") {
  CHECK(known_hosts_field_matches("k8s-master,192.168.50.10", "192.168.50.10"));
  CHECK(known_hosts_field_matches("[node-1]:2222", "[node-1]:2222"));
  CHECK_FALSE(known_hosts_field_matches("192.168.50.100", "192.168.50.10"));
}

TEST_CASE("keys recorded for a host and port, in file order", "[known_hosts]") {
  auto path = std::filesystem::temp_directory_path() / "k8sfs-known-hosts-test";
  std::ofstream(path) << "# comment\n"
                      << kHashedMaster << " ssh-ed25519 " << kKey << "\n"
                      << "192.168.50.10 ecdsa-sha2-nistp256 AAAAsecond\n"
                      << "@revoked 192.168.50.10 ssh-rsa AAAArevoked\n"
                      << kHashedNode1Port2222 << " ssh-ed25519 " << kKey << "\n";
  auto master = known_keys_for(path.string(), "192.168.50.10", 22);
  REQUIRE(master.size() == 2);
  CHECK(master[0].type == "ssh-ed25519");
  CHECK(master[0].base64 == kKey);
  CHECK(master[1].type == "ecdsa-sha2-nistp256");
  CHECK(known_keys_for(path.string(), "192.168.50.11", 2222).size() == 1);
  CHECK(known_keys_for(path.string(), "192.168.50.11", 22).empty());
  CHECK(known_keys_for("/nonexistent/known_hosts", "192.168.50.10", 22).empty());
  std::filesystem::remove(path);
}
