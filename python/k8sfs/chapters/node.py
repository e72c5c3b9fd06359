"""Node chapters of the walkthrough: swap, container runtime, kubelet,
crictl, and a static pod. Files come from the C++ core's renderers and
the manifests folder."""

from __future__ import annotations

from collections.abc import Callable

from k8sfs import _core, join_command, manifests, quote, versions
from k8sfs._core import layout
from k8sfs.artifacts.catalog import CONTAINERD as CONTAINERD_BINARIES
from k8sfs.chapters.context import Context
from k8sfs.chapters.host_setup import kernel_step, package_step
from k8sfs.engine.service import bundle_step
from k8sfs.engine.step import AFTER, BEFORE, Argv, File, Guard, Step
from k8sfs.images import PAUSE_IMAGE, TEST_IMAGE
from k8sfs.spec import HostSpec

IMAGE_DIR = layout.IMAGE_DIR
KUBELET_CONFIG = layout.KUBELET_CONFIG
MANIFESTS = layout.MANIFESTS_DIR
STATIC_POD = f"{MANIFESTS}/k8sfs-hello.yaml"
CONTAINER_HOST_SCRIPT = layout.script("k8sfs-container-host")

# Swap: none active and no active swap line left in /etc/fstab.
_ACTIVE_SWAP_LINE = "'^[^#][^[:space:]]*[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]]'"
FSTAB_CHECK = ["sh", "-c", f"! grep -Eq {_ACTIVE_SWAP_LINE} {layout.FSTAB}"]
SWAP_OFF_CHECK = ["sh", "-c", f'test -z "$(swapon --noheadings --show 2>/dev/null)" && {FSTAB_CHECK[2]}']
FSTAB_COMMENT_SWAP = [
    "sed",
    "-i",
    "-E",
    r"s@^([^#][^[:space:]]*[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]].*)$@# \1  # k8sfs: swap off@",
    layout.FSTAB,
]
# kubelet's health endpoint, with nothing but bash.
KUBELET_HEALTHY = [
    "bash",
    "-c",
    "systemctl is-active --quiet kubelet && exec 3<>/dev/tcp/127.0.0.1/10248 && "
    "printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '^ok' <&3",
]


def swap_steps(ctx: Context) -> list[Step]:
    steps = []
    for h in ctx.workers:
        if ctx.container_hosts:
            # A container's swap is the machine's: swapoff here would turn off
            # the machine's swap. kubelet gets failSwapOn: false instead.
            steps.append(
                Step(
                    "fstab",
                    h.name,
                    "container host: swap is the machine's; only /etc/fstab is "
                    "edited and kubelet runs with failSwapOn: false",
                    check=FSTAB_CHECK,
                    apply=[FSTAB_COMMENT_SWAP],
                    verify=FSTAB_CHECK,
                    by_hand=["swapon --show", f"grep swap {layout.FSTAB}"],
                )
            )
        else:
            steps.append(
                Step(
                    "swap-off",
                    h.name,
                    "swapoff -a and comment out swap in /etc/fstab",
                    check=SWAP_OFF_CHECK,
                    apply=[["swapoff", "-a"], FSTAB_COMMENT_SWAP],
                    verify=SWAP_OFF_CHECK,
                    by_hand=["swapon --show", f"grep swap {layout.FSTAB}"],
                )
            )
    return steps


# ----- runtime --------------------------------------------------------------


