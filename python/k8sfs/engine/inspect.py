"""What is on a host now, for many steps in one round trip: the digest,
mode and owner of every file the steps manage, and the exit code of every
check. The script is built from quoted words only."""

from __future__ import annotations

from dataclasses import dataclass, field

from k8sfs import join_command, quote
from k8sfs.engine.step import Step

DIGEST_CACHE = "/var/lib/k8sfs/digests"


@dataclass
class RemoteFile:
    sha256: str | None  # None: missing
    mode: int = 0
    owner: str = ""


@dataclass
class HostState:
    files: dict[str, RemoteFile]
    checks: dict[int, int]  # index in the step list -> exit code
    services: dict[int, bool] = field(default_factory=dict)  # index -> its unit is active


def inspection_script(steps: list[Step], digest_cache: str = DIGEST_CACHE) -> str:
    paths = sorted({f.path for s in steps for f in s.files} | {u.path for s in steps for u in s.uploads})
    lines = []
    if paths:
        # Digests are remembered on the host by size, mtime (ns) and inode, as
        # git's index does, so unchanged 100 MB binaries are not hashed again.
        lines.append(f'c={quote(digest_cache)}; [ -d "${{c%/*}}" ] || mkdir -p "${{c%/*}}"; touch "$c"')
        lines.append("for p in " + " ".join(quote(p) for p in paths) + "; do")
        lines.append('  if [ -f "$p" ]; then')
        lines.append("    k=$(stat -c '%s:%.9Y:%i' \"$p\")")
        lines.append('    d=$(awk -v k="$k" -v p="$p" \'$1==k && $3==p {d=$2} END {print d}\' "$c")')
        lines.append('    if [ -z "$d" ]; then d=$(sha256sum < "$p" | cut -d\' \' -f1); echo "$k $d $p" >> "$c"; fi')
        lines.append('    printf \'F\\t%s\\t%s\\t%s\\n\' "$p" "$d" "$(stat -c \'%a %U:%G\' "$p")"')
        lines.append("  else printf 'M\\t%s\\n' \"$p\"; fi")
        lines.append("done")
    for index, step in enumerate(steps):
        if step.check:
            lines.append(f"( {join_command(step.check)} ) >/dev/null 2>&1; printf 'C\\t{index}\\t%s\\n' \"$?\"")
        if step.service:
            lines.append(
                f"systemctl is-active --quiet {quote(step.service)} 2>/dev/null; printf 'S\\t{index}\\t%s\\n' \"$?\""
            )
    return "\n".join(lines) + "\n"


def parse_inspection(output: str) -> HostState:
    files: dict[str, RemoteFile] = {}
    checks: dict[int, int] = {}
    services: dict[int, bool] = {}
    for line in output.splitlines():
        parts = line.split("\t")
        if parts[0] == "F" and len(parts) == 4:
            mode_text, _, owner = parts[3].partition(" ")
            files[parts[1]] = RemoteFile(parts[2], int(mode_text, 8), owner)
        elif parts[0] == "M" and len(parts) == 2:
            files[parts[1]] = RemoteFile(None)
        elif parts[0] == "C" and len(parts) == 3:
            checks[int(parts[1])] = int(parts[2])
        elif parts[0] == "S" and len(parts) == 3:
            services[int(parts[1])] = parts[2] == "0"
    return HostState(files, checks, services)
