"""Node chapters of the walkthrough: swap, container runtime, kubelet,
crictl, and a static pod. Files come from the C++ core's renderers."""
from __future__ import annotations

from k8sfs import _core, quote
from k8sfs.chapters.context import Context
from k8sfs.chapters.units import oneshot_unit
from k8sfs.engine.checks import running_newer_than
from k8sfs.engine.step import File, Guard, Step, Upload
from k8sfs.images import PAUSE_IMAGE, TEST_IMAGE

IMAGE_DIR = "/var/lib/k8sfs/images"
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
MANIFESTS = "/etc/kubernetes/manifests"
STATIC_POD = f"{MANIFESTS}/k8sfs-hello.yaml"

# Swap: none active and no active swap line left in /etc/fstab.
SWAP_OFF_CHECK = ["sh", "-c", "test -z \"$(swapon --noheadings --show 2>/dev/null)\" && "
                              "! grep -Eq '^[^#][^[:space:]]*[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]]' "
                              "/etc/fstab"]
FSTAB_CHECK = ["sh", "-c", "! grep -Eq '^[^#][^[:space:]]*[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]]' "
                           "/etc/fstab"]
FSTAB_COMMENT_SWAP = ["sed", "-i", "-E",
                      r"s@^([^#][^[:space:]]*[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]].*)$@# \1  # k8sfs: swap off@",
                      "/etc/fstab"]
# kubelet's health endpoint, with nothing but bash.
KUBELET_HEALTHY = ["bash", "-c", "systemctl is-active --quiet kubelet && exec 3<>/dev/tcp/127.0.0.1/10248 && "
                                 "printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '^ok' <&3"]
# Files kubelet reads at start that other steps (certificates) write.
KUBELET_INPUTS = ["/etc/kubernetes/kubelet.conf", "/etc/kubernetes/pki/ca.crt", "/var/lib/kubelet/pki/kubelet.crt",
                  "/var/lib/kubelet/pki/kubelet.key", KUBELET_CONFIG, "/usr/local/bin/kubelet"]


def swap_steps(ctx: Context) -> list[Step]:
    steps = []
    for h in ctx.workers:
        if ctx.container_hosts:
            # A container's swap is the machine's: swapoff here would turn off
            # the machine's swap. kubelet gets failSwapOn: false instead.
            steps.append(Step("swap", "fstab", h.name, "container host: swap is the machine's; only /etc/fstab is "
                              "edited and kubelet runs with failSwapOn: false", check=FSTAB_CHECK,
                              apply=[FSTAB_COMMENT_SWAP], verify=FSTAB_CHECK))
        else:
            steps.append(Step("swap", "swap-off", h.name, "swapoff -a and comment out swap in /etc/fstab",
                              check=SWAP_OFF_CHECK, apply=[["swapoff", "-a"], FSTAB_COMMENT_SWAP],
                              verify=SWAP_OFF_CHECK))
    return steps


# ----- runtime --------------------------------------------------------------

CONTAINER_HOST_SCRIPT = """\
#!/bin/sh
# Written by k8sfs for hosts that are containers (host_profile: container):
# a cgroup subtree of this node's own in every v1 controller, and the
# sysctls kubelet insists on shown inside this host only, so the machine's
# own values stay untouched (kubelet would otherwise write the machine's).
set -e
root={root}
for c in /sys/fs/cgroup/*/; do
  case "$c" in */unified/) continue ;; esac
  mkdir -p "$c${{root#/}}"
done
if [ -d /sys/fs/cgroup/cpuset ]; then
  cat /sys/fs/cgroup/cpuset/cpuset.cpus > "/sys/fs/cgroup/cpuset$root/cpuset.cpus"
  cat /sys/fs/cgroup/cpuset/cpuset.mems > "/sys/fs/cgroup/cpuset$root/cpuset.mems"
fi
mkdir -p /run/k8sfs-sysctl
for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \\
          kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
  key=${{kv%%=*}}; value=${{kv#*=}}
  file=/run/k8sfs-sysctl/$(echo "$key" | tr / .)
  echo "$value" > "$file"
  mountpoint -q "/proc/sys/$key" || mount --bind "$file" "/proc/sys/$key"
done
"""

CONTAINER_HOST_UNIT = oneshot_unit("cgroup root and kubelet sysctls for a host that is a container",
                                   "/usr/local/sbin/k8sfs-container-host",
                                   before=("containerd.service", "kubelet.service", "crio.service"))