def _container_host_step(ctx: Context, h: HostSpec) -> Step:
    root = ctx.cgroup_root(h)
    unit = _core.oneshot_service(
        "k8sfs-container-host",
        "cgroup root and kubelet sysctls for a host that is a container",
        CONTAINER_HOST_SCRIPT,
        before=["containerd.service", "kubelet.service", "crio.service"],
    )
    script = manifests.render("container-host.sh", cluster=ctx.spec.cluster_name, root=quote(root))
    # The cgroup subtree is removed by reset (engine/reset.py), with the sysctl binds.
    return bundle_step(
        h.name,
        unit,
        f"lab only: cgroup root {root}, kubelet sysctls",
        name="container-host",
        files=[
            File(CONTAINER_HOST_SCRIPT, script, 0o755),
            # The cgroup root can go while the host runs (seen with CRI-O
            # removing pods): kubelet makes sure of it on every start.
            File(
                f"{layout.UNIT_DIR}/kubelet.service.d/10-k8sfs-container-host.conf",
                f"# Written by k8sfs.\n[Service]\nExecStartPre={CONTAINER_HOST_SCRIPT}\n",
            ),
        ],
        verify=["test", "-d", f"/sys/fs/cgroup/memory{root}"],
        undo=[
            [
                "sh",
                "-c",
                'for f in /run/k8sfs-sysctl/*; do [ -e "$f" ] || continue; '
                'k=$(basename "$f" | tr . /); umount "/proc/sys/$k" 2>/dev/null; '
                "done; rm -rf /run/k8sfs-sysctl",
            ],
            [
                "sh",
                "-c",
                f'for c in /sys/fs/cgroup/*/; do d="$c"{quote(root.lstrip("/"))}; '
                '[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + '
                "2>/dev/null; done; true",
            ],
        ],
    )


def _image_names(ctx: Context) -> list[str]:
    return [img.name for img in ctx.images]


def image_import_command(runtime: str, archive: str, name: str) -> list[str]:
    """Loads a docker-archive on the host into the runtime's image store."""
    if runtime == "containerd":
        return ["ctr", "-n", "k8s.io", "images", "import", archive]
    return ["skopeo", "copy", f"docker-archive:{archive}", f"containers-storage:{name}"]


def image_pull_command(runtime: str, name: str) -> list[str]:
    """Pulls an image into the runtime's store through the registry
    configuration k8sfs wrote (mirrors, CA certificates, policy)."""
    if runtime == "containerd":
        return ["ctr", "-n", "k8s.io", "images", "pull", "--hosts-dir", _core.CONTAINERD_CERTS_DIR, name]
    return ["skopeo", "copy", f"docker://{name}", f"containers-storage:{name}"]


def own_images_step(ctx: Context, h: HostSpec, runtime: str) -> Step:
    """k8sfs's own images (pause, busybox, CoreDNS) in the runtime's store
    before the kubelet needs them: pulled from the registry the controller
    pushed them to (registries.k8sfs_images), or else each archive
    uploaded and imported. Pods name them with imagePullPolicy: Never."""
    names = _image_names(ctx)
    source = ctx.spec.registries.k8sfs_images
    by_hand = ["ctr -n k8s.io images ls -q"] if runtime == "containerd" else ["crictl images"]
    if source:
        return Step(
            "images",
            h.name,
            f"{', '.join(names)} pulled from {source} (the controller pushed them there)",
            check=images_present_check(runtime, names),
            apply=[image_pull_command(runtime, n) for n in names],
            verify=images_present_check(runtime, names),
            by_hand=by_hand,
        )
    uploads = ctx.image_uploads(IMAGE_DIR)
    store = "containerd's k8s.io namespace" if runtime == "containerd" else "containers-storage"
    return Step(
        "images",
        h.name,
        f"{', '.join(names)} uploaded and imported into {store}",
        uploads=uploads,
        check=images_present_check(runtime, names),
        apply=[image_import_command(runtime, u.path, n) for u, n in zip(uploads, names, strict=True)],
        verify=images_present_check(runtime, names),
        by_hand=by_hand,
    )


CONTAINERD_SOCKET = "/run/containerd/containerd.sock"


def images_present_check(runtime: str, names: list[str]) -> list[str]:
    if runtime == "containerd":
        # No socket, no containerd, no images: say so at once. ctr would wait
        # 10 s for the socket, on every fresh worker, twice per cold apply.
        wanted = " && ".join(f"printf '%s\\n' \"$have\" | grep -qxF {quote(n)}" for n in names)
        return ["sh", "-c", f"test -S {CONTAINERD_SOCKET} && have=$(ctr -n k8s.io images ls -q) && {wanted}"]
    # CRI-O's images are in containers-storage; skopeo reads it (crictl comes in a later chapter).
    return [
        "sh",
        "-c",
        " && ".join(f"skopeo inspect --raw {quote('containers-storage:' + n)} >/dev/null" for n in names),
    ]


