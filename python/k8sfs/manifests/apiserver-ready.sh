#!/bin/sh
# Written by k8sfs for cluster {{ cluster }}: exit 0 when this host's own
# kube-apiserver is ready. keepalived holds the control-plane endpoint only
# on a host where this passes.
exec kubectl --kubeconfig /etc/kubernetes/admin.conf --server https://127.0.0.1:6443 \
  --request-timeout=2s get --raw /readyz >/dev/null 2>&1
