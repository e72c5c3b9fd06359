"""Small systemd units k8sfs writes for its own one-shot setup scripts."""
from __future__ import annotations


def oneshot_unit(description: str, exec_path: str, before: tuple[str, ...] = (), after_network: bool = False) -> str:
    lines = ["# Written by k8sfs.", "[Unit]", f"Description=k8sfs: {description}"]
    if before:
        lines.append("Before=" + " ".join(before))
    if after_network:
        lines += ["After=network-online.target", "Wants=network-online.target"]
    lines += ["", "[Service]", "Type=oneshot", "RemainAfterExit=yes", f"ExecStart={exec_path}", "",
              "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)
