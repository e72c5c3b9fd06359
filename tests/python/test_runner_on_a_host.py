"""The runner against a real host (a lab host over SSH, in a scratch
directory of its own): steps of a `together` chapter all start before any
is waited for, and what an apply wrote is in the host's digest cache, so
the next inspection hashes none of it."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from k8sfs.engine.chapter import Chapter
from k8sfs.engine.errors import StepError
from k8sfs.engine.runner import Runner
from k8sfs.engine.step import File, Step, Upload

HOST = "node-2"


@pytest.fixture
def scratch(lab):
    """A directory on the host, gone afterwards."""
    path = f"/var/tmp/k8sfs-runner-{uuid.uuid4().hex[:8]}"
    with lab.session(HOST) as session:
        session.exec(["mkdir", "-p", path])
        yield path
        session.exec(["rm", "-rf", path])


def _runner(lab, scratch: str) -> Runner:
    return Runner(lambda host: lab.session(host), digest_cache=f"{scratch}/digests")


def _waiting_on_each_other(scratch: str) -> list[Step]:
    """Two 'services': each is verified only once the other has started."""

    def step(me: str, other: str) -> Step:
        return Step(
            me,
            HOST,
            check=["test", "-e", f"{scratch}/{me}"],
            apply=[["touch", f"{scratch}/{me}"]],
            verify=["test", "-e", f"{scratch}/{other}"],
            verify_timeout=1,
        )

    return [step("first", "second"), step("second", "first")]


def test_a_together_chapter_starts_every_step_before_it_waits_for_one(lab, scratch):
    chapter = Chapter(
        "pair", "two that wait for each other", lambda _ctx: _waiting_on_each_other(scratch), together=True
    )
    runner = _runner(lab, scratch)
    try:
        done = runner.apply(chapter.steps(None), [chapter])
    finally:
        runner.close()
    assert [sp.changed for sp in done.steps] == [True, True]
    first, second = done.steps
    assert second.started < first.ended  # the second began before the first was verified


def test_without_together_each_step_is_verified_before_the_next_starts(lab, scratch):
    chapter = Chapter("pair", "two that wait for each other", lambda _ctx: _waiting_on_each_other(scratch))
    runner = _runner(lab, scratch)
    try:
        with pytest.raises(StepError) as failed:
            runner.apply(chapter.steps(None), [chapter])
    finally:
        runner.close()
    assert failed.value.host == HOST and "first" in failed.value.step
    assert "not verified after 1 s" in str(failed.value)


def test_what_an_apply_wrote_is_not_hashed_again_by_the_next_inspection(lab, scratch, tmp_path):
    binary = tmp_path / "tool"
    binary.write_bytes(b"\x7fELF" + bytes(range(256)) * 4096)
    config = b"kind: Config\n"
    digests = {
        f"{scratch}/bin/tool": hashlib.sha256(binary.read_bytes()).hexdigest(),
        f"{scratch}/etc/tool.yaml": hashlib.sha256(config).hexdigest(),
    }
    chapter = Chapter(
        "tool",
        "a binary and its config",
        lambda _ctx: [
            Step(
                "tool",
                HOST,
                files=[File(f"{scratch}/etc/tool.yaml", config, 0o644)],
                uploads=[Upload(binary, f"{scratch}/bin/tool", digests[f"{scratch}/bin/tool"])],
            )
        ],
    )
    runner = _runner(lab, scratch)
    try:
        assert runner.apply(chapter.steps(None), [chapter]).changes == 1
        with lab.session(HOST) as session:
            cache = session.exec(["cat", f"{scratch}/digests"]).stdout.splitlines()
        # "size:mtime:inode digest path", one line per file written
        assert sorted(line.split(" ", 2)[1:] for line in cache) == sorted([d, p] for p, d in digests.items())
        again = runner.plan(chapter.steps(None), [chapter])
        assert again.changes == 0
        with lab.session(HOST) as session:
            after = session.exec(["cat", f"{scratch}/digests"]).stdout.splitlines()
        assert after == cache  # answered from the cache: nothing was hashed, nothing added
    finally:
        runner.close()