# Containers first, while the runtime still answers; then its state (a bind
# mount in the lab, so the directory's contents only).
CONTAINERD_UNDO = [
    [
        "sh",
        "-c",
        "command -v ctr >/dev/null || exit 0; for c in $(ctr -n k8s.io containers ls -q 2>/dev/null); do "
        'ctr -n k8s.io tasks kill -s KILL "$c" 2>/dev/null; ctr -n k8s.io containers rm "$c" '
        "2>/dev/null; done; true",
    ],
    [
        "sh",
        "-c",
        "systemctl stop containerd 2>/dev/null; find /var/lib/containerd -mindepth 1 -maxdepth 1 "
        "-exec rm -rf {} + 2>/dev/null; true",
    ],
]


def _pulls(ctx: Context) -> str:
    r = ctx.spec.registries
    if r.offline:
        return "pulls refused (offline)"
    if r.mirrors:
        return "pulls through mirrors for " + ", ".join(sorted(r.mirrors))
    return "pulls allowed"


def _registry_files(files: list[_core.RegistryFile]) -> list[File]:
    return [File(f.path, f.content, 0o600 if f.secret else 0o644, secret=f.secret) for f in files]


def _nothing_else_in(certs_dir: str, wanted: list[str]) -> tuple[str, Argv]:
    """A check that `certs_dir` holds no entry but `wanted`, and the command
    that removes the others: a registry taken out of the spec leaves
    neither its mirrors nor its login behind."""
    keep = " ".join(wanted)  # host names (components/registries.h checks them)

    def each(other: str) -> str:
        return (
            f'for d in {quote(certs_dir)}/*; do [ -e "$d" ] || continue; '
            f'case " {keep} " in *" ${{d##*/}} "*) ;; *) {other};; esac; done'
        )

    return f"( {each('exit 1')} )", ["sh", "-c", each('rm -rf -- "$d"')]


def _containerd_steps(ctx: Context, h: HostSpec) -> list[Step]:
    """containerd from the host's packages, or for Kubernetes 1.36+ (which
    needs containerd 2, newer than Debian bookworm's 1.6) k8sfs's own build
    from the artifact cache with a unit k8sfs writes; runc from the packages."""
    facts = ctx.host_facts(h)
    own = versions.containerd_from_artifacts(ctx.spec.kubernetes_version)
    options = _core.ContainerdOptions()
    options.major_version = 2 if own else facts.containerd_major
    options.cgroup_driver = ctx.spec.runtime.cgroup_driver
    options.sandbox_image = PAUSE_IMAGE
    options.container_host = ctx.container_hosts
    # Debian's containernetworking-plugins live in /usr/lib/cni; release tarballs in /opt/cni/bin.
    options.cni_bin_dir = layout.DEBIAN_CNI_BIN_DIR if "debian" in facts.os_family_words.split() else layout.CNI_BIN_DIR
    install = package_step(ctx, h, ["runc"] if own else ["containerd", "runc"])
    # k8sfs's build: its unit in /etc/systemd/system replaces a package's, or a mask.
    version = ctx.version("containerd") if own else ""
    what = f"containerd {version} (k8sfs's build)" if own else "containerd"
    registries = _core.containerd_registry_files(ctx.registries)
    only_ours, remove_others = _nothing_else_in(
        _core.CONTAINERD_CERTS_DIR, _core.registry_dirs(registries, _core.CONTAINERD_CERTS_DIR)
    )
    configure = bundle_step(
        h.name,
        _core.containerd_service(options, version),
        f"{what}, CRI plugin: {options.cgroup_driver} cgroups, sandbox image {PAUSE_IMAGE}, " + _pulls(ctx),
        with_unit=own,
        files=_registry_files(registries),
        uploads=[ctx.upload(name, layout.binary(name)) for name in CONTAINERD_BINARIES] if own else [],
        prepare=[remove_others] if own else [["systemctl", "unmask", "containerd"], remove_others],
        extra_check=only_ours,
        verify=["ctr", "version"],
        undo=CONTAINERD_UNDO,
        by_hand=["containerd --version", "runc --version", "ctr version"],
    )
    return [install, configure, own_images_step(ctx, h, "containerd")]