def _container_host_step(ctx: Context, h) -> Step:
    script = CONTAINER_HOST_SCRIPT.format(root=quote(ctx.cgroup_root(h)))
    return Step("runtime", "container-host", h.name, f"lab only: cgroup root {ctx.cgroup_root(h)}, kubelet sysctls",
                files=[File("/usr/local/sbin/k8sfs-container-host", script, 0o755),
                       File("/etc/systemd/system/k8sfs-container-host.service", CONTAINER_HOST_UNIT)],
                check=["systemctl", "is-active", "--quiet", "k8sfs-container-host"],
                apply=[["systemctl", "daemon-reload"], ["systemctl", "enable", "k8sfs-container-host"],
                       ["systemctl", "restart", "k8sfs-container-host"]],
                verify=["test", "-d", f"/sys/fs/cgroup/memory{ctx.cgroup_root(h)}"])


def _image_names(ctx: Context) -> list[str]:
    return [img.name for img in ctx.images]


def _image_uploads(ctx: Context) -> list[Upload]:
    return [Upload(img.path, f"{IMAGE_DIR}/{img.path.name}", img.sha256, 0o644) for img in ctx.images]


def _images_present_check(runtime: str, names: list[str]) -> list[str]:
    if runtime == "containerd":
        listing = "ctr -n k8s.io images ls -q"
    else:
        listing = "crictl images -o json | grep -o '\"[^\"]*:[^\"]*\"' | tr -d '\"'"
    return ["sh", "-c", " && ".join(f"{listing} | grep -qxF {quote(n)}" for n in names)]


