"""The relay's edits of a login user's authorized_keys (engine/relay.py),
run by the real shell, awk and coreutils on a real file: a grant and a
revoke touch only k8sfs's own lines, and no kill at any point of either,
and no full disk, ever leaves the file without a line it had."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from k8sfs.engine.relay import _GRANT, _REVOKE

MINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMineMineMine user@laptop"
OTHER = 'from="10.1.2.3" ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQOther ops@bastion'
GRANT = 'restrict,from="{ip}",expiry-time="{until}",command="cat -- {path}" ssh-ed25519 {key} k8sfs-relay-{marker}'
EXPIRED = GRANT.format(ip="10.0.0.9", until="200001010000", path="/x", key="AAAA", marker="0123456789abcdef")
CURRENT = GRANT.format(ip="10.0.0.8", until="299901010000", path="/y", key="BBBB", marker="fedcba9876543210")
NEW_MARKER = "k8sfs-relay-00112233aabbccdd"
GRANT_ARGS = ["10.0.0.7", "/usr/local/bin/kubelet", "ssh-ed25519 CCCC", NEW_MARKER]
NEW_LINE = re.compile(
    r'restrict,from="10\.0\.0\.7",expiry-time="\d{12}",command="cat -- /usr/local/bin/kubelet" '
    rf"ssh-ed25519 CCCC {NEW_MARKER}"
)
# The commands the scripts run from PATH: each is a point a kill can land.
COMMANDS = [
    *("readlink", "rm", "mktemp", "chmod", "chown", "awk", "grep", "cksum", "sync", "mv", "date", "mkdir", "cut"),
    *("cat", "cp", "tee", "sed", "ln", "touch"),
]


def _home(tmp_path: Path, lines: list[str]) -> Path:
    ssh_dir = tmp_path / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    keys = ssh_dir / "authorized_keys"
    keys.write_text("".join(f"{line}\n" for line in lines))
    keys.chmod(0o600)
    return keys


def _run(script: str, args: list[str], home: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", "-c", script, "sh", *args],
        env={**os.environ, "HOME": str(home), **(env or {})},
        capture_output=True,
        text=True,
        start_new_session=True,  # a kill of the process group takes the script and nothing else
        timeout=60,
    )


def test_a_grant_adds_one_line_drops_expired_grants_and_a_revoke_removes_only_its_own(tmp_path):
    keys = _home(tmp_path, [MINE, EXPIRED, CURRENT, OTHER])
    granted = _run(_GRANT, GRANT_ARGS, tmp_path)
    assert granted.returncode == 0, granted.stderr
    lines = keys.read_text().splitlines()
    assert lines[:3] == [MINE, CURRENT, OTHER]  # the expired grant went, every other line stayed
    assert NEW_LINE.fullmatch(lines[3]), lines[3]
    revoked = _run(_REVOKE, [NEW_MARKER], tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    assert keys.read_text().splitlines() == [MINE, CURRENT, OTHER]
    assert oct(keys.stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in keys.parent.iterdir()) == ["authorized_keys"]  # no temporary file left


def test_the_file_keeps_its_mode_and_owner_and_a_symlink_stays_a_symlink(tmp_path):
    real = tmp_path / "keys-elsewhere"
    real.write_text(f"{MINE}\n")
    real.chmod(0o640)
    os.chown(real, 1234, 5678)
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "authorized_keys").symlink_to(real)
    assert _run(_GRANT, GRANT_ARGS, tmp_path).returncode == 0
    assert (tmp_path / ".ssh" / "authorized_keys").is_symlink()
    assert real.read_text().splitlines()[0] == MINE and NEW_LINE.fullmatch(real.read_text().splitlines()[1])
    st = real.stat()
    assert (oct(st.st_mode & 0o777), st.st_uid, st.st_gid) == ("0o640", 1234, 5678)
    assert _run(_REVOKE, [NEW_MARKER], tmp_path).returncode == 0
    assert real.read_text() == f"{MINE}\n"


def test_a_line_of_the_users_that_merely_mentions_k8sfs_relay_is_kept(tmp_path):
    lookalike = "ssh-ed25519 AAAAC3Nza k8sfs-relay-notes by alice"
    keys = _home(tmp_path, [lookalike, MINE])
    assert _run(_GRANT, GRANT_ARGS, tmp_path).returncode == 0
    assert _run(_REVOKE, [NEW_MARKER], tmp_path).returncode == 0
    assert keys.read_text().splitlines() == [lookalike, MINE]


def _wrappers(tmp_path: Path) -> Path:
    """A directory of stand-ins for COMMANDS that count each call and, at
    call K8SFS_KILL_AT, kill the whole script with SIGKILL just before or
    just after running the real command (K8SFS_KILL_WHEN)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in COMMANDS:
        real = shutil.which(name)
        assert real, name
        wrapper = bin_dir / name
        wrapper.write_text(
            "#!/bin/sh\n"
            # one byte appended per call (atomic, whatever kills it) and the size read under a lock:
            # the commands of a pipeline run at once
            'n=$(/usr/bin/flock "$K8SFS_COUNTER" /bin/sh -c '
            '\'printf x >> "$1"; /usr/bin/stat -c %s "$1"\' sh "$K8SFS_COUNTER")\n'
            '[ "$n" = "$K8SFS_KILL_AT" ] && [ "$K8SFS_KILL_WHEN" = before ] && kill -9 0\n'
            f'{real} "$@"; rc=$?\n'
            '[ "$n" = "$K8SFS_KILL_AT" ] && [ "$K8SFS_KILL_WHEN" = after ] && kill -9 0\n'
            "exit $rc\n"
        )
        wrapper.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("operation", ["grant", "revoke"])
