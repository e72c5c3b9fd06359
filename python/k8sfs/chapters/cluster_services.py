"""The chapters after the API server: kube-controller-manager and
kube-scheduler, pod networking (a CNI bridge per node and routes between
nodes), kube-proxy, cluster DNS (CoreDNS), and the walkthrough's smoke test."""
from __future__ import annotations

import re

from k8sfs import _core, join_command, quote
from k8sfs.chapters.context import Context
from k8sfs.chapters.control_plane import ADMIN_CONF, cluster_dns_ip, kubectl_with
from k8sfs.chapters.units import oneshot_unit
from k8sfs.engine.checks import running_newer_than
from k8sfs.engine.step import File, Step, Upload
from k8sfs.images import TEST_IMAGE

KUBE_PROXY_CONFIG = "/var/lib/kube-proxy/config.yaml"
SMOKE_MANIFEST = "/etc/kubernetes/addons/smoke-test.yaml"
SMOKE_SCRIPT = "/usr/local/sbin/k8sfs-smoke-test"


def _kubectl(*args: str) -> list[str]:
    return kubectl_with(ADMIN_CONF, *args)


def _replicas_available(namespace: str, deployment: str, at_least: int) -> list[str]:
    """Exit 0 when the Deployment has at least that many available replicas."""
    count = join_command(_kubectl("-n", namespace, "get", "deployment", deployment,
                                  "-o", "jsonpath={.status.availableReplicas}"))
    return ["sh", "-c", f"test \"$({count})\" -ge {at_least}"]


def controllers_steps(ctx: Context) -> list[Step]:
    cm_bin, sched_bin = ctx.artifact("kube-controller-manager"), ctx.artifact("kube-scheduler")
    cm = _core.ControllerManagerOptions(ctx.spec.kubernetes_version)
    cm.cluster_name = ctx.spec.cluster_name
    cm.service_cidr = ctx.spec.service_cidr
    cm.pod_cidr = ctx.spec.pod_cidr
    cm.sign_csrs = ctx.spec.pki.ca_key_on_control_plane
    sched = _core.SchedulerOptions(ctx.spec.kubernetes_version)
    pki = "/etc/kubernetes/pki"
    steps = []
    for h in ctx.control_plane:
        steps.append(Step(
            "controllers", "kube-controller-manager", h.name,
            f"kube-controller-manager {cm_bin.version}" + (", signs CSRs with ca.key" if cm.sign_csrs else
                                                          ", CSR signing off (ca.key stays on the controller)"),
            files=[File("/etc/systemd/system/kube-controller-manager.service",
                        _core.render_controller_manager_unit(cm))],
            uploads=[Upload(cm_bin.path, "/usr/local/bin/kube-controller-manager", cm_bin.sha256)],
            check=running_newer_than("kube-controller-manager", [
                "/usr/local/bin/kube-controller-manager", "/etc/kubernetes/controller-manager.conf",
                f"{pki}/ca.crt", f"{pki}/sa.key", f"{pki}/front-proxy-ca.crt",
                *([f"{pki}/ca.key"] if cm.sign_csrs else [])]),
            apply=[["systemctl", "daemon-reload"], ["systemctl", "enable", "kube-controller-manager"],
                   ["systemctl", "restart", "kube-controller-manager"]],
            verify=_kubectl("-n", "kube-system", "get", "lease", "kube-controller-manager"), verify_timeout=90))
        steps.append(Step(
            "controllers", "kube-scheduler", h.name, f"kube-scheduler {sched_bin.version}",
            files=[File("/etc/systemd/system/kube-scheduler.service", _core.render_scheduler_unit(sched)),
                   File(sched.config_path, _core.render_scheduler_config(sched))],
            uploads=[Upload(sched_bin.path, "/usr/local/bin/kube-scheduler", sched_bin.sha256)],
            check=running_newer_than("kube-scheduler", ["/usr/local/bin/kube-scheduler",
                                                         "/etc/kubernetes/scheduler.conf"]),
            apply=[["systemctl", "daemon-reload"], ["systemctl", "enable", "kube-scheduler"],
                   ["systemctl", "restart", "kube-scheduler"]],
            verify=_kubectl("-n", "kube-system", "get", "lease", "kube-scheduler"), verify_timeout=90))
    return steps


ROUTES_UNIT = oneshot_unit("routes to the other nodes' pod subnets, IP forwarding",
                           "/usr/local/sbin/k8sfs-pod-routes", after_network=True)


def pod_subnets(ctx: Context) -> dict[str, str]:
    return {h.name: _core.node_pod_subnet(ctx.spec.pod_cidr, i) for i, h in enumerate(ctx.workers)}


