"""What a real host (host_profile: machine) needs before a container
runtime, and what lab hosts, which share this machine's kernel, skip: the
kernel modules and sysctls of the Kubernetes "Container Runtimes"
prerequisites, and packages from the host's own package manager (apt on
the Debian family, dnf on the Red Hat family)."""

from __future__ import annotations

from k8sfs import quote
from k8sfs.chapters.context import Context
from k8sfs.engine.step import File, Step
from k8sfs.spec import HostSpec

MODULES_FILE = "/etc/modules-load.d/k8s.conf"
SYSCTL_FILE = "/etc/sysctl.d/k8s.conf"
# overlay for the runtimes' snapshotters; br_netfilter so bridged pod
# traffic passes iptables (kube-proxy's Services). Each with how to tell it
# is there, loaded or built in.
MODULES = {
    "overlay": "grep -qw overlay /proc/filesystems",
    "br_netfilter": "test -d /proc/sys/net/bridge",
}
SYSCTLS = (
    ("net.bridge.bridge-nf-call-iptables", "1"),
    ("net.bridge.bridge-nf-call-ip6tables", "1"),
    ("net.ipv4.ip_forward", "1"),  # pods on other nodes are reached by routes through this host
)
RED_HAT_FAMILY = {"rhel", "fedora", "centos", "rocky", "almalinux"}


def package_manager(os_family_words: str) -> str:
    """dnf for the Red Hat family, apt-get otherwise (the walkthrough's hosts are Debian-family)."""
    return "dnf" if RED_HAT_FAMILY & set(os_family_words.split()) else "apt-get"


def package_step(ctx: Context, h: HostSpec, packages: list[str]) -> Step:
    """`packages` from the host's package manager, when a command of each name is missing."""
    have = " && ".join(f"command -v {quote(p)}" for p in packages)
    manager = package_manager(ctx.host_facts(h).os_family_words)
    if manager == "dnf":
        apply = [["dnf", "install", "-y", "-q", *packages]]
    else:
        apply = [["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]]
    return Step(
        "install",
        h.name,
        f"{' and '.join(packages)} from the host's packages ({manager})",
        check=["sh", "-c", have],
        apply=apply,
        verify=["sh", "-c", have],
        by_hand=[f"command -v {p}" for p in packages],
    )


def kernel_step(h: HostSpec) -> Step:
    """Modules loaded now and at boot, sysctls set now and at boot."""
    loaded = " && ".join(MODULES.values())
    values = " && ".join(f'[ "$(sysctl -n {k})" = {v} ]' for k, v in SYSCTLS)
    return Step(
        "kernel",
        h.name,
        f"modules {', '.join(MODULES)}; {', '.join(f'{k}={v}' for k, v in SYSCTLS)}",
        files=[
            File(MODULES_FILE, "# Written by k8sfs.\n" + "".join(f"{m}\n" for m in MODULES)),
            File(SYSCTL_FILE, "# Written by k8sfs.\n" + "".join(f"{k} = {v}\n" for k, v in SYSCTLS)),
        ],
        check=["sh", "-c", f"{loaded} && {values}"],
        apply=[*(["modprobe", m] for m in MODULES), ["sysctl", "--system"]],
        verify=["sh", "-c", f"{loaded} && {values}"],
        by_hand=[f"lsmod | grep -e {' -e '.join(MODULES)}", "sysctl " + " ".join(k for k, _ in SYSCTLS)],
    )