def test_a_kill_at_every_point_of_a_grant_or_revoke_leaves_every_line_of_the_users(tmp_path, operation):
    bin_dir = _wrappers(tmp_path)
    counter = tmp_path / "counter"
    home = tmp_path / "home"
    home.mkdir()
    before = [MINE, EXPIRED, OTHER] if operation == "grant" else [MINE, CURRENT, OTHER]
    keys = _home(home, before)
    original = keys.read_bytes()
    script, args = (_GRANT, GRANT_ARGS) if operation == "grant" else (_REVOKE, ["k8sfs-relay-fedcba9876543210"])
    points = 0
    for when in ("before", "after"):
        kill_at = 1
        while True:
            keys.write_bytes(original)
            keys.chmod(0o600)
            for leftover in keys.parent.glob(".authorized_keys.k8sfs-relay.*"):
                leftover.unlink()
            counter.write_bytes(b"")
            env = {
                "PATH": f"{bin_dir}:{os.environ['PATH']}",
                "K8SFS_COUNTER": str(counter),
                "K8SFS_KILL_AT": str(kill_at),
                "K8SFS_KILL_WHEN": when,
            }
            done = _run(script, args, home, env)
            calls = len(counter.read_bytes())
            if kill_at > calls:  # the script ran to its end before this point
                assert done.returncode == 0, done.stderr
                break
            assert done.returncode == -9, (when, kill_at, done.returncode, done.stderr)
            points += 1
            lines = keys.read_text().splitlines()
            where = f"killed {when} command {kill_at} of the {operation}"
            assert oct(keys.stat().st_mode & 0o777) == "0o600", where
            if operation == "grant":
                # the old file, or the new one: the user's lines and the unexpired grant, then the new grant
                assert lines == before or (lines[:2] == [MINE, OTHER] and NEW_LINE.fullmatch(lines[2])), where
            else:
                assert lines in (before, [MINE, OTHER]), where
            # the next run (the next apply's grant or revoke) completes and cleans up
            again = _run(script, args, home)
            assert again.returncode == 0, (where, again.stderr)
            assert sorted(p.name for p in keys.parent.iterdir()) == ["authorized_keys"], where
            kill_at += 1
    assert points >= 20, f"only {points} kill points: the stand-ins did not see the script's commands"


@pytest.fixture
def full_disk(tmp_path):
    """A HOME on a 1 MiB tmpfs of its own, then filled to the last block."""
    home = tmp_path / "small"
    home.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "k8sfs-test", str(home)], check=True)
    try:
        yield home
    finally:
        subprocess.run(["umount", str(home)], check=True)


def test_a_full_disk_fails_the_grant_and_the_revoke_and_the_file_is_left_as_it_was(full_disk):
    home = full_disk
    keys = _home(home, [MINE, CURRENT, OTHER] + [f"ssh-ed25519 AAAAPadding{i:04d} pad{i}" for i in range(40)])
    original = keys.read_bytes()
    with open(home / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass  # ENOSPC: the disk is full
    granted = _run(_GRANT, GRANT_ARGS, home)
    assert granted.returncode != 0
    assert keys.read_bytes() == original
    revoked = _run(_REVOKE, ["k8sfs-relay-fedcba9876543210"], home)
    assert revoked.returncode != 0
    assert keys.read_bytes() == original
    assert oct(keys.stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in keys.parent.iterdir()) == ["authorized_keys"]
    (home / "filler").unlink()  # room again: the same revoke goes through
    assert _run(_REVOKE, ["k8sfs-relay-fedcba9876543210"], home).returncode == 0
    assert keys.read_bytes() == original.replace(f"{CURRENT}\n".encode(), b"")
