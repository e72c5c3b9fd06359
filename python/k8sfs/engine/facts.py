"""Facts about a host that rendering depends on, gathered in one command."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from k8sfs import quote
from k8sfs._core import layout

VERSION_CACHE = layout.VERSION_CACHE

# A binary's --version is remembered on the host by its path, size, mtime
# in ns and inode (as the digest cache does): kube-apiserver, kubelet and
# containerd each take 0.1-0.3 s of CPU to say it, every plan and apply.
# A host where the cache cannot be written just asks the binary each time.
SCRIPT = r"""
c=__CACHE__
version() {
  b=$(command -v "$1" 2>/dev/null) && k=$(stat -c '%s:%.9Y:%i' -- "$b" 2>/dev/null) || return 0
  v=$(awk -v k="$b $k" 'index($0, k " ") == 1 { v = substr($0, length(k) + 2) } END { print v }' "$c" 2>/dev/null)
  if [ -z "$v" ]; then
    v=$("$b" --version 2>/dev/null | head -1)
    [ -n "$v" ] && { mkdir -p "${c%/*}" && echo "$b $k $v" >> "$c"; } 2>/dev/null
  fi
  printf '%s' "$v"
}
. /etc/os-release 2>/dev/null
printf 'os_id=%s\nos_like=%s\n' "$ID" "$ID_LIKE"
printf 'arch=%s\n' "$(uname -m)"
printf 'cgroup=%s\n' "$(stat -fc %T /sys/fs/cgroup)"
printf 'containerd=%s\n' "$(version containerd)"
printf 'systemd=%s\n' "$(systemctl --version 2>/dev/null | head -1)"
printf 'kubelet=%s\n' "$(version @KUBELET@)"
printf 'apiserver=%s\n' "$(version @APISERVER@)"
printf 'clock=%s\n' "$(date +%s)"
printf 'etcd_data=%s\n' "$(test -d @ETCD_DATA@/member && echo yes)"
ip -o -4 addr show 2>/dev/null | awk '{print "addr=" $2 " " $4}'
"""
# The paths are layout's (the script stays raw text: its $ and \ are the shell's).
SCRIPT = (
    SCRIPT.replace("@KUBELET@", quote(layout.binary("kubelet")))
    .replace("@APISERVER@", quote(layout.binary("kube-apiserver")))
    .replace("@ETCD_DATA@", quote(layout.ETCD_DATA_DIR))
)


@dataclass
class Facts:
    os_id: str
    os_like: str
    arch: str
    cgroup_v2: bool
    containerd_version: str  # "" when not installed
    addresses: list[tuple[str, str]] = field(default_factory=list)  # (interface, address/prefix)
    kubelet_version: str = ""  # what runs now (v1.33.7), "" when none is installed
    apiserver_version: str = ""
    clock_offset: float = 0.0  # the host's clock minus the controller's, seconds (~1 s of it is the round trip)
    etcd_data: bool = False  # an etcd member's data dir (/var/lib/etcd/member) exists

    def interface_for(self, address: str) -> tuple[str, int] | None:
        """The interface that carries `address`, and its prefix length."""
        for name, cidr in self.addresses:
            ip, _, prefix = cidr.partition("/")
            if ip == address:
                return name, int(prefix or 32)
        return None

    @property
    def os_family_words(self) -> str:
        return f"{self.os_id} {self.os_like}"

    @property
    def containerd_major(self) -> int:
        m = re.match(r"(\d+)\.", self.containerd_version)
        return int(m.group(1)) if m else 1


def parse(output: str) -> Facts:
    values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line and not line.startswith("addr="))
    addresses = [tuple(line[5:].split(" ", 1)) for line in output.splitlines() if line.startswith("addr=")]
    m = re.search(r"\s(v?\d+\.\d+\.\d+)", values.get("containerd", ""))
    return Facts(
        values.get("os_id", ""),
        values.get("os_like", ""),
        values.get("arch", ""),
        values.get("cgroup", "") == "cgroup2fs",
        m.group(1).lstrip("v") if m else "",
        [(a[0], a[1]) for a in addresses if len(a) == 2],
        _version(values.get("kubelet", "")),
        _version(values.get("apiserver", "")),
        float(values["clock"]) - time.time() if values.get("clock", "").isdigit() else 0.0,
        values.get("etcd_data") == "yes",
    )


CLOCK_TOLERANCE = 300  # seconds; TLS checks notBefore/notAfter against the local clock


def clock_warnings(facts: dict[str, Facts]) -> list[str]:
    """Hosts whose clocks are off enough that certificates k8sfs issues now
    (valid from now) would be refused there, or theirs here."""
    out = []
    for host, f in sorted(facts.items()):
        if abs(f.clock_offset) > CLOCK_TOLERANCE:
            way = "ahead of" if f.clock_offset > 0 else "behind"
            days = abs(f.clock_offset) / 86400
            span = f"{days:.1f} days" if days >= 1 else f"{abs(f.clock_offset) / 60:.0f} minutes"
            out.append(
                f"{host}: its clock is {span} {way} this machine's; TLS between it and the others checks "
                "certificate validity against each side's clock, so new certificates "
                + ("may be refused as not yet valid elsewhere" if f.clock_offset > 0 else "are not yet valid there")
                + ": set its time (NTP) before applying"
            )
    return out


def _version(text: str) -> str:
    m = re.search(r"v\d+\.\d+\.\d+", text)
    return m.group(0) if m else ""


def script(version_cache: str = VERSION_CACHE) -> str:
    return SCRIPT.replace("__CACHE__", quote(version_cache))


def gather(session: Any, version_cache: str = VERSION_CACHE) -> Facts:
    return parse(session.exec(script(version_cache), timeout=30).stdout)