def pod_network_steps(ctx: Context) -> list[Step]:
    subnets = pod_subnets(ctx)
    address = {h.name: h.address for h in ctx.spec.hosts}
    steps = []
    for h in ctx.spec.hosts:
        routes = [f"ip route replace {quote(subnet)} via {quote(address[node])}"
                  for node, subnet in subnets.items() if node != h.name]
        script = ("#!/bin/sh\n# Written by k8sfs.\nset -e\n"
                  "sysctl -qw net.ipv4.ip_forward=1\n"
                  "if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then\n"
                  "  sysctl -qw net.bridge.bridge-nf-call-iptables=1\n"
                  "fi\n" + "\n".join(routes) + "\n")
        files = [File("/usr/local/sbin/k8sfs-pod-routes", script, 0o755),
                 File("/etc/systemd/system/k8sfs-pod-routes.service", ROUTES_UNIT)]
        description = f"routes to {', '.join(s for n, s in subnets.items() if n != h.name) or 'no other node'}"
        if h.worker:
            files += [File("/etc/cni/net.d/10-bridge.conf", _core.render_cni_bridge(subnets[h.name])),
                      File("/etc/cni/net.d/99-loopback.conf", _core.render_cni_loopback())]
            description = f"CNI bridge with pods in {subnets[h.name]}; " + description
        checks = [f"ip route show {quote(s)} | grep -q via" for n, s in subnets.items() if n != h.name]
        check = running_newer_than("k8sfs-pod-routes", ["/usr/local/sbin/k8sfs-pod-routes"],
                                   " && ".join(checks) if checks else "")
        steps.append(Step("pod-network", "routes-and-cni", h.name, description, files=files, check=check,
                          # The script once by hand first, so a failure shows its own stderr.
                          apply=[["/usr/local/sbin/k8sfs-pod-routes"], ["systemctl", "daemon-reload"],
                                 ["systemctl", "enable", "k8sfs-pod-routes"],
                                 ["systemctl", "restart", "k8sfs-pod-routes"]],
                          verify=check))
    return steps


def kube_proxy_steps(ctx: Context) -> list[Step]:
    binary = ctx.artifact("kube-proxy")
    steps = []
    for h in ctx.workers:
        o = _core.KubeProxyOptions(ctx.spec.kubernetes_version)
        o.config_path = KUBE_PROXY_CONFIG
        o.pod_cidr = ctx.spec.pod_cidr
        o.node_name = h.name
        o.container_host = ctx.container_hosts
        steps.append(Step(
            "kube-proxy", "kube-proxy", h.name, f"kube-proxy {binary.version}, iptables mode",
            files=[File(KUBE_PROXY_CONFIG, _core.render_kube_proxy_config(o)),
                   File("/etc/systemd/system/kube-proxy.service", _core.render_kube_proxy_unit(o))],
            uploads=[Upload(binary.path, "/usr/local/bin/kube-proxy", binary.sha256)],
            check=running_newer_than("kube-proxy", ["/usr/local/bin/kube-proxy", KUBE_PROXY_CONFIG,
                                                     "/etc/kubernetes/kube-proxy.conf"]),
            apply=[["systemctl", "daemon-reload"], ["systemctl", "enable", "kube-proxy"],
                   ["systemctl", "restart", "kube-proxy"]],
            verify=["sh", "-c", "iptables-save -t nat | grep -q KUBE-SERVICES"], verify_timeout=60))
    return steps


COREDNS_MANIFEST = "/etc/kubernetes/addons/coredns.yaml"


def coredns_manifest(image: str, cluster_ip: str, domain: str) -> str:
    """CoreDNS as kubeadm deploys it (RBAC, Corefile, Deployment, the kube-dns
    Service), with k8sfs's own image and no upstream forwarding: the lab has
    no resolver beyond the cluster."""
    return f"""\
# Written by k8sfs.
apiVersion: v1
kind: ServiceAccount
metadata:
  name: coredns
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:coredns
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:coredns
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:coredns
subjects:
- kind: ServiceAccount
  name: coredns
  namespace: kube-system
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: coredns
  namespace: kube-system
data:
  Corefile: |
    .:53 {{
        errors
        health {{
            lameduck 5s
        }}
        ready
        kubernetes {domain} in-addr.arpa ip6.arpa {{
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
            ttl 30
        }}
        cache 30
        loop
        reload
        loadbalance
    }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
  namespace: kube-system
  labels: {{k8s-app: kube-dns}}
spec:
  replicas: 2
  selector:
    matchLabels: {{k8s-app: kube-dns}}
  template:
    metadata:
      labels: {{k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      dnsPolicy: Default
      containers:
      - name: coredns
        image: {image}
        imagePullPolicy: Never
        args: ["-conf", "/etc/coredns/Corefile"]
        ports:
        - {{name: dns, containerPort: 53, protocol: UDP}}
        - {{name: dns-tcp, containerPort: 53, protocol: TCP}}
        readinessProbe:
          httpGet: {{path: /ready, port: 8181}}
        livenessProbe:
          httpGet: {{path: /health, port: 8080}}
          initialDelaySeconds: 10
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities:
            add: [NET_BIND_SERVICE]
            drop: [ALL]
        volumeMounts:
        - {{name: config, mountPath: /etc/coredns, readOnly: true}}
      volumes:
      - name: config
        configMap:
          name: coredns
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {{k8s-app: kube-dns}}
spec:
  clusterIP: {cluster_ip}
  selector: {{k8s-app: kube-dns}}
  ports:
  - {{name: dns, port: 53, protocol: UDP}}
  - {{name: dns-tcp, port: 53, protocol: TCP}}
"""