OCI_WRAPPER = layout.script("k8sfs-oci-runtime")
CRIO_CONFIG = layout.CRIO_CONFIG
# Containers first, while CRI-O still answers; then its state (a bind mount
# in the lab, so the directory's contents only).
CRIO_UNDO = [
    [
        "sh",
        "-c",
        "command -v crictl >/dev/null && crictl rmp -af >/dev/null 2>&1; systemctl stop crio 2>/dev/null; "
        "find /var/lib/containers -mindepth 1 -maxdepth 1 -exec rm -rf {} + 2>/dev/null; true",
    ],
]


def _crio_steps(ctx: Context, h: HostSpec) -> list[Step]:
    """CRI-O from the artifact cache (built from its Go module, or fetched),
    conmon and crun from the host's packages, and the containers
    configuration it reads written by k8sfs: pulls as the spec's
    `registries` say (allowed; through mirrors; or none, offline)."""
    facts = ctx.host_facts(h)
    cluster = ctx.spec.cluster_name
    options = _core.CrioOptions()
    options.cgroup_driver = ctx.spec.runtime.cgroup_driver
    options.pause_image = PAUSE_IMAGE
    options.cni_plugin_dir = (
        layout.DEBIAN_CNI_BIN_DIR if "debian" in facts.os_family_words.split() else layout.CNI_BIN_DIR
    )
    registries = _core.crio_registry_files(ctx.registries)
    if ctx.registries.credentials:
        options.global_auth_file = _core.CRIO_AUTH_FILE
    only_ours, remove_others = _nothing_else_in(
        _core.CONTAINERS_CERTS_DIR, _core.registry_dirs(registries, _core.CONTAINERS_CERTS_DIR)
    )
    if not ctx.registries.credentials:  # a login taken out of the spec goes too
        only_ours += f" && ! test -e {_core.CRIO_AUTH_FILE}"
        remove_others = ["sh", "-c", f"{remove_others[2]}; rm -f {_core.CRIO_AUTH_FILE}"]
    files = _registry_files(registries)
    # Always behind k8sfs's wrapper: it adapts the spec version for older crun,
    # and on container hosts clamps oom_score_adj and drops hugetlb limits it
    # cannot apply (see the wrapper).
    options.runtime_path = OCI_WRAPPER
    files.append(
        File(
            OCI_WRAPPER,
            manifests.render(
                "oci-runtime-wrapper.py",
                cluster=cluster,
                runtime="/usr/bin/crun",
                container_host=str(bool(ctx.container_hosts)),
            ),
            0o755,
        )
    )
    install = package_step(ctx, h, ["conmon", "crun", "skopeo"])
    configure = bundle_step(
        h.name,
        crio := _core.crio_service(options, ctx.version("crio")),
        f"CRI-O {ctx.version('crio')}: {options.cgroup_driver} cgroups, pause_image {PAUSE_IMAGE}, " + _pulls(ctx),
        files=files,
        uploads=[ctx.upload("crio", crio.binary), ctx.upload("pinns", layout.binary("pinns"))],
        prepare=[remove_others],
        extra_check=only_ours,
        verify=["sh", "-c", "systemctl is-active --quiet crio && test -S /var/run/crio/crio.sock"],
        data=["/etc/crio", "/etc/containers"],
        undo=CRIO_UNDO,
        by_hand=["crio --version", "crio status config | grep -E 'cgroup_manager|pause_image'"],
    )
    return [install, configure, own_images_step(ctx, h, "crio")]


def runtime_steps(ctx: Context) -> list[Step]:
    steps = []
    for h in ctx.workers:
        # A lab host shares the machine's kernel: its modules and sysctls
        # are not the host's to set (the container-host step covers kubelet's).
        steps.append(_container_host_step(ctx, h) if ctx.container_hosts else kernel_step(h))
        steps.extend(_containerd_steps(ctx, h) if ctx.spec.runtime.name == "containerd" else _crio_steps(ctx, h))
    return steps


