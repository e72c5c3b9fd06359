// Component rendering: version parsing, the version-aware kubelet flag set
// (K8S-REFERENCE §3) and the cgroup-driver agreement check.
#include <algorithm>

#include <catch2/catch.hpp>

#include "k8sfs/components/kubelet.h"
#include "k8sfs/components/runtime.h"

using namespace k8sfs::components;

namespace {
bool has_prefix(const std::vector<std::string>& flags, const std::string& prefix) {
  return std::any_of(flags.begin(), flags.end(), [&](const std::string& f) { return f.rfind(prefix, 0) == 0; });
}
}  // namespace

TEST_CASE("Kubernetes versions parse and unsupported ones are refused", "[components]") {
  auto v = KubeVersion::parse("v1.21.6");
  CHECK(v.minor == 21);
  CHECK(v.patch == 6);
  CHECK(KubeVersion::parse("1.34.4").str() == "v1.34.4");
  CHECK_THROWS_AS(KubeVersion::parse("v1.20.0"), RenderError);
  CHECK_THROWS_AS(KubeVersion::parse("v1.34"), RenderError);
  CHECK_THROWS_AS(KubeVersion::parse("v1.34.4-rc.0"), RenderError);
}

TEST_CASE("kubelet flags: --container-runtime until 1.23, endpoint flag until 1.26", "[components]") {
  KubeletOptions o;
  o.version = KubeVersion::parse("v1.23.0");
  CHECK(has_prefix(kubelet_flags(o), "--container-runtime=remote"));
  o.version = KubeVersion::parse("v1.26.0");
  CHECK_FALSE(has_prefix(kubelet_flags(o), "--container-runtime=remote"));
  CHECK(has_prefix(kubelet_flags(o), "--container-runtime-endpoint="));
  CHECK(render_kubelet_config(o).find("containerRuntimeEndpoint") == std::string::npos);
  o.version = KubeVersion::parse("v1.27.0");
  CHECK_FALSE(has_prefix(kubelet_flags(o), "--container-runtime-endpoint="));
  CHECK(render_kubelet_config(o).find("containerRuntimeEndpoint: unix:///run/containerd/containerd.sock") !=
        std::string::npos);
}

TEST_CASE("failCgroupV1 is written only when chosen and the version knows it", "[components]") {
  KubeletOptions o;
  o.version = KubeVersion::parse("v1.35.0");
  CHECK(render_kubelet_config(o).find("failCgroupV1") == std::string::npos);
  o.fail_cgroup_v1 = false;
  CHECK(render_kubelet_config(o).find("failCgroupV1: false") != std::string::npos);
  o.version = KubeVersion::parse("v1.30.0");
  CHECK(render_kubelet_config(o).find("failCgroupV1") == std::string::npos);
}

TEST_CASE("cgroup driver from crictl info and the mismatch message", "[components]") {
  auto info = R"({"config":{"containerd":{"defaultRuntimeName":"runc","runtimes":{"runc":{"options":{"SystemdCgroup":true}}}}}})";
  CHECK(containerd_cgroup_driver_from_info(info) == CgroupDriver::Systemd);
  CHECK(containerd_cgroup_driver_from_info(R"({"cgroupDriver":"CGROUPFS"})") == CgroupDriver::Cgroupfs);
  CHECK_FALSE(containerd_cgroup_driver_from_info("{}").has_value());
  CHECK(cgroup_driver_mismatch("crio", CgroupDriver::Cgroupfs, CgroupDriver::Cgroupfs).empty());
  auto message = cgroup_driver_mismatch("crio", CgroupDriver::Systemd, CgroupDriver::Cgroupfs);
  CHECK(message.find("crio uses systemd") != std::string::npos);
  CHECK(message.find("cgroup_manager") != std::string::npos);
}
