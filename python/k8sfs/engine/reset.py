"""What `k8sfs reset` runs on a host: remove everything k8sfs put there
for Kubernetes, never the host's SSH or its other firewall rules."""
from __future__ import annotations

from k8sfs import quote

UNITS = ("kubelet", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "etcd",
         "k8sfs-pod-routes")
PATHS = ("/etc/kubernetes", "/var/lib/kubelet", "/var/lib/etcd", "/var/lib/k8sfs", "/var/log/kubernetes",
         "/root/.kube", "/etc/crictl.yaml", "/etc/cni/net.d", "/var/lib/cni",
         *(f"/etc/systemd/system/{u}.service" for u in (*UNITS, "k8sfs-container-host")),
         "/usr/local/sbin/k8sfs-pod-routes", "/usr/local/sbin/k8sfs-smoke-test",
         *(f"/usr/local/bin/{b}" for b in ("kubelet", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
                                           "kube-proxy", "kubectl", "etcd", "etcdctl", "crictl")),
         "/usr/local/sbin/k8sfs-container-host")


def reset_script(cgroup_root: str = "") -> str:
    lines = [
        "set +e",
        # Pods first, while the runtime still answers.
        "command -v crictl >/dev/null && crictl rmp -af >/dev/null 2>&1",
        "systemctl stop " + " ".join(UNITS) + " 2>/dev/null",
        "systemctl disable " + " ".join(UNITS) + " 2>/dev/null",
        "command -v ctr >/dev/null && for c in $(ctr -n k8s.io containers ls -q 2>/dev/null); do "
        "ctr -n k8s.io tasks kill -s KILL \"$c\" 2>/dev/null; ctr -n k8s.io containers rm \"$c\" 2>/dev/null; done",
        "systemctl stop containerd crio 2>/dev/null",
        # The routes the pod-network chapter added, read back from its own script.
        "[ -f /usr/local/sbin/k8sfs-pod-routes ] && grep -o 'ip route replace [^ ]* via [^ ]*' "
        "/usr/local/sbin/k8sfs-pod-routes | sed 's/ replace / del /' | sh 2>/dev/null",
        "rm -rf " + " ".join(quote(p) for p in PATHS),
        # The runtime's state; a bind mount in the lab, so its contents only.
        "find /var/lib/containerd -mindepth 1 -maxdepth 1 -exec rm -rf {} + 2>/dev/null",
        "for l in cni0 flannel.1 kube-ipvs0; do ip link del \"$l\" 2>/dev/null; done",
        # Only Kubernetes' own chains: the host's other rules (and SSH) stay.
        "for t in filter nat mangle; do iptables-save -t $t 2>/dev/null | grep -q KUBE- || continue; "
        "iptables-save -t $t | grep -v -- '-j KUBE-\\|^:KUBE-\\|-A KUBE-' | iptables-restore -T $t; done",
        "systemctl daemon-reload",
    ]
    if cgroup_root:
        lines += [
            "for f in /run/k8sfs-sysctl/*; do [ -e \"$f\" ] || continue; "
            "k=$(basename \"$f\" | tr . /); umount \"/proc/sys/$k\" 2>/dev/null; done",
            "rm -rf /run/k8sfs-sysctl",
            f"for c in /sys/fs/cgroup/*/; do d=\"$c\"{quote(cgroup_root.lstrip('/'))}; "
            "[ -d \"$d\" ] && find \"$d\" -depth -type d -exec rmdir {} + 2>/dev/null; done",
        ]
    lines.append("echo reset done")
    return "\n".join(lines) + "\n"
