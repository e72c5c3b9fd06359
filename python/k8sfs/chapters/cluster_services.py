"""The chapters after the API server: kube-controller-manager and
kube-scheduler, pod networking (a CNI bridge per node and routes between
nodes), kube-proxy, cluster DNS (CoreDNS), and the walkthrough's smoke test."""

from __future__ import annotations

import re

from k8sfs import _core, join_command, manifests, quote
from k8sfs._core import layout
from k8sfs.chapters.context import Context
from k8sfs.chapters.control_plane import ADMIN_CONF, cluster_dns_ip, kubectl_with
from k8sfs.engine.service import bundle_step
from k8sfs.engine.step import CLUSTER, File, Step
from k8sfs.images import TEST_IMAGE

KUBE_PROXY_CONFIG = layout.KUBE_PROXY_CONFIG
SMOKE_MANIFEST = f"{layout.ADDONS_DIR}/smoke-test.yaml"
SMOKE_SCRIPT = layout.script("k8sfs-smoke-test")


def _kubectl(*args: str) -> list[str]:
    return kubectl_with(ADMIN_CONF, *args)


def replicas_available(namespace: str, deployment: str, at_least: int) -> list[str]:
    """Exit 0 when the Deployment has at least that many available replicas."""
    count = join_command(
        _kubectl("-n", namespace, "get", "deployment", deployment, "-o", "jsonpath={.status.availableReplicas}")
    )
    return ["sh", "-c", f'test "$({count})" -ge {at_least}']


def _lease_renewed_since_start(unit: str) -> list[str]:
    """Exit 0 once the leader's lease of `unit` was renewed after this host's
    process started. A restarted controller-manager or scheduler finds the
    lease its killed predecessor held and takes it over only when it
    expires (about 15 s), and meanwhile no controller runs: an upgrade
    that drained a node then left the evicted pods in their Services'
    endpoints and made no replacements (measured: 16 s). A leader alive on
    another control plane renews it every 2 s."""
    renewed = join_command(_kubectl("-n", "kube-system", "get", "lease", unit, "-o", "jsonpath={.spec.renewTime}"))
    started = f"systemctl show -p ExecMainStartTimestamp --value {unit}"
    return [
        "sh",
        "-c",
        f'r=$({renewed}) && [ -n "$r" ] && s=$({started}) && [ -n "$s" ] '
        f'&& [ "$(date -d "$r" +%s)" -ge "$(date -d "$s" +%s)" ]',
    ]


def controllers_steps(ctx: Context) -> list[Step]:
    cm = _core.ControllerManagerOptions(ctx.spec.kubernetes_version)
    cm.cluster_name = ctx.spec.cluster_name
    cm.service_cidr = ctx.spec.service_cidr
    cm.pod_cidr = ctx.spec.pod_cidr
    cm.sign_csrs = ctx.spec.pki.ca_key_on_control_plane
    sched = _core.SchedulerOptions(ctx.spec.kubernetes_version)
    steps = []
    for h in ctx.control_plane:
        steps.append(
            bundle_step(
                h.name,
                controller_manager := _core.controller_manager_service(cm),
                f"kube-controller-manager {ctx.version('kube-controller-manager')}"
                + (
                    ", signs CSRs with ca.key" if cm.sign_csrs else ", CSR signing off (ca.key stays on the controller)"
                ),
                uploads=[ctx.upload("kube-controller-manager", controller_manager.binary)],
                verify=_lease_renewed_since_start("kube-controller-manager"),
                verify_timeout=90,
                by_hand=[join_command(_kubectl("-n", "kube-system", "get", "lease", "kube-controller-manager"))],
            )
        )
        steps.append(
            bundle_step(
                h.name,
                scheduler := _core.scheduler_service(sched),
                f"kube-scheduler {ctx.version('kube-scheduler')}",
                uploads=[ctx.upload("kube-scheduler", scheduler.binary)],
                verify=_lease_renewed_since_start("kube-scheduler"),
                verify_timeout=90,
                by_hand=[join_command(_kubectl("-n", "kube-system", "get", "lease", "kube-scheduler"))],
            )
        )
    return steps


ROUTES_SCRIPT = layout.script("k8sfs-pod-routes")


def pod_subnets(ctx: Context) -> dict[str, str]:
    return ctx.spec.pod_subnets()