def _containerd_steps(ctx: Context, h) -> list[Step]:
    facts = ctx.facts[h.name]
    options = _core.ContainerdOptions()
    options.major_version = facts.containerd_major
    options.cgroup_driver = ctx.spec.runtime.cgroup_driver
    options.sandbox_image = PAUSE_IMAGE
    options.container_host = ctx.container_hosts
    # Debian's containernetworking-plugins live in /usr/lib/cni; release tarballs in /opt/cni/bin.
    options.cni_bin_dir = "/usr/lib/cni" if "debian" in facts.os_family_words.split() else "/opt/cni/bin"
    install = Step("runtime", "install", h.name, "containerd and runc from the host's packages",
                   check=["sh", "-c", "command -v containerd && command -v runc"],
                   apply=[["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "containerd", "runc"]],
                   verify=["sh", "-c", "command -v containerd && command -v runc"])
    configure = Step("runtime", "containerd", h.name,
                     f"CRI plugin: {options.cgroup_driver} cgroups, sandbox image {PAUSE_IMAGE}",
                     files=[File("/etc/containerd/config.toml", _core.render_containerd_config(options))],
                     check=running_newer_than("containerd", ["/etc/containerd/config.toml"],
                                              "systemctl is-enabled --quiet containerd"),
                     apply=[["systemctl", "unmask", "containerd"], ["systemctl", "enable", "containerd"],
                            ["systemctl", "restart", "containerd"]],
                     verify=["ctr", "version"])
    images = Step("runtime", "images", h.name, f"{', '.join(_image_names(ctx))} imported (nothing is pulled)",
                  uploads=_image_uploads(ctx), check=_images_present_check("containerd", _image_names(ctx)),
                  apply=[["ctr", "-n", "k8s.io", "images", "import", u.path] for u in _image_uploads(ctx)],
                  verify=_images_present_check("containerd", _image_names(ctx)))
    return [install, configure, images]


def _crio_steps(ctx: Context, h) -> list[Step]:
    facts = ctx.facts[h.name]
    repo = _core.crio_repository(facts.os_family_words or "debian", ctx.spec.kubernetes_version)
    options = _core.CrioOptions()
    options.cgroup_driver = ctx.spec.runtime.cgroup_driver
    options.pause_image = PAUSE_IMAGE
    install = Step("runtime", "install", h.name, "CRI-O from pkgs.k8s.io (minor matched to Kubernetes)",
                   files=[File(repo.path, repo.content)], check=["sh", "-c", "command -v crio"],
                   apply=[*repo.setup, *repo.install], verify=["sh", "-c", "command -v crio"])
    configure = Step("runtime", "crio", h.name, f"cgroup_manager {options.cgroup_driver}, pause_image {PAUSE_IMAGE}",
                     files=[File("/etc/crio/crio.conf.d/10-k8sfs.conf", _core.render_crio_config(options))],
                     check=["systemctl", "is-active", "--quiet", "crio"],
                     apply=[["systemctl", "enable", "crio"], ["systemctl", "restart", "crio"]],
                     verify=["systemctl", "is-active", "--quiet", "crio"])
    images = Step("runtime", "images", h.name, "k8sfs's pause and test images, copied into containers-storage",
                  uploads=_image_uploads(ctx), check=_images_present_check("crio", _image_names(ctx)),
                  apply=[["skopeo", "copy", f"docker-archive:{u.path}", f"containers-storage:{name}"]
                         for u, name in zip(_image_uploads(ctx), _image_names(ctx))],
                  verify=_images_present_check("crio", _image_names(ctx)))
    return [install, configure, images]


def runtime_steps(ctx: Context) -> list[Step]:
    steps = []
    for h in ctx.workers:
        if ctx.container_hosts:
            steps.append(_container_host_step(ctx, h))
        steps.extend(_containerd_steps(ctx, h) if ctx.spec.runtime.name == "containerd" else _crio_steps(ctx, h))
    return steps


# ----- kubelet and crictl ------------------------------------------------------

def kubelet_options(ctx: Context, h) -> "_core.KubeletOptions":
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

        o.kubeconfig = "/etc/kubernetes/kubelet.conf"
        o.client_ca_file = "/etc/kubernetes/pki/ca.crt"
        o.tls_cert_file = "/var/lib/kubelet/pki/kubelet.crt"
        o.tls_private_key_file = "/var/lib/kubelet/pki/kubelet.key"
        o.node_ip = h.address
        o.cluster_dns = [cluster_dns_ip(ctx.spec.service_cidr)]
        o.cluster_domain = ctx.spec.cluster_domain
    if ctx.container_hosts:
        o.container_host = True
        o.cgroup_root = ctx.cgroup_root(h)
        o.fail_swap_on = False
        o.fail_cgroup_v1 = False  # the lab machine is cgroup v1
    return o


def _cgroup_guard(ctx: Context) -> Guard:
    runtime = ctx.spec.runtime.name
    kubelet_driver = ctx.spec.kubelet_cgroup_driver
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


def kubelet_steps(ctx: Context) -> list[Step]:
    kubelet = ctx.artifact("kubelet")
    steps = []
    runtime_unit = "containerd" if ctx.spec.runtime.name == "containerd" else "crio"
    for h in ctx.workers:
        o = kubelet_options(ctx, h)
        steps.append(Step(
            "kubelet", "kubelet", h.name, f"kubelet {kubelet.version}, {o.cgroup_driver} cgroups, static pods in {MANIFESTS}",
            files=[File(KUBELET_CONFIG, _core.render_kubelet_config(o)),
                   File("/etc/systemd/system/kubelet.service", _core.render_kubelet_unit(o, runtime_unit))],
            uploads=[Upload(kubelet.path, "/usr/local/bin/kubelet", kubelet.sha256)],
            check=running_newer_than("kubelet", KUBELET_INPUTS), guard=_cgroup_guard(ctx),
            apply=[["mkdir", "-p", MANIFESTS], ["systemctl", "daemon-reload"], ["systemctl", "enable", "kubelet"],
                   ["systemctl", "restart", "kubelet"]],
            verify=KUBELET_HEALTHY, verify_timeout=90))
    return steps


def crictl_steps(ctx: Context) -> list[Step]:
    crictl = ctx.artifact("crictl")
    endpoint = _core.runtime_socket(ctx.spec.runtime.name)
    return [Step("crictl", "crictl", h.name, f"crictl {crictl.version} talking to {endpoint}",
                 files=[File("/etc/crictl.yaml", _core.render_crictl_config(endpoint))],
                 uploads=[Upload(crictl.path, "/usr/local/bin/crictl", crictl.sha256)],
                 verify=["crictl", "version"]) for h in ctx.workers]


# ----- the walkthrough's test pod ---------------------------------------------------

STATIC_POD_MANIFEST = f"""\
# Written by k8sfs: the walkthrough's test pod, run by the kubelet alone.
# hostNetwork because pod networking (CNI) is a later chapter.
apiVersion: v1
kind: Pod
metadata:
  name: k8sfs-hello
  labels:
    app: k8sfs-hello
spec:
  hostNetwork: true
  containers:
  - name: hello
    image: {TEST_IMAGE}
    imagePullPolicy: Never
    command: ["httpd", "-f", "-p", "8081", "-h", "/var/www"]
"""
# Running, and answering an exec inside the container.
STATIC_POD_ANSWERS = ["sh", "-c", "id=$(crictl ps --name '^hello$' --label io.kubernetes.pod.name=k8sfs-hello-$(hostname) "
                                  "--state running -q | head -n 1) && test -n \"$id\" && "
                                  "crictl exec \"$id\" wget -qO- http://127.0.0.1:8081/ | grep -q 'hello from k8sfs'"]


def static_pod_steps(ctx: Context) -> list[Step]:
    if not ctx.workers:
        return []
    first = ctx.workers[0]
    return [Step("static-pod", "k8sfs-hello", first.name, f"static pod from {STATIC_POD}",
                 files=[File(STATIC_POD, STATIC_POD_MANIFEST)], check=STATIC_POD_ANSWERS,
                 verify=STATIC_POD_ANSWERS, verify_timeout=120)]