# ----- kubelet and crictl ------------------------------------------------------


def kubelet_options(ctx: Context, h: HostSpec) -> _core.KubeletOptions:
    o = _core.KubeletOptions(ctx.spec.kubernetes_version)
    o.config_path = KUBELET_CONFIG
    o.runtime_endpoint = _core.runtime_socket(ctx.spec.runtime.name)
    o.cgroup_driver = ctx.spec.kubelet_cgroup_driver
    o.static_pod_path = MANIFESTS
    o.pause_image = PAUSE_IMAGE
    if ctx.control_plane:
        # With a control plane: register with the node's own identity, serve
        # TLS with the certificate k8sfs issued, authenticate callers by CA.
        from k8sfs.chapters.control_plane import cluster_dns_ip

        o.kubeconfig = layout.KUBELET_CONF
        o.client_ca_file = f"{layout.PKI_DIR}/ca.crt"
        o.tls_cert_file = f"{layout.KUBELET_PKI_DIR}/kubelet.crt"
        o.tls_private_key_file = f"{layout.KUBELET_PKI_DIR}/kubelet.key"
        o.node_ip = h.address
        o.cluster_dns = [cluster_dns_ip(ctx.spec.service_cidr)]
        o.cluster_domain = ctx.spec.cluster_domain
    if ctx.container_hosts:
        o.container_host = True
        o.cgroup_root = ctx.cgroup_root(h)
        o.fail_swap_on = False
        o.fail_cgroup_v1 = False  # the lab machine is cgroup v1
    return o


def kubelet_config(ctx: Context, h: HostSpec) -> str:
    """The KubeletConfiguration a host gets (what the kubelet step writes)."""
    return _core.render_kubelet_config(kubelet_options(ctx, h))


def _cgroup_guard(ctx: Context) -> Guard:
    runtime = ctx.spec.runtime.name
    kubelet_driver = ctx.spec.kubelet_cgroup_driver
    read: Callable[[str], str | None]
    if runtime == "containerd":
        command = ["containerd", "config", "dump"]
        read = _core.containerd_cgroup_driver_from_config
    else:
        command = ["crio", "config"]
        read = _core.crio_cgroup_driver_from_config

    def decide(output: str) -> str:
        driver = read(output)
        if driver is None:
            return f"could not tell which cgroup driver {runtime} uses from `{' '.join(command)}`"
        return _core.cgroup_driver_mismatch(runtime, driver, kubelet_driver)

    return Guard(command, decide)


# Pods first, while the runtime still answers (reset runs chapters backwards).
KUBELET_UNDO = [
    [
        "sh",
        "-c",
        "systemctl stop kubelet 2>/dev/null; command -v crictl >/dev/null && crictl rmp -af >/dev/null 2>&1; true",
    ]
]


DRAINED = "k8sfs.io/drained"


