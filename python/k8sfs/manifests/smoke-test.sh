#!/bin/sh
# Written by k8sfs for cluster {{ cluster }}: the smoke test's checks. Exit 0
# only if nodes are Ready, the pods spread over two nodes, pod to pod works
# across nodes, the Service answers through kube-proxy and by name through
# cluster DNS, and kubectl logs and exec work.
set -e
k() { kubectl --kubeconfig {{ kubeconfig }} "$@"; }
# A request between pods is tried for up to 60 s, 5 s per try with 2 s
# between tries: on 2 busy cores one has stalled for over 5 s right after an
# apply, and a node that has just booted runs its pods again only once its
# kubelet has resynced (about 30 s), while the API still says they run. A
# retry is said on stderr.
answers() {
  start=$(date +%s) try=1
  until k -n k8sfs-smoke exec "$1" -- timeout 5 wget -qO- "$2" 2>/dev/null | grep -q 'hello from k8sfs'; do
    if [ $(($(date +%s) - start)) -ge 60 ]; then
      echo "smoke test: $2 from $1 did not answer in $try tries over 60 s" >&2
      return 1
    fi
    try=$((try + 1))
    sleep 2
  done
  [ "$try" -eq 1 ] || echo "smoke test: $2 from $1 answered on try $try, after $(($(date +%s) - start)) s" >&2
}
k wait --for=condition=Ready node --all --timeout=5s >/dev/null
k -n k8sfs-smoke wait --for=condition=Available deployment/hello --timeout=5s >/dev/null
set -- $(k -n k8sfs-smoke get pods -l app=hello -o jsonpath='{range .items[*]}{.metadata.name} {.status.podIP} {.spec.nodeName} {end}')
[ "$#" -eq 6 ] && [ "$3" != "$6" ] || { echo "want 2 pods on 2 nodes, have: $*" >&2; exit 1; }
answers "$1" "http://$5:8080/"
ip=$(k -n k8sfs-smoke get service hello -o jsonpath='{.spec.clusterIP}')
answers "$4" "http://$ip/"
k -n k8sfs-smoke logs "$1" | grep -q 'hello is up'
k -n k8sfs-smoke exec "$1" -- nslookup hello.k8sfs-smoke.svc.{{ domain }} | grep -q "$ip"
echo "smoke test passed: pods on $3 and $6, pod-to-pod across nodes, service $ip, DNS, logs, exec"
