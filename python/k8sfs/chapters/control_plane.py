"""Certificates on the hosts, then the control plane chapters of the
walkthrough: etcd, kube-apiserver, authorization, kubectl, and the nodes
registering."""

from __future__ import annotations

import ipaddress

from k8sfs import _core, manifests
from k8sfs.chapters.context import Context
from k8sfs.engine.service import service_step
from k8sfs.engine.step import CLUSTER, File, Step
from k8sfs.spec import HostSpec

PKI = "/etc/kubernetes/pki"
ADMIN_CONF = "/etc/kubernetes/admin.conf"
SUPER_ADMIN_CONF = "/etc/kubernetes/super-admin.conf"
RBAC_FILE = "/etc/kubernetes/addons/rbac.yaml"


def pki_file_steps(files: list[tuple[str, File]], hosts: list[str]) -> list[Step]:
    """The PKI's files (which file goes to which host), one step per host."""
    by_host: dict[str, list[File]] = {h: [] for h in hosts}
    for host, f in files:
        by_host.setdefault(host, []).append(f)
    return [
        Step("pki", host, f"{len(fs)} files from the cluster PKI", files=fs, data=["/etc/kubernetes"])
        for host, fs in by_host.items()
        if fs
    ]


def certificates_steps(ctx: Context) -> list[Step]:
    """Each host's keys, certificates and kubeconfigs."""
    files = [(f.host, ctx.pki_file(f.local, f.remote, f.mode, f.owner)) for f in ctx.pki_files]
    return pki_file_steps(files, [h.name for h in ctx.spec.hosts])


def kubectl_with(conf: str, *args: str) -> list[str]:
    """kubectl on a control-plane host with one of its kubeconfigs."""
    return ["kubectl", "--kubeconfig", conf, *args]


def etcd_steps(ctx: Context) -> list[Step]:
    members = [_core.EtcdMember(h.name, h.address) for h in ctx.etcd_hosts]
    health = ["etcdctl", *_core.etcdctl_tls_args(), "endpoint", "health"]
    steps = []
    for h, me in zip(ctx.etcd_hosts, members, strict=True):
        o = _core.EtcdOptions()
        o.version, o.self, o.members, o.cluster_token = ctx.version("etcd"), me, members, ctx.spec.cluster_name
        steps.append(
            service_step(
                "etcd",
                h.name,
                "etcd",
                f"etcd {o.version}, TLS for clients and peers, {len(members)} member(s)",
                reads=_core.etcd_reads(o),
                files=[File("/etc/systemd/system/etcd.service", _core.render_etcd_unit(o))],
                uploads=[ctx.upload("etcd", "/usr/local/bin/etcd"), ctx.upload("etcdctl", "/usr/local/bin/etcdctl")],
                prepare=[["install", "-d", "-m", "0700", o.data_dir]],
                verify=health,
                verify_timeout=60,
                data=[o.data_dir],
            )
        )
    return steps


def apiserver_options(ctx: Context, h: HostSpec) -> _core.ApiserverOptions:
    o = _core.ApiserverOptions(ctx.spec.kubernetes_version)
    o.advertise_address = h.address
    o.etcd_servers = _core.etcd_client_urls([_core.EtcdMember(e.name, e.address) for e in ctx.etcd_hosts])
    o.service_cidr = ctx.spec.service_cidr
    o.dns_domain = ctx.spec.cluster_domain
    return o


def apiserver_steps(ctx: Context) -> list[Step]:
    steps = []
    for h in ctx.control_plane:
        o = apiserver_options(ctx, h)
        steps.append(
            service_step(
                "kube-apiserver",
                h.name,
                "kube-apiserver",
                f"kube-apiserver {ctx.version('kube-apiserver')} on :6443, etcd over TLS, secrets encrypted (aescbc), "
                "audit log",
                reads=_core.apiserver_reads(o),
                files=[
                    File("/etc/systemd/system/kube-apiserver.service", _core.render_apiserver_unit(o)),
                    ctx.encryption_config(o.encryption_config),
                    File(o.audit_policy, _core.render_audit_policy()),
                ],
                uploads=[
                    ctx.upload("kube-apiserver", "/usr/local/bin/kube-apiserver"),
                    ctx.upload("kubectl", "/usr/local/bin/kubectl"),
                ],
                prepare=[["install", "-d", "-m", "0700", "/var/log/kubernetes"]],
                verify=kubectl_with(ADMIN_CONF, "get", "--raw", "/readyz"),
                verify_timeout=120,
                data=["/var/log/kubernetes"],
            )
        )
    return steps


def authorization_steps(ctx: Context) -> list[Step]:
    if not ctx.control_plane:
        return []
    first = ctx.control_plane[0]
    minor = ctx.spec.kubernetes_minor
    bootstrap = SUPER_ADMIN_CONF if _core.has_super_admin(minor) else ADMIN_CONF
    group = _core.admin_group(minor)
    rbac = manifests.render("kube-apiserver-to-kubelet.yaml", cluster=ctx.spec.cluster_name)
    if group != "system:masters":
        rbac += manifests.render("cluster-admins.yaml", group=group)
    return [
        Step(
            "rbac",
            first.name,
            "Node,RBAC: apiserver-to-kubelet role"
            + (f", {group} -> cluster-admin" if group != "system:masters" else ""),
            files=[File(RBAC_FILE, rbac)],
            check=kubectl_with(bootstrap, "get", "-f", RBAC_FILE),
            apply=[kubectl_with(bootstrap, "apply", "-f", RBAC_FILE)],
            verify=["sh", "-c", f"test \"$(kubectl --kubeconfig {ADMIN_CONF} auth can-i '*' '*')\" = yes"],
            scope=CLUSTER,
        )
    ]


def kubectl_steps(ctx: Context) -> list[Step]:
    """kubectl on the control plane with the admin kubeconfig as its default;
    on the controller, `k8sfs kubectl` uses the same identity."""
    return [
        Step(
            "admin-kubeconfig",
            h.name,
            "root's kubectl uses admin.conf",
            files=[ctx.pki_file("admin.conf", "/root/.kube/config", 0o600)],
            verify=["kubectl", "cluster-info"],
            data=["/root/.kube"],
        )
        for h in ctx.control_plane
    ]


def nodes_steps(ctx: Context) -> list[Step]:
    """The kubelets registered with their own certificates (Node authorizer)."""
    if not ctx.control_plane or not ctx.workers:
        return []
    names = [h.name for h in ctx.workers]
    registered = kubectl_with(ADMIN_CONF, "get", "nodes", *names)
    return [
        Step(
            "registered",
            ctx.control_plane[0].name,
            f"{', '.join(names)} registered",
            check=registered,
            verify=registered,
            verify_timeout=120,
            needs=names,
        )
    ]


def cluster_dns_ip(service_cidr: str) -> str:
    """The tenth address of the service range, as kubeadm picks it."""
    net = ipaddress.ip_network(service_cidr, strict=False)
    return str(net.network_address + 10)
