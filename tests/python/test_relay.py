"""Uploads passed on between hosts (apply --relay-uploads), on real lab
hosts with their real sshd and OpenSSH client: the controller sends a
file to one host and the others fetch it from there, every copy has the
right digest, mode and owner, and nothing is left behind: no line in any
authorized_keys, no key on any host. A source that cannot serve falls
back to the controller's upload."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from k8sfs.engine.chapter import Chapter
from k8sfs.engine.relay import Peer, Relay
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
    runner = Runner(lambda host: lab.session(host))
    runner.digest_cache = f"{scratch_dir}/digests"

    def run(host: str, argv: list[str]) -> tuple[int, str]:
        result = runner.run(host, "relay", argv, check=False)
        return result.exit_code, result.stdout

    logged: list[str] = []
    runner.relay = Relay(peers, run, lambda h, m: logged.append(f"{h}: {m}"), direct_at_once=direct_at_once)
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