def drain_hooks(ctx: Context, h: HostSpec) -> list[Step]:
    """A running node's turn when its kubelet binary changes (an upgrade):
    cordon and drain it first (PodDisruptionBudgets are respected by the
    eviction API), uncordon it once it is Ready again. The annotation marks
    a node k8sfs drained, so an apply killed in between still uncordons it
    and a node someone else cordoned is left alone."""
    if not ctx.control_plane:
        return []
    from k8sfs.chapters.control_plane import ADMIN_CONF, kubectl_with

    def k(*args: str) -> list[str]:
        return kubectl_with(ADMIN_CONF, *args)

    on = ctx.control_plane[0].name
    marked = join_command(k("get", "node", h.name, "-o", "jsonpath={.metadata.annotations.k8sfs\\.io/drained}"))
    not_drained = ["sh", "-c", f'test "$({marked})" != yes']
    guards = [layout.binary("kubelet")]
    return [
        Step(
            "drain",
            on,
            f"cordon and drain {h.name} first (PodDisruptionBudgets respected)",
            phase=BEFORE,
            target=h.name,
            guards=guards,
            apply=[
                k("annotate", "--overwrite", "node", h.name, f"{DRAINED}=yes"),
                k("drain", h.name, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=300s"),
            ],
        ),
        Step(
            "uncordon",
            on,
            f"{h.name} Ready again, then uncordoned",
            phase=AFTER,
            target=h.name,
            guards=guards,
            check=not_drained,
            apply=[
                k("wait", "--for=condition=Ready", f"node/{h.name}", "--timeout=180s"),
                k("uncordon", h.name),
                k("annotate", "node", h.name, f"{DRAINED}-"),
            ],
            verify=not_drained,
        ),
    ]


def kubelet_steps(ctx: Context) -> list[Step]:
    runtime_unit = "containerd" if ctx.spec.runtime.name == "containerd" else "crio"
    runtime_config = layout.CONTAINERD_CONFIG if runtime_unit == "containerd" else layout.CRIO_CONFIG
    steps = []
    for h in ctx.workers:
        o = kubelet_options(ctx, h)
        steps.append(
            bundle_step(
                h.name,
                kubelet := _core.kubelet_service(o, runtime_unit),
                f"kubelet {ctx.version('kubelet')}, {o.cgroup_driver} cgroups, static pods in {MANIFESTS}",
                # The runtime's configuration too: a new cgroup driver there restarts the
                # kubelet, and its guard checks the two still agree first.
                reads=[runtime_config],
                uploads=[ctx.upload("kubelet", kubelet.binary)],
                guard=_cgroup_guard(ctx),
                prepare=[["mkdir", "-p", MANIFESTS]],
                verify=KUBELET_HEALTHY,
                verify_timeout=90,
                # With the storage add-on, its volumes are the node's pods' data too.
                data=[layout.KUBELET_DIR, layout.KUBERNETES_DIR]
                + ([layout.LOCAL_VOLUMES_DIR] if "local-path" in ctx.spec.addons else []),
                undo=KUBELET_UNDO,
                by_hand=["curl -s http://127.0.0.1:10248/healthz"],
            )
        )
        steps.extend(drain_hooks(ctx, h))
    return steps


def crictl_steps(ctx: Context) -> list[Step]:
    endpoint = _core.runtime_socket(ctx.spec.runtime.name)
    return [
        Step(
            "crictl",
            h.name,
            f"crictl {ctx.version('crictl')} talking to {endpoint}",
            files=[File("/etc/crictl.yaml", _core.render_crictl_config(endpoint))],
            uploads=[ctx.upload("crictl", layout.binary("crictl"))],
            verify=["crictl", "version"],
            by_hand=["crictl version", "crictl ps", "crictl pods"],
        )
        for h in ctx.workers
    ]


# ----- the walkthrough's test pod ---------------------------------------------------

# Running, and answering an exec inside the container.
STATIC_POD_ANSWERS = [
    "sh",
    "-c",
    "id=$(crictl ps --name '^hello$' --label io.kubernetes.pod.name=k8sfs-hello-$(hostname) "
    '--state running -q | head -n 1) && test -n "$id" && '
    "crictl exec \"$id\" wget -qO- http://127.0.0.1:8081/ | grep -q 'hello from k8sfs'",
]


def static_pod_steps(ctx: Context) -> list[Step]:
    if not ctx.workers:
        return []
    first = ctx.workers[0]
    manifest = manifests.render("static-pod.yaml", cluster=ctx.spec.cluster_name, image=TEST_IMAGE)
    return [
        Step(
            "k8sfs-hello",
            first.name,
            f"static pod from {STATIC_POD}",
            files=[File(STATIC_POD, manifest)],
            check=STATIC_POD_ANSWERS,
            verify=STATIC_POD_ANSWERS,
            verify_timeout=120,
            by_hand=[
                "crictl pods --name k8sfs-hello",
                "crictl ps --name hello",
                "crictl exec $(crictl ps -q --name hello) wget -qO- http://127.0.0.1:8081/",
            ],
        )
    ]
