"""Facts about a host that rendering depends on, gathered in one command."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SCRIPT = r"""
. /etc/os-release 2>/dev/null
printf 'os_id=%s\nos_like=%s\n' "$ID" "$ID_LIKE"
printf 'arch=%s\n' "$(uname -m)"
printf 'cgroup=%s\n' "$(stat -fc %T /sys/fs/cgroup)"
printf 'containerd=%s\n' "$(containerd --version 2>/dev/null)"
printf 'systemd=%s\n' "$(systemctl --version 2>/dev/null | head -1)"
"""


@dataclass
class Facts:
    os_id: str
    os_like: str
    arch: str
    cgroup_v2: bool
    containerd_version: str  # "" when not installed

    @property
    def os_family_words(self) -> str:
        return f"{self.os_id} {self.os_like}"

    @property
    def containerd_major(self) -> int:
        m = re.match(r"(\d+)\.", self.containerd_version)
        return int(m.group(1)) if m else 1


def parse(output: str) -> Facts:
    values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    m = re.search(r"\s(v?\d+\.\d+\.\d+)", values.get("containerd", ""))
    return Facts(
        values.get("os_id", ""),
        values.get("os_like", ""),
        values.get("arch", ""),
        values.get("cgroup", "") == "cgroup2fs",
        m.group(1).lstrip("v") if m else "",
    )


def gather(session: Any) -> Facts:
    return parse(session.exec(SCRIPT, timeout=30).stdout)
