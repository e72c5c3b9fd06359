"""The engine's pure parts, run for real where they are shell: the
inspection script against a local /bin/sh and real files (digests, modes,
missing files, check exit codes, the digest cache), and plan rendering
(diffs shown, secrets never)."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import subprocess

from k8sfs.engine.chapter import Chapter
from k8sfs.engine.checks import running_newer_than
from k8sfs.engine.inspect import CHECKS_AT_ONCE, inspection_script, parse_inspection
from k8sfs.engine.plan import Change, Plan, StepPlan
from k8sfs.engine.step import File, Step


def stamped(chapter: str, step: Step) -> Step:
    return Chapter(chapter, chapter, lambda _ctx: [step]).steps(None)[0]


def run(script: str) -> str:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout


def test_inspection_reports_digests_modes_missing_files_and_checks(tmp_path):
    present = tmp_path / "config.yaml"
    present.write_bytes(b"kind: Config\n")
    present.chmod(0o640)
    missing = tmp_path / "absent" / "file"
    steps = [
        Step(
            "one", "h", files=[File(str(present), b"x"), File(str(missing), b"y")], check=["test", "-e", str(present)]
        ),
        Step("two", "h", check=["sh", "-c", "exit 3"]),
        Step("three", "h"),
    ]
    state = parse_inspection(run(inspection_script(steps, str(tmp_path / "cache" / "digests"))))
    assert state.files[str(present)].sha256 == hashlib.sha256(b"kind: Config\n").hexdigest()
    assert state.files[str(present)].mode == 0o640
    st = present.stat()
    assert state.files[str(present)].owner == f"{pwd.getpwuid(st.st_uid).pw_name}:{grp.getgrgid(st.st_gid).gr_name}"
    assert state.files[str(missing)].sha256 is None
    assert state.checks == {0: 0, 1: 3}


def test_digest_cache_is_reused_until_the_file_changes(tmp_path):
    target = tmp_path / "binary"
    target.write_bytes(b"A" * 1000)
    cache = tmp_path / "digests"
    steps = [Step("s", "h", files=[File(str(target), b"")])]
    script = inspection_script(steps, str(cache))
    first = parse_inspection(run(script)).files[str(target)].sha256
    assert first == hashlib.sha256(b"A" * 1000).hexdigest()
    assert len(cache.read_text().splitlines()) == 1
    run(script)
    assert len(cache.read_text().splitlines()) == 1  # answered from the cache
    target.write_bytes(b"B" * 1000)  # same size, new mtime
    assert parse_inspection(run(script)).files[str(target)].sha256 == hashlib.sha256(b"B" * 1000).hexdigest()


def test_paths_with_shell_characters_are_quoted(tmp_path):
    odd = tmp_path / "it's $HOME; rm -rf x"
    odd.write_text("ok")
    state = parse_inspection(
        run(inspection_script([Step("s", "h", files=[File(str(odd), b"")])], str(tmp_path / "digests")))
    )
    assert state.files[str(odd)].sha256 == hashlib.sha256(b"ok").hexdigest()
    assert (tmp_path / "x").exists() is False


def test_a_path_with_spaces_is_answered_from_the_digest_cache_too(tmp_path):
    odd = tmp_path / "dir with spaces" / "a file"
    odd.parent.mkdir()
    odd.write_text("ok")
    cache = tmp_path / "digests"
    script = inspection_script([Step("s", "h", files=[File(str(odd), b"")])], str(cache))
    assert parse_inspection(run(script)).files[str(odd)].sha256 == hashlib.sha256(b"ok").hexdigest()
    assert parse_inspection(run(script)).files[str(odd)].sha256 == hashlib.sha256(b"ok").hexdigest()
    assert len(cache.read_text().splitlines()) == 1  # the second answer came from the cache


def test_every_check_reports_its_own_exit_code_when_they_run_in_batches():
    steps = [
        Step(f"s{i}", "h", check=["sh", "-c", f"sleep 0.0{i % 3}; exit {i}"]) for i in range(2 * CHECKS_AT_ONCE + 3)
    ]
    state = parse_inspection(run(inspection_script(steps)))
    assert state.checks == {i: i for i in range(len(steps))}


def test_plan_render_shows_diffs_and_commands_but_never_secrets():
    public = StepPlan(
        stamped(
            "kubelet",
            Step("kubelet", "node-1", files=[File("/a", b"new\n")], apply=[["systemctl", "restart", "kubelet"]]),
        ),
        [Change("/a", "content", "--- a\n+++ b\n-old\n+new\n")],
    )
    secret = StepPlan(
        stamped("certificates", Step("pki", "node-1", files=[File("/k", b"KEY", 0o600, secret=True)])),
        [Change("/k", "content", "(secret: content not shown)")],
    )
    quiet = StepPlan(stamped("swap", Step("fstab", "node-2")))
    chapters = [Chapter(n, n, lambda _c: []) for n in ("certificates", "swap", "kubelet")]
    plan = Plan(chapters, [secret, quiet, public])
    text = plan.render()
    assert "== kubelet: 1 of 1 steps would change" in text and "== swap: 0 of 1 steps would change" in text
    assert "+new" in text and "run      systemctl restart kubelet" in text
    assert "KEY" not in text and "(secret: content not shown)" in text
    assert text.endswith("2 step(s) would change")
    html = plan._repr_html_()
    assert "KEY" not in html and "would change" in html and "$ systemctl restart kubelet" in html
    assert Plan(chapters[1:2], [quiet]).render().endswith("no changes")


ETCD_UNIT = "[Service]\nExecStart=/usr/local/bin/etcd \\\n  --name=k8s-master \\\n  --data-dir=/var/lib/etcd\n"


def test_a_plan_shows_a_new_file_in_full_with_its_reasons_and_folds_the_check_script():
    from k8sfs.engine.executor import _created
    from k8sfs.explain import doc_values

    unit = File("/etc/systemd/system/etcd.service", ETCD_UNIT)
    key = File("/etc/kubernetes/pki/etcd/peer.key", b"-----BEGIN EC PRIVATE KEY-----\nSECRETSECRET\n", secret=True)
    step = stamped(
        "etcd",
        Step(
            "etcd",
            "k8s-master",
            files=[unit, key],
            check=["sh", "-c", "systemctl is-active --quiet etcd && stat -c %Y /x"],
            apply=[["systemctl", "restart", "etcd"]],
            by_hand=["systemctl status etcd --no-pager"],
        ),
    )
    sp = StepPlan(step, [Change(unit.path, "missing", _created(unit)), Change(key.path, "missing", _created(key))])
    sp.check_failed = True
    plan = Plan([Chapter("etcd", "etcd", lambda _c: [])], [sp], doc_values=doc_values("v1.34.4"))
    text = plan.render()
    assert "+  --name=k8s-master \\" in text and "--- /dev/null" in text  # the new file in full, as a diff from nothing
    assert "SECRETSECRET" not in text and "(secret: content not shown; " in text and "sha256:" in text
    assert "stat -c" not in text and "check    k8sfs's check fails" in text
    explained = plan.render(explain=True)
    assert "--data-dir=/var/lib/etcd" in explained and "write-ahead log" in explained
    assert "https://etcd.io/docs/v3.6/op-guide/configuration/" in explained
    assert "by hand  systemctl status etcd --no-pager" in explained and "stat -c" in explained
    assert "+  --name" not in plan.render(diff=False)
    html = plan._repr_html_()
    assert "SECRETSECRET" not in html and "write-ahead log" in html
    assert html.index("how k8sfs checks") < html.index("stat -c")  # the script only inside the fold
    assert "<details class='internal'>" in html


def test_before_writing_parents_are_made_and_stale_upload_temporaries_go(tmp_path):
    from k8sfs.engine.executor import PREPARE_PATHS

    (tmp_path / ".config.yaml.k8sfs-3f2a").write_text("half an upload a kill left behind")
    (tmp_path / ".other.conf.k8sfs-9d1c").write_text("another file's, not being written now")
    target = tmp_path / "new dir" / "it's.conf"
    subprocess.run(["sh", "-c", PREPARE_PATHS, "sh", str(tmp_path / "config.yaml"), str(target)], check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.conf.k8sfs-9d1c", "new dir"]
    assert target.parent.is_dir()


def test_a_host_clock_days_off_is_warned_about():
    from k8sfs.engine.facts import clock_warnings, parse

    # What the facts script prints on a host whose clock is two days ahead.
    ahead = parse(f"os_id=debian\nclock={int(__import__('time').time()) + 2 * 86400}\n")
    close = parse(f"os_id=debian\nclock={int(__import__('time').time()) + 3}\n")
    warnings = clock_warnings({"node-1": ahead, "node-2": close})
    assert len(warnings) == 1 and warnings[0].startswith("node-1: its clock is 2.0 days ahead of this machine's")


def test_an_etcd_host_that_would_join_a_running_etcd_is_refused():
    import pytest

    from k8sfs.cluster import HostFactsError, check_etcd_growth
    from k8sfs.engine.facts import parse
    from k8sfs.spec import ClusterSpec, sized_hosts

    spec = ClusterSpec(hosts=sized_hosts(3, 1), control_plane_endpoint="192.168.50.9")
    ran, fresh = parse("os_id=debian\netcd_data=yes\n"), parse("os_id=debian\netcd_data=\n")
    one_ran = {"k8s-master-1": ran, "k8s-master-2": fresh, "k8s-master-3": fresh, "node-1": fresh}
    journal_one = {"k8s-master-1/etcd/etcd": {"status": "applied"}}
    with pytest.raises(HostFactsError, match=r"^k8s-master-2: would be a new etcd member .* runs on k8s-master-1"):
        check_etcd_growth(spec, one_ran, journal_one)
    # A fresh cluster, a resumed bootstrap (every member started before), a
    # cluster whose disks are gone (lab down; the journal stays): no refusal.
    check_etcd_growth(spec, dict.fromkeys(one_ran, fresh), {})
    started_all = {f"k8s-master-{i}/etcd/etcd": {"status": "started"} for i in (1, 2, 3)}
    check_etcd_growth(spec, one_ran, started_all)
    check_etcd_growth(spec, dict.fromkeys(one_ran, fresh), started_all)


def test_the_same_hook_for_two_hosts_of_a_rollout_are_two_steps():
    from k8sfs.engine.step import AFTER, BEFORE

    one = Step("drain", "k8s-master", phase=BEFORE, target="node-1")
    two = Step("drain", "k8s-master", phase=BEFORE, target="node-2")
    after = Step("uncordon", "k8s-master", phase=AFTER, target="node-1")
    for s in (one, two, after):
        s.chapter = "kubelet"
    assert len({one.key, two.key, after.key}) == 3
    assert one.label == two.label == "kubelet/drain"  # shown with its target: drain [before node-1]


def _fake_systemd(tmp_path, started_us: int) -> dict[str, str]:
    """systemctl says the unit is active; date turns its start into `started_us`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(
        "#!/bin/sh\n[ \"$1\" = show ] && echo 'Fri 2026-11-27 19:00:00.000000 UTC'\nexit 0\n"
    )
    (bin_dir / "date").write_text(f"#!/bin/sh\necho {started_us}\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin"}


