"""What is on a host now, for many steps in one round trip: the digest,
mode and owner of every file the steps manage, and the exit code of every
check. The script is built from quoted words only."""

from __future__ import annotations

from dataclasses import dataclass, field

from k8sfs import join_command, quote
from k8sfs._core import layout
from k8sfs.engine.step import Step

DIGEST_CACHE = layout.DIGEST_CACHE


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


# Checks run this many at a time: they are read-only, mostly waiting on
# systemd or the API server, and a host has more than one CPU; a bound
# keeps a small host's memory safe from a burst of kubectl processes.
CHECKS_AT_ONCE = 8

# The managed files' state in a fixed number of processes, whatever their
# count: one stat for all, one awk that answers digests from the cache
# (remembered on the host by size, mtime in ns and inode, as git's index
# does, so unchanged 100 MB binaries are not hashed again), sha256sum only
# for the files the cache does not know. Paths never hold a tab or a
# newline (the spec loader refuses control characters).
_FILES = r"""set --
for p in {paths}; do if [ -f "$p" ]; then set -- "$@" "$p"; else printf 'M\t%s\n' "$p"; fi; done
if [ $# -gt 0 ]; then
  stat --printf '%s:%.9Y:%i\t%a %U:%G\t%n\n' -- "$@" | awk -F '\t' -v c="$c" '
    BEGIN {{ while ((getline line < c) > 0) {{
      k = line; sub(/ .*/, "", k); rest = substr(line, length(k) + 2)
      d = rest; sub(/ .*/, "", d); known[k SUBSEP substr(rest, length(d) + 2)] = d }} }}
    {{ if (($1 SUBSEP $3) in known) print "F\t" $3 "\t" known[$1 SUBSEP $3] "\t" $2
      else print "H\t" $3 "\t" $1 "\t" $2 }}' |
  while IFS='	' read -r t p k m; do
    if [ "$t" = H ]; then
      d=$(sha256sum < "$p" | cut -d' ' -f1); echo "$k $d $p" >> "$c"; printf 'F\t%s\t%s\t%s\n' "$p" "$d" "$m"
    else printf '%s\t%s\t%s\t%s\n' "$t" "$p" "$k" "$m"; fi
  done
fi"""


# After k8sfs writes a file it knows the digest of what it sent: remembered
# under the file's new size, mtime and inode, so the first inspection after
# a cold apply does not hash every binary it just uploaded (about 1 GB on
# the walkthrough's hosts). Arguments: the cache, then digest and path pairs.
_REMEMBER = (
    'c=$1; shift; mkdir -p "${c%/*}"; '
    'while [ $# -ge 2 ]; do k=$(stat --printf "%s:%.9Y:%i" -- "$2") && echo "$k $1 $2" >> "$c"; shift 2; done'
)


def remember_digests(written: dict[str, str], digest_cache: str = DIGEST_CACHE) -> list[str]:
    """The command that records `written` (path -> sha256) in the host's
    digest cache, for files whose content k8sfs has just put there."""
    pairs = [word for path, digest in sorted(written.items()) for word in (digest, path)]
    return ["sh", "-c", _REMEMBER, "sh", digest_cache, *pairs]


def inspection_script(steps: list[Step], digest_cache: str = DIGEST_CACHE) -> str:
    """One shell script for a host: every managed file's state, then every
    check and service, CHECKS_AT_ONCE at a time. Each answer is one short
    line (one write, so concurrent ones never interleave)."""
    paths = sorted({f.path for s in steps for f in s.files} | {u.path for s in steps for u in s.uploads})
    lines = []
    if paths:
        lines.append(f'c={quote(digest_cache)}; [ -d "${{c%/*}}" ] || mkdir -p "${{c%/*}}"; touch "$c"')
        lines.append(_FILES.format(paths=" ".join(quote(p) for p in paths)))
    probes = []
    for index, step in enumerate(steps):
        if step.check:
            probes.append(f"( {join_command(step.check)} ) >/dev/null 2>&1; printf 'C\\t{index}\\t%s\\n' \"$?\"")
        if step.service:
            probes.append(
                f"systemctl is-active --quiet {quote(step.service)} 2>/dev/null; printf 'S\\t{index}\\t%s\\n' \"$?\""
            )
    for n, probe in enumerate(probes, 1):
        lines.append(f"{{ {probe}; }} &")
        if n % CHECKS_AT_ONCE == 0 or n == len(probes):
            lines.append("wait")
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
