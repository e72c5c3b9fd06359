"""Certificates on the hosts, then the control plane chapters of the
walkthrough: etcd, kube-apiserver, authorization, kubectl, and the nodes
registering."""

from __future__ import annotations

import ipaddress

from k8sfs import _core, join_command, manifests
from k8sfs._core import layout
from k8sfs.chapters.context import Context
from k8sfs.chapters.host_setup import package_step
from k8sfs.engine.service import bundle_step, service_step
from k8sfs.engine.step import AFTER, BEFORE, CLUSTER, File, Step
from k8sfs.spec import HostSpec

PKI = layout.PKI_DIR
ADMIN_CONF = layout.ADMIN_CONF
SUPER_ADMIN_CONF = layout.SUPER_ADMIN_CONF
RBAC_FILE = f"{layout.ADDONS_DIR}/rbac.yaml"


def pki_file_steps(files: list[tuple[str, File]], hosts: list[str]) -> list[Step]:
    """The PKI's files (which file goes to which host), one step per host."""
    by_host: dict[str, list[File]] = {h: [] for h in hosts}
    for host, f in files:
        by_host.setdefault(host, []).append(f)
    return [
        Step(
            "pki",
            host,
            f"{len(fs)} files from the cluster PKI",
            files=fs,
            data=[layout.KUBERNETES_DIR],
            by_hand=[
                f"openssl x509 -in {path} -noout -subject -issuer -enddate -ext subjectAltName"
                for path in _worth_reading([f.path for f in fs])
            ],
        )
        for host, fs in by_host.items()
        if fs
    ]


def _worth_reading(paths: list[str]) -> list[str]:
    """The leaf certificates a person looks at first: the API's, then a kubelet's."""
    leaves = [p for p in paths if p.endswith(".crt") and not p.endswith("ca.crt")]
    return sorted(leaves, key=lambda p: (not p.endswith("/apiserver.crt"), not p.endswith("/kubelet.crt"), p))[:2]


def certificates_steps(ctx: Context) -> list[Step]:
    """Each host's keys, certificates and kubeconfigs."""
    files = [(f.host, ctx.pki_file(f.local, f.remote, f.mode, f.owner)) for f in ctx.pki_files]
    return pki_file_steps(files, [h.name for h in ctx.spec.hosts])


def kubectl_with(conf: str, *args: str) -> list[str]:
    """kubectl on a control-plane host with one of its kubeconfigs."""
    return ["kubectl", "--kubeconfig", conf, *args]


def local_kubectl(*args: str) -> list[str]:
    """kubectl against this control-plane host's own kube-apiserver (not the endpoint)."""
    return kubectl_with(ADMIN_CONF, "--server", "https://127.0.0.1:6443", *args)


def etcd_options(ctx: Context, h: HostSpec) -> _core.EtcdOptions:
    members = [_core.EtcdMember(e.name, e.address) for e in ctx.etcd_hosts]
    o = _core.EtcdOptions()
    o.version, o.members, o.cluster_token = ctx.version("etcd"), members, ctx.spec.cluster_name
    o.self = next(m for m in members if m.name == h.name)
    return o