def dns_steps(ctx: Context) -> list[Step]:
    if not ctx.control_plane or not ctx.workers:
        return []
    from k8sfs.images import coredns_image_name

    coredns = ctx.artifact("coredns")
    image = coredns_image_name(coredns.version)
    if image not in [i.name for i in ctx.images]:
        raise ValueError(f"the CoreDNS image for {coredns.version} was not built; is the artifact cached?")
    ip = cluster_dns_ip(ctx.spec.service_cidr)
    available = _replicas_available("kube-system", "coredns", 1)
    return [Step("dns", "coredns", ctx.control_plane[0].name, f"CoreDNS {coredns.version} at {ip} (kube-dns)",
                 files=[File(COREDNS_MANIFEST, coredns_manifest(image, ip, ctx.spec.cluster_domain))],
                 check=available, apply=[_kubectl("apply", "-f", COREDNS_MANIFEST)],
                 verify=available, verify_timeout=180)]


SMOKE_TEST = f"""\
# Written by k8sfs: the walkthrough's smoke test, with k8sfs's own image.
apiVersion: v1
kind: Namespace
metadata:
  name: k8sfs-smoke
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
  namespace: k8sfs-smoke
spec:
  replicas: 2
  selector:
    matchLabels: {{app: hello}}
  template:
    metadata:
      labels: {{app: hello}}
    spec:
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: DoNotSchedule
        labelSelector:
          matchLabels: {{app: hello}}
      containers:
      - name: web
        image: {TEST_IMAGE}
        imagePullPolicy: Never
        command: ["sh", "-c", "echo hello is up on $(hostname); exec httpd -f -p 8080 -h /var/www"]
        ports:
        - containerPort: 8080
        readinessProbe:
          tcpSocket: {{port: 8080}}
          periodSeconds: 2
---
apiVersion: v1
kind: Service
metadata:
  name: hello
  namespace: k8sfs-smoke
spec:
  selector: {{app: hello}}
  ports:
  - port: 80
    targetPort: 8080
"""

# Everything a user would check, in one script: nodes Ready, the pods spread
# over two nodes, pod to pod across nodes, the Service through kube-proxy,
# its name through cluster DNS, kubectl logs and exec. Exit 0 only if all of
# it holds.
SMOKE_CHECK = """\
#!/bin/sh
# Written by k8sfs.
set -e
k() { kubectl --kubeconfig /etc/kubernetes/admin.conf "$@"; }
k wait --for=condition=Ready node --all --timeout=5s >/dev/null
k -n k8sfs-smoke wait --for=condition=Available deployment/hello --timeout=5s >/dev/null
set -- $(k -n k8sfs-smoke get pods -l app=hello -o jsonpath='{range .items[*]}{.metadata.name} {.status.podIP} {.spec.nodeName} {end}')
[ "$#" -eq 6 ] && [ "$3" != "$6" ] || { echo "want 2 pods on 2 nodes, have: $*" >&2; exit 1; }
k -n k8sfs-smoke exec "$1" -- timeout 5 wget -qO- "http://$5:8080/" | grep -q 'hello from k8sfs'
ip=$(k -n k8sfs-smoke get service hello -o jsonpath='{.spec.clusterIP}')
k -n k8sfs-smoke exec "$4" -- timeout 5 wget -qO- "http://$ip/" | grep -q 'hello from k8sfs'
k -n k8sfs-smoke logs "$1" | grep -q 'hello is up'
k -n k8sfs-smoke exec "$1" -- nslookup hello.k8sfs-smoke.svc.@DOMAIN@ | grep -q "$ip"
echo "smoke test passed: pods on $3 and $6, pod-to-pod across nodes, service $ip, DNS, logs, exec"
"""


def smoke_test_steps(ctx: Context) -> list[Step]:
    if not ctx.control_plane or len(ctx.workers) < 2:
        return []
    if not re.fullmatch(r"[a-z0-9.-]+", ctx.spec.cluster_domain):
        raise ValueError(f"cluster_domain {ctx.spec.cluster_domain!r} is not a DNS name")
    return [Step("smoke-test", "smoke-test", ctx.control_plane[0].name,
                 "a Deployment over both workers, pod to pod across nodes, a Service via kube-proxy, DNS, logs, exec",
                 files=[File(SMOKE_MANIFEST, SMOKE_TEST),
                        File(SMOKE_SCRIPT, SMOKE_CHECK.replace("@DOMAIN@", ctx.spec.cluster_domain), 0o755)],
                 # The whole smoke test runs as the verification after a change; an
                 # unchanged cluster only needs its Deployment still available.
                 check=_replicas_available("k8sfs-smoke", "hello", 2),
                 apply=[_kubectl("apply", "-f", SMOKE_MANIFEST)],
                 verify=[SMOKE_SCRIPT], verify_timeout=180)]
