"""Uploads passed on between hosts (apply --relay-uploads), on real lab
hosts with their real sshd and OpenSSH client: the controller sends a
file to one host and the others fetch it from there, every copy has the
right digest, mode and owner, and nothing is left behind: no line in any
authorized_keys, no key on any host. A source that cannot serve falls
back to the controller's upload. A grant lets only the fetching host read
only the granted file, and a copy with the wrong digest is never used."""

from __future__ import annotations

import hashlib
import secrets
import uuid

import pytest

from k8sfs.engine.chapter import Chapter
from k8sfs.engine.relay import _GRANT, _MAKE_KEY, _REVOKE, Peer, Relay
from k8sfs.engine.runner import Runner
from k8sfs.engine.step import Step, Upload

HOSTS = ["k8s-master", "node-1", "node-2"]


@pytest.fixture
def scratch(lab):
    """A directory of the same name on every host, gone afterwards; and
    each host's authorized_keys as it was before."""
    path = f"/var/tmp/k8sfs-relay-test-{uuid.uuid4().hex[:8]}"
    before = {}
    for host in HOSTS:
        with lab.session(host) as s:
            s.exec(["mkdir", "-p", path])
            before[host] = s.exec(["cat", "/root/.ssh/authorized_keys"]).stdout
    yield path, before
    for host in HOSTS:
        with lab.session(host) as s:
            s.exec(["rm", "-rf", path])


def _runner(lab, scratch_dir: str, peers: dict[str, Peer], direct_at_once: int) -> Runner:
    logged: list[str] = []

    def relay(run, log) -> Relay:
        def logging(host: str, text: str) -> None:
            logged.append(f"{host}: {text}")
            log(host, text)

        return Relay(peers, run, logging, direct_at_once=direct_at_once)

    runner = Runner(lambda host: lab.session(host), digest_cache=f"{scratch_dir}/digests", relay=relay)
    runner.relay_log = logged  # type: ignore[attr-defined]
    return runner


def _chapter(scratch_dir: str, binary, digest: str) -> Chapter:
    return Chapter(
        "tools",
        "one binary on every host",
        lambda _ctx: [
            Step("tool", h, uploads=[Upload(binary, f"{scratch_dir}/bin/tool", digest, mode=0o750)]) for h in HOSTS
        ],
    )


def _lab_peers(lab) -> dict[str, Peer]:
    return {h: Peer(lab.host(h).address) for h in HOSTS}


def test_one_upload_from_the_controller_and_the_other_hosts_fetch_it(lab, scratch, tmp_path):
    scratch_dir, keys_before = scratch
    binary = tmp_path / "tool"
    binary.write_bytes(bytes(range(256)) * 8192)  # 2 MB
    digest = hashlib.sha256(binary.read_bytes()).hexdigest()
    runner = _runner(lab, scratch_dir, _lab_peers(lab), direct_at_once=1)
    chapter = _chapter(scratch_dir, binary, digest)
    try:
        done = runner.apply(chapter.steps(None), [chapter])
    finally:
        runner.close()
    assert done.changes == 3
    assert runner.relay.fetched == 2, runner.relay_log  # type: ignore[attr-defined]
    for host in HOSTS:
        with lab.session(host) as s:
            have = s.exec(["sh", "-c", f"sha256sum < {scratch_dir}/bin/tool; stat -c '%a %U' {scratch_dir}/bin/tool"])
            assert have.stdout.split() == [digest, "-", "750", "root"], host
            assert s.exec(["cat", "/root/.ssh/authorized_keys"]).stdout == keys_before[host], host
            assert s.exec(["sh", "-c", "ls -d /var/tmp/k8sfs-relay.* 2>/dev/null | wc -l"]).stdout.strip() == "0"
            assert s.exec(["sh", "-c", f"ls -A {scratch_dir}/bin"]).stdout.split() == ["tool"]  # no temporaries


def test_a_source_that_cannot_serve_falls_back_to_the_controllers_upload(lab, scratch, tmp_path):
    scratch_dir, keys_before = scratch
    binary = tmp_path / "tool"
    binary.write_bytes(b"#!/bin/sh\necho tool\n" * 1000)
    digest = hashlib.sha256(binary.read_bytes()).hexdigest()
    # Every host's sshd said to be on a port where nothing listens: each fetch fails.
    peers = {h: Peer(lab.host(h).address, port=2) for h in HOSTS}
    runner = _runner(lab, scratch_dir, peers, direct_at_once=1)
    chapter = _chapter(scratch_dir, binary, digest)
    try:
        done = runner.apply(chapter.steps(None), [chapter])
    finally:
        runner.close()
    assert done.changes == 3 and runner.relay.fetched == 0
    log = "\n".join(runner.relay_log)  # type: ignore[attr-defined]
    assert "failed" in log and "uploading" in log
    for host in HOSTS:
        with lab.session(host) as s:
            assert s.exec(["sh", "-c", f"sha256sum < {scratch_dir}/bin/tool"]).stdout.split()[0] == digest
            assert s.exec(["cat", "/root/.ssh/authorized_keys"]).stdout == keys_before[host], host


