"""Small systemd units k8sfs writes for its own one-shot setup scripts."""

from __future__ import annotations

from k8sfs import manifests


def oneshot_unit(
    cluster: str, description: str, exec_path: str, before: tuple[str, ...] = (), after_network: bool = False
) -> str:
    ordering = []
    if before:
        ordering.append("Before=" + " ".join(before))
    if after_network:
        ordering += ["After=network-online.target", "Wants=network-online.target"]
    return manifests.render(
        "oneshot.service",
        cluster=cluster,
        description=description,
        exec=exec_path,
        ordering="".join(line + "\n" for line in ordering),
    )
