// Where things live on a host: every path k8sfs writes or reads there,
// named once. The renderers' defaults, the PKI's file list, the Python
// chapters, verify cis and the host facts all read these (exported to
// Python as k8sfs._core.layout). kubeadm's layout, so that its docs and
// the CIS benchmark's checks apply as written.
#pragma once

#include <string>

namespace k8sfs::layout {

// Programs no package manager owns.
inline const std::string kBinDir = "/usr/local/bin";
inline const std::string kScriptDir = "/usr/local/sbin";  // k8sfs's own small scripts
inline const std::string kUnitDir = "/etc/systemd/system";

inline std::string binary(const std::string& name) { return kBinDir + "/" + name; }
inline std::string script(const std::string& name) { return kScriptDir + "/" + name; }
inline std::string unit_path(const std::string& unit) { return kUnitDir + "/" + unit + ".service"; }

// The control plane's configuration and identities.
inline const std::string kKubernetesDir = "/etc/kubernetes";
inline const std::string kPkiDir = kKubernetesDir + "/pki";
inline const std::string kEtcdPkiDir = kPkiDir + "/etcd";
inline const std::string kManifestsDir = kKubernetesDir + "/manifests";  // static pods
inline const std::string kAddonsDir = kKubernetesDir + "/addons";        // what k8sfs applies with kubectl
inline std::string kubeconfig(const std::string& who) { return kKubernetesDir + "/" + who + ".conf"; }
inline const std::string kAdminConf = kubeconfig("admin");
inline const std::string kSuperAdminConf = kubeconfig("super-admin");
inline const std::string kControllerManagerConf = kubeconfig("controller-manager");
inline const std::string kSchedulerConf = kubeconfig("scheduler");
inline const std::string kKubeProxyConf = kubeconfig("kube-proxy");
inline const std::string kKubeletConf = kubeconfig("kubelet");
inline const std::string kEncryptionConfig = kKubernetesDir + "/encryption-config.yaml";
inline const std::string kAuditPolicy = kKubernetesDir + "/audit-policy.yaml";
inline const std::string kSchedulerConfig = kKubernetesDir + "/kube-scheduler.yaml";
inline const std::string kLogDir = "/var/log/kubernetes";
inline const std::string kAuditLog = kLogDir + "/audit.log";

// State of the services.
inline const std::string kEtcdDataDir = "/var/lib/etcd";
inline const std::string kKubeletDir = "/var/lib/kubelet";
inline const std::string kKubeletConfig = kKubeletDir + "/config.yaml";
inline const std::string kKubeletPkiDir = kKubeletDir + "/pki";
inline const std::string kKubeProxyDir = "/var/lib/kube-proxy";
inline const std::string kKubeProxyConfig = kKubeProxyDir + "/config.yaml";
// The storage add-on's volumes: one directory per PersistentVolume (local-path).
inline const std::string kLocalVolumesDir = "/opt/local-path-provisioner";

// The container runtimes' configuration (what k8sfs writes of it).
inline const std::string kContainerdConfig = "/etc/containerd/config.toml";
inline const std::string kCrioConfig = "/etc/crio/crio.conf.d/10-k8sfs.conf";

// Pod networking.
inline const std::string kCniBinDir = "/opt/cni/bin";
inline const std::string kCniConfDir = "/etc/cni/net.d";
inline const std::string kDebianCniBinDir = "/usr/lib/cni";  // where Debian's containernetworking-plugins puts them

// k8sfs's own state on each host: the apply lock, the digests of what it
// wrote, the versions its binaries reported, the images it imports, and
// an etcd snapshot on its way in or out.
inline const std::string kK8sfsDir = "/var/lib/k8sfs";
inline const std::string kHostLock = kK8sfsDir + "/apply.lock";
inline const std::string kDigestCache = kK8sfsDir + "/digests";
inline const std::string kVersionCache = kK8sfsDir + "/versions";
inline const std::string kImageDir = kK8sfsDir + "/images";
inline const std::string kRestoreSnapshot = kK8sfsDir + "/restore/snapshot.db";

// The host's own files that k8sfs edits.
inline const std::string kFstab = "/etc/fstab";

// k8sfs's scripts on the hosts.
inline const std::string kApiserverReady = script("k8sfs-apiserver-ready");
inline const std::string kSmokeTest = script("k8sfs-smoke-test");

}  // namespace k8sfs::layout