def _ssh_as_granted(
    session, directory: str, source_address: str, *options: str, command: tuple[str, ...] = ()
) -> tuple[int, str, str]:
    """The OpenSSH client on a lab host, with the key the relay made there."""
    argv = [
        "ssh",
        "-F",
        "/dev/null",
        "-i",
        f"{directory}/key",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        f"UserKnownHostsFile={directory}/known_hosts",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "ConnectTimeout=10",
        *options,
        f"root@{source_address}",
        *command,
    ]
    result = session.exec(argv, timeout=60)
    return result.exit_code, result.stdout, result.stderr


def test_a_grant_lets_only_the_fetching_host_read_only_that_one_file(lab, scratch):
    """The line a grant adds (restrict, from=, a forced cat): from the
    fetching host, with its key, the file is all there is; no command of
    its own, no forwarding, no other file, and no other host."""
    scratch_dir, keys_before = scratch
    source, target, stranger = "k8s-master", "node-1", "node-2"
    addresses = {h: lab.host(h).address for h in HOSTS}
    with lab.session(source) as s:
        s.exec(["sh", "-c", f"echo granted-content > {scratch_dir}/file; echo other-content > {scratch_dir}/other"])
    with lab.session(target) as t, lab.session(source) as s, lab.session(stranger) as x:
        made = t.exec(["sh", "-c", _MAKE_KEY])
        directory, key = made.stdout.splitlines()
        marker = f"k8sfs-relay-{secrets.token_hex(8)}"
        granted = s.exec(["sh", "-c", _GRANT, "sh", addresses[target], f"{scratch_dir}/file", key, marker])
        assert granted.exit_code == 0, granted.stderr
        host_keys = [line for line in granted.stdout.splitlines() if line.startswith(("ssh-", "ecdsa-"))]
        known = "".join(f"{addresses[source]} {k}\n" for k in host_keys)
        t.put_content(known.encode(), f"{directory}/known_hosts", mode=0o600)
        try:
            # the grant does what it is for
            code, out, err = _ssh_as_granted(t, directory, addresses[source])
            assert (code, out) == (0, "granted-content\n"), err
            # a command of its own runs the forced cat instead
            code, out, _ = _ssh_as_granted(t, directory, addresses[source], command=("id; cat /etc/shadow",))
            assert out == "granted-content\n" and "uid=" not in out and "root:" not in out
            code, out, _ = _ssh_as_granted(t, directory, addresses[source], command=("cat", f"{scratch_dir}/other"))
            assert out == "granted-content\n"
            # no forwarding of any kind
            code, out, err = _ssh_as_granted(t, directory, addresses[source], "-W", "127.0.0.1:22")
            assert code != 0 and "SSH-2.0" not in out, (code, out)
            assert "prohibited" in err, err
            code, out, err = _ssh_as_granted(
                t,
                directory,
                addresses[source],
                "-N",
                "-o",
                "ExitOnForwardFailure=yes",
                "-R",
                "127.0.0.1:40123:127.0.0.1:22",
            )
            assert code != 0 and "forwarding failed" in err, (code, err)
            # the same key from another host is refused (from=)
            private = t.exec(["cat", f"{directory}/key"]).stdout
            x.exec(["mkdir", "-p", directory])
            x.put_content(private.encode(), f"{directory}/key", mode=0o600)
            x.put_content(known.encode(), f"{directory}/known_hosts", mode=0o600)
            code, out, err = _ssh_as_granted(x, directory, addresses[source])
            assert code == 255 and out == "" and "Permission denied" in err, (code, out, err)
        finally:
            s.exec(["sh", "-c", _REVOKE, "sh", marker])
            x.exec(["rm", "-rf", "--", directory])
        # revoked: the key lets nobody in any more
        code, out, err = _ssh_as_granted(t, directory, addresses[source])
        assert code == 255 and out == "" and "Permission denied" in err, (code, out, err)
        t.exec(["rm", "-rf", "--", directory])
        assert s.exec(["cat", "/root/.ssh/authorized_keys"]).stdout == keys_before[source]


def test_a_fetched_file_whose_digest_is_wrong_is_not_put_in_place(lab, scratch):
    scratch_dir, keys_before = scratch
    source, target = "k8s-master", "node-1"
    with lab.session(source) as s:
        s.exec(["sh", "-c", f"echo the-real-content > {scratch_dir}/tool"])
    wanted = hashlib.sha256(b"something else\n").hexdigest()
    logged: list[str] = []

    def run(host: str, argv: list[str]) -> tuple[int, str]:
        with lab.session(host) as session:
            result = session.exec(argv, timeout=120)
        return result.exit_code, result.stdout

    relay = Relay(_lab_peers(lab), run, lambda h, m: logged.append(f"{h}: {m}"))
    relay.have(source, f"{scratch_dir}/tool", wanted)  # the source's copy is said to have that digest
    upload = Upload(None, f"{scratch_dir}/bin/tool", wanted, mode=0o755)
    with lab.session(target) as t:
        t.exec(["mkdir", "-p", f"{scratch_dir}/bin"])
        with relay.turn(target, upload) as fetched:
            assert fetched is False  # the fetch was refused: the caller uploads instead
        assert "failed" in "\n".join(logged)
        assert t.exec(["ls", "-A", f"{scratch_dir}/bin"]).stdout == ""  # neither the file nor a temporary
        assert t.exec(["sh", "-c", "ls -d /var/tmp/k8sfs-relay.* 2>/dev/null | wc -l"]).stdout.strip() == "0"
    with lab.session(source) as s:
        assert s.exec(["cat", "/root/.ssh/authorized_keys"]).stdout == keys_before[source]
