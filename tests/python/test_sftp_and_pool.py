"""File transfers and fan-out to many hosts, against the lab."""

from __future__ import annotations

import hashlib
import os

import pytest

import k8sfs

pytestmark = pytest.mark.lab


def _remote_state(session, path):
    r = session.exec(
        ["sh", "-c", 'sha256sum < "$1" | cut -c1-64; stat -c "%a %U %G" -- "$1"', "k8sfs", path], check=True
    )
    digest, meta = r.stdout.splitlines()
    return digest, meta


def test_put_get_roundtrip_with_checksum_skip(master, tmp_path):
    data = os.urandom(5 * 1024 * 1024 + 123)  # not a multiple of the chunk size
    local = tmp_path / "blob"
    local.write_bytes(data)
    remote = "/srv/k8sfs-test/deep/dir/blob"
    master.exec(["rm", "-rf", "/srv/k8sfs-test"])

    progress = []
    first = master.put(
        str(local),
        remote,
        mode=0o640,
        owner="root",
        group="daemon",
        progress=lambda done, total: progress.append((done, total)),
    )
    assert first.changed and first.bytes == len(data)
    assert first.sha256 == hashlib.sha256(data).hexdigest()
    assert progress[-1] == (len(data), len(data))
    assert _remote_state(master, remote) == (hashlib.sha256(data).hexdigest(), "640 root daemon")

    # Same content, mode and owner: nothing is sent.
    second = master.put(str(local), remote, mode=0o640, owner="root", group="daemon")
    assert not second.changed

    # Same content, different mode: fixed without re-sending.
    third = master.put(str(local), remote, mode=0o600)
    assert third.changed
    assert _remote_state(master, remote)[1].startswith("600 ")

    # Forced copy: sent again, digest computed on the way.
    forced = master.put(str(local), remote, mode=0o600, skip_if_same=False)
    assert forced.changed and forced.sha256 == hashlib.sha256(data).hexdigest()

    back = tmp_path / "back"
    got = master.get(remote, str(back))
    assert got.bytes == len(data)
    assert back.read_bytes() == data

    # No temporary files left next to the target.
    listing = master.exec(["ls", "-A", "/srv/k8sfs-test/deep/dir"]).stdout.split()
    assert listing == ["blob"]


def test_put_content_replaces_a_file_and_applies_the_mode(master):
    path = "/etc/k8sfs-test/secret.key"
    master.put_content("old\n", path, mode=0o644)
    result = master.put_content(b"new-content\n", path, mode=0o600)
    assert result.changed
    assert master.exec(["cat", path]).stdout == "new-content\n"
    assert _remote_state(master, path)[1] == "600 root root"
    master.exec(["rm", "-rf", "/etc/k8sfs-test"])


def test_put_to_missing_parent_that_is_a_file_fails_clearly(master, tmp_path):
    local = tmp_path / "x"
    local.write_text("x")
    master.exec("rm -rf /tmp/k8sfs-notadir && touch /tmp/k8sfs-notadir")
    with pytest.raises(k8sfs.SFTPError) as info:
        master.put(str(local), "/tmp/k8sfs-notadir/file")
    assert "k8s-master" in str(info.value) and "/tmp/k8sfs-notadir" in str(info.value)


def test_get_missing_file_names_it(master, tmp_path):
    with pytest.raises(k8sfs.SFTPError, match="no such file"):
        master.get("/nonexistent/k8sfs", str(tmp_path / "out"))
    assert list(tmp_path.iterdir()) == []  # nothing half-written locally


def test_pool_runs_everywhere_and_keeps_each_hosts_result(lab):
    options = [lab.connect_options(h.name) for h in lab.hosts]
    ghost = k8sfs.ConnectOptions(
        "ghost",
        hostname=str(lab.network.network_address + 98),
        user="root",
        ssh_config="none",
        connect_timeout=2,
        known_hosts=str(lab.known_hosts_path),
    )
    pool = k8sfs.Pool([*options, ghost])
    results = pool.exec("hostname; sleep 1")
    assert [r.host for r in results] == ["k8s-master", "node-1", "node-2", "ghost"]
    assert [r.value.stdout.strip() for r in results[:3]] == ["k8s-master", "node-1", "node-2"]
    assert all(r.ok for r in results[:3])
    assert not results[3].ok
    assert isinstance(results[3].error, k8sfs.ConnectError)
    assert "ghost" in str(results[3].error)


def test_pool_runs_hosts_in_parallel(lab):
    pool = k8sfs.Pool([lab.connect_options(h.name) for h in lab.hosts])
    pool.connect()
    # Each host records when its command started, then sleeps 2 s. One host
    # after the other, the starts would lie 2 s apart; in parallel they lie
    # well within a second (the hosts share this machine's clock).
    results = pool.exec("date +%s.%N; sleep 2")
    assert all(r.ok for r in results)
    stamps = [float(r.value.stdout) for r in results]
    assert max(stamps) - min(stamps) < 1.0


def test_pool_put_to_every_host(lab, tmp_path):
    local = tmp_path / "f"
    local.write_text("same everywhere\n")
    pool = k8sfs.Pool([lab.connect_options(h.name) for h in lab.hosts])
    results = pool.put(str(local), "/tmp/k8sfs-pool-file", mode=0o644)
    assert all(r.ok and r.value.changed for r in results)
    again = pool.put(str(local), "/tmp/k8sfs-pool-file", mode=0o644)
    assert all(r.ok and not r.value.changed for r in again)
