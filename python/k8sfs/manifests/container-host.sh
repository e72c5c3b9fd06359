#!/bin/sh
# Written by k8sfs for cluster {{ cluster }}, for hosts that are containers
# (host_profile: container): a cgroup subtree of this node's own in every v1
# controller, and the sysctls kubelet insists on shown inside this host only,
# so the machine's own values stay untouched (kubelet would otherwise write
# the machine's).
set -e
root={{ root }}
for c in /sys/fs/cgroup/*/; do
  case "$c" in */unified/) continue ;; esac
  mkdir -p "$c${root#/}"
done
if [ -d /sys/fs/cgroup/cpuset ]; then
  cat /sys/fs/cgroup/cpuset/cpuset.cpus > "/sys/fs/cgroup/cpuset$root/cpuset.cpus"
  cat /sys/fs/cgroup/cpuset/cpuset.mems > "/sys/fs/cgroup/cpuset$root/cpuset.mems"
fi
mkdir -p /run/k8sfs-sysctl
for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \
          kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
  key=${kv%%=*}; value=${kv#*=}
  file=/run/k8sfs-sysctl/$(echo "$key" | tr / .)
  echo "$value" > "$file"
  mountpoint -q "/proc/sys/$key" || mount --bind "$file" "/proc/sys/$key"
done