def test_a_service_is_current_only_when_it_started_after_every_file_it_reads(tmp_path):
    started = 1_764_270_000_000_000  # microseconds
    older, newer, missing = tmp_path / "old.conf", tmp_path / "new key.pem", tmp_path / "absent"
    for path, offset_us in ((older, -5_000_000), (newer, +1)):
        path.write_text("x")
        ns = (started + offset_us) * 1000
        os.utime(path, ns=(ns, ns))
    env = _fake_systemd(tmp_path, started)

    def current(files):
        return subprocess.run(running_newer_than("unit", [str(f) for f in files]), env=env).returncode == 0

    assert current([older, missing])
    assert not current([older, newer])  # written a microsecond after the start: restart
    assert current([])


def test_a_binarys_version_is_asked_once_until_the_binary_changes(tmp_path):
    from k8sfs.engine.facts import parse, script

    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    containerd = bin_dir / "containerd"

    def install(version: str) -> None:
        containerd.write_text(
            f"#!/bin/sh\necho called >> {calls}\necho 'containerd github.com/containerd/containerd {version} 0abc'\n"
        )
        containerd.chmod(0o755)

    def facts():
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
        out = subprocess.run(
            ["sh", "-c", script(str(tmp_path / "cache" / "versions"))], capture_output=True, text=True, env=env
        ).stdout
        return parse(out)

    install("v1.7.3")
    assert facts().containerd_version == "1.7.3"
    assert facts().containerd_version == "1.7.3"
    assert calls.read_text().count("called") == 1  # the second answer came from the cache
    install("v2.1.0")  # a new binary at the same path: a new mtime (and size)
    assert facts().containerd_version == "2.1.0"
    assert calls.read_text().count("called") == 2