def cni_version(ctx: Context) -> str:
    """The CNI spec version of the bridge config. CRI-O before 1.23 reads
    plugin results with libcni 0.8 (its go.mod: containernetworking/cni
    v0.8.1; 1.23: v1.0.1), which stops at 0.4.0 ("unsupported CNI result
    version 1.0.0" on the v1.21.6 lab); containerd 1.6+ and later CRI-O read 1.0.0."""
    return "0.4.0" if ctx.spec.runtime.name == "crio" and ctx.spec.kubernetes_minor < 23 else "1.0.0"


CNI_BRIDGE = f"{layout.CNI_CONF_DIR}/10-bridge.conflist"
OLD_CNI_BRIDGE = f"{layout.CNI_CONF_DIR}/10-bridge.conf"  # the bridge alone, without portmap


def pod_network_steps(ctx: Context) -> list[Step]:
    subnets = pod_subnets(ctx)
    address = {h.name: h.address for h in ctx.spec.hosts}
    unit = _core.oneshot_service(
        "k8sfs-pod-routes", "routes to the other nodes' pod subnets, IP forwarding", ROUTES_SCRIPT, after_network=True
    )
    steps = []
    for h in ctx.spec.hosts:
        others = {node: subnet for node, subnet in subnets.items() if node != h.name}
        routes = [f"ip route replace {quote(subnet)} via {quote(address[node])}" for node, subnet in others.items()]
        script = manifests.render(
            "pod-routes.sh",
            cluster=ctx.spec.cluster_name,
            routes="\n".join(routes),
            wanted=" ".join(quote(s) for s in others.values()),
            pod_cidr=quote(ctx.spec.pod_cidr),
        )
        files = [File(ROUTES_SCRIPT, script, 0o755)]
        description = f"routes to {', '.join(others.values()) or 'no other node'}"
        if h.worker:
            files += [
                File(CNI_BRIDGE, _core.render_cni_bridge(subnets[h.name], cni_version(ctx))),
                File(f"{layout.CNI_CONF_DIR}/99-loopback.conf", _core.render_cni_loopback()),
            ]
            description = f"CNI bridge with pods in {subnets[h.name]}; " + description
        checks = [f"ip route show {quote(s)} | grep -q via" for s in others.values()]
        if h.worker:
            checks.append(f"! test -e {OLD_CNI_BRIDGE}")  # it would sort before the list and win
        undo = [["sh", "-c", "; ".join(f"ip route del {quote(s)} 2>/dev/null" for s in others.values()) + "; true"]]
        if h.worker:
            undo.append(["sh", "-c", "ip link del cni0 2>/dev/null; true"])
        step = bundle_step(
            h.name,
            unit,
            description,
            name="routes-and-cni",
            files=files,
            # The script once by hand first, so a failure shows its own stderr;
            # the bridge-only config earlier k8sfs wrote would sort before the list.
            prepare=[["rm", "-f", OLD_CNI_BRIDGE], [ROUTES_SCRIPT]] if h.worker else [[ROUTES_SCRIPT]],
            extra_check=" && ".join(checks),
            data=[layout.CNI_CONF_DIR, "/var/lib/cni"],
            undo=undo,
            by_hand=["ip route", *(["ip -4 addr show cni0", f"ls {layout.CNI_CONF_DIR}"] if h.worker else [])],
        )
        step.verify = step.check
        # No `needs`: every route comes from the spec (addresses, subnets), so
        # a host left out by --limit/--exclude does not stop the others' routes
        # and CNI config, and CoreDNS can start on the workers that are in.
        steps.append(step)
    return steps


# kube-proxy's chains only: the host's other rules (and SSH) stay.
KUBE_PROXY_UNDO = [
    [
        "sh",
        "-c",
        "systemctl stop kube-proxy 2>/dev/null; for t in filter nat mangle; do "
        "iptables-save -t $t 2>/dev/null | grep -q KUBE- || continue; iptables-save -t $t | "
        "grep -v -- '-j KUBE-\\|^:KUBE-\\|-A KUBE-' | iptables-restore -T $t; done; true",
    ]
]


