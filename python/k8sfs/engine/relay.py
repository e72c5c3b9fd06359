"""Uploads passed on between hosts (`apply --relay-uploads`): the
controller sends a binary to a few hosts, and the others fetch it from a
host that has it, so the controller's uplink carries each binary a few
times instead of once per host.

A fetch, for target T and source S (a host whose copy of the file has the
digest the step wants, found by the inspection or put there in this run):
- T makes a key pair of its own in a private temporary directory; the
  private key never leaves T.
- S lets that key in once: a line in its login user's authorized_keys
  with `restrict`, `from=` T's address, an `expiry-time` ten minutes on,
  and a forced command that can only print that one file.
- T connects with the key, checking S's host key against the one the
  controller read over its own verified connection to S, writes the file
  next to its target, checks its sha256, and renames it into place.
- The line and T's directory are removed whatever happened; a kill
  leaves a line that has expired ten minutes later.

Anything that does not work (no ssh client on T, the hosts cannot reach
each other, another sshd configuration) falls back to the controller's
upload, so relaying never makes an apply fail. Every value that ends up in
authorized_keys is checked against a strict pattern first.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from k8sfs.engine.step import Upload

# Hosts a digest is sent to from the controller at the same time, and
# fetches one host serves at once: the hosts that have it double each round.
DIRECT_AT_ONCE = 2
SERVED_AT_ONCE = 2
WAIT_FOR_SOURCE = 600.0  # seconds a host waits for another's upload before it uploads itself
GRANT_MINUTES = 10

_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/+-]+$")
_ADDRESS = re.compile(r"^[0-9A-Fa-f.:]+$")
_KEY = re.compile(r"^(ssh-ed25519|ecdsa-sha2-nistp256|ssh-rsa) [A-Za-z0-9+/=]+$")

# A host fetches one file at a time (its steps run in order), so a directory
# an interrupted fetch left behind can go.
_MAKE_KEY = (
    "command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || exit 3; "
    "rm -rf /var/tmp/k8sfs-relay.*; d=$(mktemp -d /var/tmp/k8sfs-relay.XXXXXX) && "
    "ssh-keygen -q -t ed25519 -N '' -C k8sfs-relay -f \"$d/key\" </dev/null && "
    'printf \'%s\\n\' "$d" && cut -d" " -f1,2 "$d/key.pub"'
)
# authorized_keys is never edited in place: a kill, a full disk or a lost
# link mid-write would cut it short and lock its user out. `rewrite` writes
# the new content to a temporary file beside it with the same mode and
# owner, checks that every line that is not a k8sfs grant is still there
# byte for byte, fsyncs it, renames it over the original (atomic) and
# fsyncs the directory. Anything that fails leaves the original untouched.
# $1 a line to add ("" for none); the rest are awk's arguments, a filter of
# the lines to keep. A symlinked file is replaced where the link points.
_REWRITE = (
    "rewrite() { line=$1; shift; f=~/.ssh/authorized_keys; "
    'if [ -L "$f" ]; then f=$(readlink -f -- "$f") || return 5; fi; d=${f%/*}; '
    'rm -f "$d"/.authorized_keys.k8sfs-relay.*; '
    't=$(mktemp "$d/.authorized_keys.k8sfs-relay.XXXXXX") || return 5; '
    'if [ -e "$f" ]; then chmod --reference="$f" -- "$t" && chown --reference="$f" -- "$t" && '
    'awk "$@" "$f" > "$t" || { rm -f "$t"; return 5; }; fi; '
    'if [ -n "$line" ]; then printf \'%s\\n\' "$line" >> "$t" || { rm -f "$t"; return 5; }; fi; '
    "theirs() { grep -Ev ' k8sfs-relay-[0-9a-f]+$' \"$1\" 2>/dev/null | cksum; }; "
    '[ "$(theirs "$f")" = "$(theirs "$t")" ] && sync -- "$t" && mv -f -- "$t" "$f" && sync -- "$d" '
    '|| { rm -f "$t"; return 5; }; }; '
)
# $1 T's address, $2 the file, $3 T's public key, $4 the line's marker; prints S's host keys.
# Grants an interrupted apply left go once expired.
_GRANT = (
    _REWRITE + f'stamp=$(date -d "+{GRANT_MINUTES} min" +%Y%m%d%H%M) && now=$(date +%Y%m%d%H%M) || exit 3; '
    "umask 077; mkdir -p ~/.ssh || exit 5; "
    'line=$(printf \'restrict,from="%s",expiry-time="%s",command="cat -- %s" %s %s\' "$1" "$stamp" "$2" "$3" "$4"); '
    'rewrite "$line" -v now="$now" \'!(/ k8sfs-relay-[0-9a-f]+$/ && match($0, /expiry-time="[0-9]+"/) && '
    "substr($0, RSTART + 13, 12) < now)' || exit 5; "
    'for k in /etc/ssh/ssh_host_*_key.pub; do if [ -e "$k" ]; then cut -d\' \' -f1,2 "$k"; fi; done'
)
# $1 the marker: only that line goes.
_REVOKE = (
    _REWRITE
    + '[ -e ~/.ssh/authorized_keys ] || exit 0; rewrite "" -v m=" $1" \'substr($0, length($0) - length(m) + 1) != m\''
)
# $1 T's directory, $2 known_hosts text, $3 user@S, $4 port, $5 temporary file, $6 sha256, $7 target,
# $8 mode, $9 owner:group
_FETCH = (
    'd=$1; printf \'%s\\n\' "$2" > "$d/known_hosts" && '
    'ssh -F /dev/null -i "$d/key" -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile="$d/known_hosts" '
    "-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o ConnectTimeout=10 -o LogLevel=ERROR "
    '-p "$4" "$3" > "$5" && test "$(sha256sum < "$5" | cut -d" " -f1)" = "$6" && '
    'chmod "$8" "$5" && chown "$9" "$5" && mv -f "$5" "$7" || { rm -f "$5"; exit 4; }'
)


@dataclass(frozen=True)
class Peer:
    """How the other hosts reach a host's sshd."""

    address: str
    user: str = "root"
    port: int = 22


