#!/bin/sh
# Written by k8sfs for cluster {{ cluster }}: IP forwarding and a route to
# every other node's pod subnet, through that node (no overlay, no NAT);
# routes into the pod range through a node that is gone are removed.
set -e
sysctl -qw net.ipv4.ip_forward=1
if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
  sysctl -qw net.bridge.bridge-nf-call-iptables=1
fi
{{ routes }}
wanted=" {{ wanted }} "
ip -4 route show root {{ pod_cidr }} | while read -r net how rest; do
  case "$wanted" in *" $net "*) ;; *) [ "$how" != via ] || ip route del "$net" ;; esac
done