def kube_proxy_steps(ctx: Context) -> list[Step]:
    steps = []
    for h in ctx.workers:
        o = _core.KubeProxyOptions(ctx.spec.kubernetes_version)
        o.config_path = KUBE_PROXY_CONFIG
        o.pod_cidr = ctx.spec.pod_cidr
        o.node_name = h.name
        o.container_host = ctx.container_hosts
        steps.append(
            bundle_step(
                h.name,
                kube_proxy := _core.kube_proxy_service(o),
                f"kube-proxy {ctx.version('kube-proxy')}, iptables mode",
                uploads=[ctx.upload("kube-proxy", kube_proxy.binary)],
                verify=["sh", "-c", "iptables-save -t nat | grep -q KUBE-SERVICES"],
                verify_timeout=60,
                data=[layout.KUBE_PROXY_DIR],
                undo=KUBE_PROXY_UNDO,
                by_hand=["iptables -t nat -L KUBE-SERVICES -n"],
            )
        )
    return steps


COREDNS_MANIFEST = f"{layout.ADDONS_DIR}/coredns.yaml"


def dns_steps(ctx: Context) -> list[Step]:
    if not ctx.control_plane or not ctx.workers:
        return []
    from k8sfs.images import coredns_image_name

    version = ctx.version("coredns")
    image = coredns_image_name(version)
    if image not in [i.name for i in ctx.images if i.config_digest or ctx.planning]:
        raise ValueError(
            f"the CoreDNS image for {version} was not built; is the artifact cached? (k8sfs artifacts build)"
        )
    ip = cluster_dns_ip(ctx.spec.service_cidr)
    available = replicas_available("kube-system", "coredns", 1)
    manifest = manifests.render(
        "coredns.yaml",
        cluster=ctx.spec.cluster_name,
        image=image,
        cluster_ip=ip,
        domain=ctx.spec.cluster_domain,
    )
    return [
        applied_manifest_step(
            ctx,
            "coredns",
            f"CoreDNS {version} at {ip} (kube-dns)",
            File(COREDNS_MANIFEST, manifest),
            available,
            by_hand=[
                join_command(_kubectl("-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns", "-o", "wide")),
                join_command(_kubectl("-n", "kube-system", "get", "service", "kube-dns")),
            ],
        )
    ]


def applied_manifest_step(
    ctx: Context, name: str, description: str, manifest: File | list[File], ready: list[str], by_hand: list[str]
) -> Step:
    """Manifests the first control plane applies with kubectl, in order
    (cluster DNS, the add-ons): applied when one changed or `ready` fails,
    then waited for until `ready` passes."""
    files = manifest if isinstance(manifest, list) else [manifest]
    return Step(
        name,
        ctx.control_plane[0].name,
        description,
        files=files,
        check=ready,
        apply=[_kubectl("apply", *(arg for f in files for arg in ("-f", f.path)))],
        verify=ready,
        verify_timeout=180,
        scope=CLUSTER,
        by_hand=by_hand,
    )


def smoke_test_steps(ctx: Context) -> list[Step]:
    if not ctx.control_plane or len(ctx.workers) < 2:
        return []
    if not re.fullmatch(r"[a-z0-9.-]+", ctx.spec.cluster_domain):
        raise ValueError(f"cluster_domain {ctx.spec.cluster_domain!r} is not a DNS name")
    cluster = ctx.spec.cluster_name
    return [
        Step(
            "smoke-test",
            ctx.control_plane[0].name,
            "a Deployment over two workers, pod to pod across nodes, a Service via kube-proxy, DNS, logs, exec",
            files=[
                File(SMOKE_MANIFEST, manifests.render("smoke-test.yaml", cluster=cluster, image=TEST_IMAGE)),
                File(
                    SMOKE_SCRIPT,
                    manifests.render(
                        "smoke-test.sh", cluster=cluster, kubeconfig=ADMIN_CONF, domain=ctx.spec.cluster_domain
                    ),
                    0o755,
                ),
            ],
            # The whole smoke test runs as the verification after a change; an
            # unchanged cluster only needs its Deployment still available.
            check=replicas_available("k8sfs-smoke", "hello", 2),
            apply=[_kubectl("apply", "-f", SMOKE_MANIFEST)],
            verify=[SMOKE_SCRIPT],
            verify_timeout=180,
            scope=CLUSTER,
            needs=[h.name for h in ctx.workers],
            by_hand=[SMOKE_SCRIPT, join_command(_kubectl("-n", "k8sfs-smoke", "get", "pods", "-o", "wide"))],
        )
    ]
