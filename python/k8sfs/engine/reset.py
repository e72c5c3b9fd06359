"""What `k8sfs reset` runs on a host, derived from the steps that built it:
chapters backwards, each step's undo commands (pods, containers, routes,
kube-proxy's chains), its service stopped and disabled; then every file,
upload and data directory the steps declare is removed. SSH and the host's
other firewall rules are never touched: no step declares them."""

from __future__ import annotations

from k8sfs import join_command, quote
from k8sfs._core import layout
from k8sfs.engine.inspect import DIGEST_CACHE
from k8sfs.engine.step import Step


def reset_script(steps: list[Step]) -> str:
    """`steps` are one host's, in apply order."""
    lines = ["set +e"]
    for step in reversed(steps):
        for argv in step.undo:
            lines.append(join_command(argv))
        if step.service:
            unit = quote(step.service)
            lines.append(f"systemctl stop {unit} 2>/dev/null; systemctl disable {unit} 2>/dev/null")
    paths = sorted({p for s in steps for p in [*(f.path for f in s.files), *(u.path for u in s.uploads), *s.data]})
    paths.append(DIGEST_CACHE.rsplit("/", 1)[0])  # the engine's own state on the host
    # Volumes kubelet mounted under its data dir go first, deepest first.
    lines.append(
        f"awk '$2 ~ \"^{layout.KUBELET_DIR}/\" {{print $2}}' /proc/mounts | sort -r | "
        'while read -r m; do umount "$m" 2>/dev/null; done'
    )
    lines.append("rm -rf " + " ".join(quote(p) for p in paths))
    lines += ["systemctl daemon-reload", "echo reset done"]
    return "\n".join(lines) + "\n"