def etcd_steps(ctx: Context) -> list[Step]:
    health = ["etcdctl", *_core.etcdctl_tls_args(), "endpoint", "health"]
    steps = []
    for h in ctx.etcd_hosts:
        o = etcd_options(ctx, h)
        # The clients (etcdctl, etcdutl for snapshots and restores) are not what etcd runs.
        steps.append(
            Step(
                "etcd-tools",
                h.name,
                "etcdctl and etcdutl",
                uploads=[
                    ctx.upload("etcdctl", layout.binary("etcdctl")),
                    ctx.upload("etcdutl", layout.binary("etcdutl")),
                ],
            )
        )
        steps.append(
            bundle_step(
                h.name,
                etcd := _core.etcd_service(o),
                f"etcd {o.version}, TLS for clients and peers, {len(o.members)} member(s)",
                uploads=[ctx.upload("etcd", etcd.binary)],
                prepare=[["install", "-d", "-m", "0700", o.data_dir]],
                verify=health,
                verify_timeout=60,
                data=[o.data_dir],
                by_hand=[join_command(health), join_command([*health[:-2], "member", "list", "-w", "table"])],
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


def endpoint_hooks(ctx: Context, h: HostSpec) -> list[Step]:
    """With a control-plane endpoint, a running kube-apiserver's turn in a
    rollout: first hand the endpoint to another control plane (stop
    keepalived here, see the endpoint answer from elsewhere), then take part
    again once this apiserver is back."""
    vip = ctx.spec.control_plane_endpoint
    if not vip or len(ctx.control_plane) < 2:
        return []
    elsewhere = [
        "sh",
        "-c",
        f"! ip -4 -o addr show | grep -qw {vip} && kubectl --kubeconfig {ADMIN_CONF} "
        f"--server https://{vip}:6443 --request-timeout=3s get --raw /readyz",
    ]
    active = ["systemctl", "is-active", "--quiet", "keepalived"]
    return [
        Step(
            "hand-over-endpoint",
            h.name,
            f"{vip} moves to another control plane first",
            phase=BEFORE,
            target=h.name,
            apply=[["systemctl", "stop", "keepalived"]],
            verify=elsewhere,
            verify_timeout=60,
        ),
        Step(
            "rejoin-endpoint",
            h.name,
            f"this host may hold {vip} again",
            phase=AFTER,
            target=h.name,
            check=active,
            apply=[["systemctl", "start", "keepalived"]],
            verify=active,
        ),
    ]


def apiserver_steps(ctx: Context) -> list[Step]:
    steps = []
    for h in ctx.control_plane:
        o = apiserver_options(ctx, h)
        steps.append(
            bundle_step(
                h.name,
                apiserver := _core.apiserver_service(o),
                f"kube-apiserver {ctx.version('kube-apiserver')} on :6443, etcd over TLS, secrets encrypted (aescbc), "
                "audit log",
                files=[ctx.encryption_config(o.encryption_config)],
                uploads=[
                    ctx.upload("kube-apiserver", apiserver.binary),
                    ctx.upload("kubectl", layout.binary("kubectl")),
                ],
                prepare=[["install", "-d", "-m", "0700", layout.LOG_DIR]],
                verify=local_kubectl("get", "--raw", "/readyz"),
                verify_timeout=120,
                data=[layout.LOG_DIR],
                by_hand=[
                    f"curl --cacert {layout.PKI_DIR}/ca.crt https://127.0.0.1:6443/healthz",
                    f"kubectl --kubeconfig {ADMIN_CONF} get --raw '/readyz?verbose'",
                ],
            )
        )
        steps.extend(endpoint_hooks(ctx, h))
    return steps


APISERVER_READY = layout.script("k8sfs-apiserver-ready")
KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"


def api_endpoint_steps(ctx: Context) -> list[Step]:
    """With a control-plane endpoint: keepalived on every control-plane host,
    holding the endpoint where the local kube-apiserver is ready."""
    vip = ctx.spec.control_plane_endpoint
    if not vip:
        return []
    planes = ctx.control_plane
    router_id = _core.virtual_router_id_for(f"{ctx.spec.cluster_name}/{vip}")
    check = manifests.render("apiserver-ready.sh", cluster=ctx.spec.cluster_name)
    answers = [
        "sh",
        "-c",
        f"kubectl --kubeconfig {ADMIN_CONF} --server https://{vip}:6443 --request-timeout=3s get --raw /readyz",
    ]
    steps = []
    for i, h in enumerate(planes):
        o = _core.KeepalivedOptions()
        o.virtual_ip, o.self, o.virtual_router_id = vip, h.address, router_id
        o.peers = [p.address for p in planes if p.name != h.name]
        o.priority = max(1, 150 - 10 * i)  # the first control plane holds it when all are well
        where = ctx.host_facts(h).interface_for(h.address)
        if where:
            o.interface, o.prefix_length = where
        steps.append(package_step(ctx, h, ["keepalived"]))
        steps.append(
            service_step(
                "keepalived",
                h.name,
                "keepalived",
                f"{vip} held here while this kube-apiserver is ready (VRRP priority {o.priority})",
                files=[
                    File(KEEPALIVED_CONF, _core.render_keepalived_config(o), 0o644),
                    File(APISERVER_READY, check, 0o755),
                ],
                verify=answers,
                verify_timeout=60,
                by_hand=[f"ip -4 addr show | grep {vip}"],
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
            by_hand=[
                f"kubectl --kubeconfig {ADMIN_CONF} auth can-i '*' '*'",
                f"kubectl --kubeconfig {ADMIN_CONF} get -f {RBAC_FILE}",
            ],
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
            by_hand=["kubectl cluster-info", "kubectl get nodes"],
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
            by_hand=[f"kubectl --kubeconfig {ADMIN_CONF} get nodes -o wide"],
        )
    ]


def cluster_dns_ip(service_cidr: str) -> str:
    """The tenth address of the service range, as kubeadm picks it."""
    net = ipaddress.ip_network(service_cidr, strict=False)
    return str(net.network_address + 10)
