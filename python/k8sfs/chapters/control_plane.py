"""Certificates on the hosts, then the control plane chapters of the
walkthrough: etcd, kube-apiserver, authorization, kubectl, and the nodes
registering."""
from __future__ import annotations

import ipaddress

from k8sfs import _core
from k8sfs.chapters.context import Context
from k8sfs.engine.checks import running_newer_than
from k8sfs.engine.step import File, Step, Upload

PKI = "/etc/kubernetes/pki"
ADMIN_CONF = "/etc/kubernetes/admin.conf"
SUPER_ADMIN_CONF = "/etc/kubernetes/super-admin.conf"
RBAC_FILE = "/etc/kubernetes/addons/rbac.yaml"
# What kube-apiserver reads at start from the certificates chapter.
APISERVER_PKI = [f"{PKI}/{n}" for n in (
    "ca.crt", "apiserver.crt", "apiserver.key", "apiserver-etcd-client.crt", "apiserver-etcd-client.key",
    "apiserver-kubelet-client.crt", "apiserver-kubelet-client.key", "front-proxy-ca.crt", "front-proxy-client.crt",
    "front-proxy-client.key", "sa.pub", "sa.key", "etcd/ca.crt")]


def pki_file_steps(store, pki_files) -> list[Step]:
    """The PKI's file steps (which file goes to which host) as engine steps."""
    by_host: dict[str, list[File]] = {}
    for f in pki_files:
        by_host.setdefault(f.host, []).append(
            File(f.remote, store.read(f.local), f.mode, f.owner, secret=f.mode & 0o077 == 0))
    return [Step("certificates", "pki", host, f"{len(files)} files from the cluster PKI", files=files)
            for host, files in by_host.items()]


def certificates_steps(ctx: Context) -> list[Step]:
    """Each host's keys, certificates and kubeconfigs."""
    return pki_file_steps(ctx.pki, ctx.pki_files)


def kubectl_with(conf: str, *args: str) -> list[str]:
    """kubectl on a control-plane host with one of its kubeconfigs."""
    return ["kubectl", "--kubeconfig", conf, *args]


def etcd_steps(ctx: Context) -> list[Step]:
    etcd, etcdctl = ctx.artifact("etcd"), ctx.artifact("etcdctl")
    members = [_core.EtcdMember(h.name, h.address) for h in ctx.etcd_hosts]
    health = ["etcdctl", *_core.etcdctl_tls_args(), "endpoint", "health"]
    steps = []
    for h, me in zip(ctx.etcd_hosts, members):
        o = _core.EtcdOptions()
        o.version, o.self, o.members, o.cluster_token = etcd.version, me, members, ctx.spec.cluster_name
        steps.append(Step(
            "etcd", "etcd", h.name, f"etcd {etcd.version}, TLS for clients and peers, {len(members)} member(s)",
            files=[File("/etc/systemd/system/etcd.service", _core.render_etcd_unit(o))],
            uploads=[Upload(etcd.path, "/usr/local/bin/etcd", etcd.sha256),
                     Upload(etcdctl.path, "/usr/local/bin/etcdctl", etcdctl.sha256)],
            check=running_newer_than("etcd", ["/usr/local/bin/etcd", *(f"{PKI}/etcd/{n}" for n in (
                "ca.crt", "server.crt", "server.key", "peer.crt", "peer.key"))]),
            apply=[["install", "-d", "-m", "0700", "/var/lib/etcd"], ["systemctl", "daemon-reload"],
                   ["systemctl", "enable", "etcd"], ["systemctl", "restart", "etcd"]],
            verify=health, verify_timeout=60))
    return steps


def apiserver_options(ctx: Context, h) -> "_core.ApiserverOptions":
    o = _core.ApiserverOptions(ctx.spec.kubernetes_version)
    o.advertise_address = h.address
    o.etcd_servers = _core.etcd_client_urls([_core.EtcdMember(e.name, e.address) for e in ctx.etcd_hosts])
    o.service_cidr = ctx.spec.service_cidr
    o.dns_domain = ctx.spec.cluster_domain
    return o