Run = Callable[[str, list[str]], tuple[int, str]]  # host, argv -> exit code, stdout


class Relay:
    """Which hosts have which digests, who is uploading what, and the
    fetches. `run(host, argv)` runs a command on a host over the
    controller's connection."""

    def __init__(
        self,
        peers: dict[str, Peer],
        run: Run,
        log: Callable[[str, str], None] = lambda _h, _m: None,
        direct_at_once: int = DIRECT_AT_ONCE,
        served_at_once: int = SERVED_AT_ONCE,
    ) -> None:
        self.peers = {h: p for h, p in peers.items() if _ADDRESS.fullmatch(p.address)}
        self._run = run
        self._log = log
        self.direct_at_once = direct_at_once
        self.served_at_once = served_at_once
        self._have: dict[str, dict[str, str]] = {}  # digest -> host -> path
        self._direct: dict[str, int] = {}  # digest -> uploads from the controller under way
        self._serving: dict[str, int] = {}  # host -> fetches it serves now
        self._failed: set[tuple[str, str]] = set()  # (source, target) pairs that did not work
        self._cannot_fetch: set[str] = set()  # hosts without an ssh client or ssh-keygen
        # authorized_keys is rewritten to remove a line: one edit at a time per host
        self._editing = {h: threading.Lock() for h in self.peers}
        self._cond = threading.Condition()
        self.fetched = 0  # files placed by a fetch, for the caller's figures

    def have(self, host: str, path: str, digest: str) -> None:
        """`host` has `digest` at `path` (inspected, or just put there)."""
        if host not in self.peers or not _SAFE_PATH.fullmatch(path):
            return
        with self._cond:
            self._have.setdefault(digest, {})[host] = path
            self._cond.notify_all()

    @contextlib.contextmanager
    def turn(self, host: str, upload: Upload) -> Iterator[bool]:
        """True: the file is in place, fetched from another host. False: the
        caller uploads it from the controller; when the block ends without
        an error, `host` becomes a source for the others."""
        digest = upload.sha256
        source = self._wait_for_source_or_slot(host, digest)
        if source is not None:
            try:
                placed = self._fetch(source, host, upload)
            finally:
                with self._cond:
                    self._serving[source] -= 1
                    self._cond.notify_all()
            if placed:
                self.have(host, upload.path, digest)
                yield True
                return
            with self._cond:
                self._failed.add((source, host))
                self._direct[digest] = self._direct.get(digest, 0) + 1
        try:
            yield False
        finally:
            with self._cond:
                self._direct[digest] -= 1
                self._cond.notify_all()
        self.have(host, upload.path, digest)

    def _wait_for_source_or_slot(self, host: str, digest: str) -> str | None:
        """A source that may serve now (its turn taken), or None with a slot
        for an upload from the controller taken. A host waits while others
        have the file but are all serving, or while the controller's uploads
        of it are under way: so the controller sends each digest at most
        `direct_at_once` times, whatever the number of hosts."""

        def direct() -> None:
            self._direct[digest] = self._direct.get(digest, 0) + 1

        with self._cond:
            while True:
                if host not in self.peers or host in self._cannot_fetch:
                    direct()
                    return None
                usable = [s for s in self._have.get(digest, {}) if s != host and (s, host) not in self._failed]
                free = [s for s in usable if self._serving.get(s, 0) < self.served_at_once]
                if free:
                    chosen = min(free, key=lambda s: self._serving.get(s, 0))
                    self._serving[chosen] = self._serving.get(chosen, 0) + 1
                    return chosen
                if not usable and self._direct.get(digest, 0) < self.direct_at_once:
                    direct()
                    return None
                if not self._cond.wait(WAIT_FOR_SOURCE):
                    direct()
                    return None

    def _fetch(self, source: str, target: str, upload: Upload) -> bool:
        path = self._have[upload.sha256][source]
        if not _SAFE_PATH.fullmatch(upload.path):
            return False
        code, out = self._run(target, ["sh", "-c", _MAKE_KEY])
        lines = out.splitlines()
        if code != 0 or len(lines) != 2 or not _KEY.fullmatch(lines[1]):
            self._log(target, f"relay: no key made for a fetch from {source} (exit {code}); uploading instead")
            if code == 3:
                with self._cond:
                    self._cannot_fetch.add(target)
            return False
        directory, key = lines
        marker = f"k8sfs-relay-{secrets.token_hex(8)}"  # the line's end: lowercase hex, as _REWRITE expects
        try:
            with self._editing[source]:
                code, out = self._run(source, ["sh", "-c", _GRANT, "sh", self.peers[target].address, path, key, marker])
            host_keys = [line for line in out.splitlines() if _KEY.fullmatch(line)]
            if code != 0 or not host_keys:
                self._log(source, f"relay: could not let {target} fetch {path} (exit {code}); uploading instead")
                return False
            peer = self.peers[source]
            name = peer.address if peer.port == 22 else f"[{peer.address}]:{peer.port}"
            known = "\n".join(f"{name} {k}" for k in host_keys)
            slash = upload.path.rindex("/")
            temporary = f"{upload.path[: slash + 1]}.{upload.path[slash + 1 :]}.k8sfs-relay"
            code, _ = self._run(
                target,
                [
                    "sh",
                    "-c",
                    _FETCH,
                    "sh",
                    directory,
                    known,
                    f"{peer.user}@{peer.address}",
                    str(peer.port),
                    temporary,
                    upload.sha256,
                    upload.path,
                    f"{upload.mode:o}",
                    upload.owner,
                ],
            )
            if code != 0:
                self._log(target, f"relay: fetching {upload.path} from {source} failed (exit {code}); uploading")
                return False
            self._log(target, f"relay: {upload.path} fetched from {source}, sha256 {upload.sha256} checked")
            with self._cond:
                self.fetched += 1
            return True
        finally:
            with self._editing[source]:
                self._run(source, ["sh", "-c", _REVOKE, "sh", marker])
            self._run(target, ["rm", "-rf", "--", directory])