def apiserver_steps(ctx: Context) -> list[Step]:
    apiserver, kubectl = ctx.artifact("kube-apiserver"), ctx.artifact("kubectl")
    steps = []
    for h in ctx.control_plane:
        o = apiserver_options(ctx, h)
        steps.append(Step(
            "apiserver", "kube-apiserver", h.name,
            f"kube-apiserver {apiserver.version} on :6443, etcd over TLS, secrets encrypted (aescbc), audit log",
            files=[File("/etc/systemd/system/kube-apiserver.service", _core.render_apiserver_unit(o)),
                   File(o.encryption_config, _core.render_encryption_config(ctx.encryption_key), 0o600, secret=True),
                   File(o.audit_policy, _core.render_audit_policy())],
            uploads=[Upload(apiserver.path, "/usr/local/bin/kube-apiserver", apiserver.sha256),
                     Upload(kubectl.path, "/usr/local/bin/kubectl", kubectl.sha256)],
            check=running_newer_than("kube-apiserver", ["/usr/local/bin/kube-apiserver", o.encryption_config,
                                                        o.audit_policy, *APISERVER_PKI]),
            apply=[["install", "-d", "-m", "0700", "/var/log/kubernetes"], ["systemctl", "daemon-reload"],
                   ["systemctl", "enable", "kube-apiserver"], ["systemctl", "restart", "kube-apiserver"]],
            verify=kubectl_with(ADMIN_CONF, "get", "--raw", "/readyz"), verify_timeout=120))
    return steps


RBAC = """\
# Written by k8sfs: the apiserver may reach the kubelet API (logs, exec,
# metrics), as KTHW's kube-apiserver-to-kubelet.yaml grants it.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:kube-apiserver-to-kubelet
  annotations:
    rbac.authorization.kubernetes.io/autoupdate: "true"
  labels:
    kubernetes.io/bootstrapping: rbac-defaults
rules:
- apiGroups: [""]
  resources: [nodes/proxy, nodes/stats, nodes/log, nodes/spec, nodes/metrics]
  verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:kube-apiserver
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:kube-apiserver-to-kubelet
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: kube-apiserver-kubelet-client
"""
CLUSTER_ADMINS = """\
---
# From 1.29 admin.conf's group is kubeadm:cluster-admins (not system:masters),
# bound to cluster-admin here so it can be revoked.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: kubeadm:cluster-admins
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: kubeadm:cluster-admins
"""


def authorization_steps(ctx: Context) -> list[Step]:
    if not ctx.control_plane:
        return []
    first = ctx.control_plane[0]
    split_admin = ctx.spec.kubernetes_minor >= 29
    bootstrap = SUPER_ADMIN_CONF if split_admin else ADMIN_CONF
    rbac = RBAC + (CLUSTER_ADMINS if split_admin else "")
    return [Step("authorization", "rbac", first.name,
                 "Node,RBAC: apiserver-to-kubelet role" + (", kubeadm:cluster-admins -> cluster-admin" if split_admin
                                                           else ""),
                 files=[File(RBAC_FILE, rbac)],
                 check=kubectl_with(bootstrap, "get", "-f", RBAC_FILE),
                 apply=[kubectl_with(bootstrap, "apply", "-f", RBAC_FILE)],
                 verify=["sh", "-c", f"test \"$(kubectl --kubeconfig {ADMIN_CONF} auth can-i '*' '*')\" = yes"])]


def kubectl_steps(ctx: Context) -> list[Step]:
    """kubectl on the control plane with the admin kubeconfig as its default;
    on the controller, `k8sfs kubectl` uses the same identity."""
    if not ctx.control_plane:
        return []
    return [Step("kubectl", "admin-kubeconfig", h.name, "root's kubectl uses admin.conf",
                 files=[File("/root/.kube/config", ctx.pki.read("admin.conf"), 0o600, secret=True)],
                 verify=["kubectl", "cluster-info"]) for h in ctx.control_plane]


def nodes_steps(ctx: Context) -> list[Step]:
    """The kubelets registered with their own certificates (Node authorizer)."""
    if not ctx.control_plane or not ctx.workers:
        return []
    names = [h.name for h in ctx.workers]
    registered = kubectl_with(ADMIN_CONF, "get", "nodes", *names)
    return [Step("nodes", "registered", ctx.control_plane[0].name, f"{', '.join(names)} registered",
                 check=registered, verify=registered, verify_timeout=120)]


def cluster_dns_ip(service_cidr: str) -> str:
    """The tenth address of the service range, as kubeadm picks it."""
    net = ipaddress.ip_network(service_cidr, strict=False)
    return str(net.network_address + 10)
