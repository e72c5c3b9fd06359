"""The engine's shapes without a lab: chapters stamp their steps, rollouts
order hosts, the journal remembers, reset follows what steps declare, and a
plan of a cluster that does not exist yet writes nothing on the controller."""

from __future__ import annotations

import pytest

from k8sfs import chapters as chapters_mod
from k8sfs.cluster import Cluster
from k8sfs.engine.chapter import Chapter, Rollout, select
from k8sfs.engine.journal import APPLIED, SKIPPED, STARTED, Journal
from k8sfs.engine.plan import StepPlan, mark_rolling_hooks, rollout_order
from k8sfs.engine.reset import reset_script
from k8sfs.engine.runner import Runner
from k8sfs.engine.step import AFTER, BEFORE, Step
from k8sfs.spec import ClusterSpec


def test_a_chapter_stamps_its_name_and_refuses_a_foreign_step():
    chapter = Chapter("kubelet", "kubelet", lambda _ctx: [Step("kubelet", "node-1")])
    assert chapter.steps(None)[0].chapter == "kubelet"
    foreign = Chapter("kubelet", "kubelet", lambda _ctx: [Step("x", "node-1", chapter="kublet")])
    with pytest.raises(ValueError, match="belongs to chapter 'kublet'"):
        foreign.steps(None)
    hook = Chapter("swap", "swap", lambda _ctx: [Step("drain", "m", phase=BEFORE, target="node-1")])
    with pytest.raises(ValueError, match="has no rollout"):
        hook.steps(None)


def test_the_runner_refuses_steps_of_a_chapter_it_does_not_run():
    stray = Step("kubelet", "node-1", chapter="kubelet")
    with pytest.raises(ValueError, match="chapter 'kubelet', which this run does not have"):
        Runner(lambda h: None).plan([stray], [Chapter("swap", "swap", lambda _c: [])])


def test_select_names_the_chapters_when_one_is_unknown():
    assert [c.name for c in chapters_mod.select(until="kubelet")] == ["certificates", "swap", "runtime", "kubelet"]
    with pytest.raises(ValueError, match="unknown chapter 'kubelett'; chapters: certificates, swap"):
        select(chapters_mod.CHAPTERS, until="kubelett")


def _plan(host: str, running: bool | None, changed: bool = True, phase: str = "main", target: str = "") -> StepPlan:
    step = Step("s" + host + phase, host, service="svc", phase=phase, target=target, chapter="c")
    return StepPlan(step, check_failed=changed, service_running=running)


def test_rollout_takes_running_hosts_in_turns_and_new_hosts_together():
    chapter = Chapter("c", "c", lambda _c: [], Rollout(serial=1))
    plans = [
        _plan("a", True),
        _plan("b", False),
        _plan("c", True),
        _plan("d", True, changed=False),
        _plan("m", None, changed=False, phase=BEFORE, target="a"),
        _plan("m", None, changed=False, phase=AFTER, target="b"),
    ]
    order = rollout_order(chapter, plans)
    assert order.fresh == ["b"] and order.turns == [["a"], ["c"]]
    mark_rolling_hooks(chapter, plans)
    assert plans[4].rolling and plans[4].changed  # drain before a's turn
    assert not plans[5].rolling and not plans[5].changed  # b is new: no turn, no hook
    two = Chapter("c", "c", lambda _c: [], Rollout(serial=2))
    assert rollout_order(two, plans).turns == [["a", "c"]]


def test_the_journal_remembers_interrupted_and_left_out_steps(tmp_path):
    journal = Journal(tmp_path / "journal.jsonl")
    a, b, c = (Step(n, "node-1", chapter="kubelet") for n in "abc")
    journal.record(a, STARTED)
    journal.record(b, STARTED)
    journal.record(b, APPLIED)
    journal.record(c, SKIPPED, "node-1 excluded")
    with open(tmp_path / "journal.jsonl", "a") as f:
        f.write('{"host": "node-2", "chap')  # a line cut short by kill -9
    assert journal.interrupted() == {"node-1/kubelet/a"}
    assert journal.carried_over() == {"node-1/kubelet/c": "node-1 excluded"}


def test_an_owed_hook_runs_only_while_its_check_still_fails():
    """Owed is a reason to look again, not to replay: the hook a left-out
    host's turn owes (uncordon@node-2 on the control plane) runs only if
    its check fails now, and only while it is owed."""
    chapter = Chapter("c", "c", lambda _c: [], Rollout(serial=1))
    uncordon = Step("uncordon", "m", phase=AFTER, target="node-2", check=["test", "x"], chapter="c")
    owed_passing = StepPlan(uncordon, carried_over="node-2 excluded", check_failed=False)
    owed_failing = StepPlan(uncordon, carried_over="node-2 excluded", check_failed=True)
    not_owed_failing = StepPlan(uncordon, check_failed=True)
    interrupted_failing = StepPlan(uncordon, interrupted=True, check_failed=True)
    for sp in (owed_passing, owed_failing, not_owed_failing, interrupted_failing):
        mark_rolling_hooks(chapter, [sp])
    assert owed_passing.owed and not owed_passing.changed
    assert owed_failing.changed and interrupted_failing.changed
    assert not not_owed_failing.changed
    # a main step the journal owes still runs: its host never finished it
    main = StepPlan(Step("kubelet", "node-2", chapter="c"), interrupted=True)
    assert main.changed


def test_forgetting_hosts_drops_their_entries_and_the_hooks_aimed_at_them(tmp_path):
    journal = Journal(tmp_path / "journal.jsonl")
    kubelet2 = Step("kubelet", "node-2", chapter="kubelet")
    uncordon2 = Step("uncordon", "m", phase=AFTER, target="node-2", chapter="kubelet")
    uncordon1 = Step("uncordon", "m", phase=AFTER, target="node-1", chapter="kubelet")
    etcd = Step("etcd", "m", chapter="etcd")
    journal.record(etcd, APPLIED)
    journal.record(kubelet2, SKIPPED, "node-2 excluded")
    journal.record(uncordon2, SKIPPED, "node-2 excluded")
    journal.record(uncordon1, SKIPPED, "owed after node-1's turn")
    dropped = journal.forget({"node-2"})
    assert sorted(dropped) == ["m/kubelet/uncordon@node-2", "node-2/kubelet/kubelet"]
    assert set(journal.last()) == {"m/etcd/etcd", "m/kubelet/uncordon@node-1"}
    assert journal.forget({"node-2"}) == []
    assert journal.settle_owed() == ["m/kubelet/uncordon@node-1"]
    assert journal.carried_over() == {} and journal.interrupted() == set()
    assert journal.last()["m/etcd/etcd"]["status"] == APPLIED  # what was done stays known


def _walkthrough_context(tmp_path, monkeypatch):
    monkeypatch.setenv("K8SFS_CACHE", str(tmp_path / "cache"))
    cluster = Cluster(ClusterSpec(), connect=None, state_dir=tmp_path / "state")
    lines, ctx = cluster.controller_plan()
    return cluster, lines, ctx


def test_a_plan_for_a_new_cluster_writes_nothing_on_the_controller(tmp_path, monkeypatch):
    cluster, lines, ctx = _walkthrough_context(tmp_path, monkeypatch)
    steps = chapters_mod.build_steps(ctx, list(chapters_mod.CHAPTERS))
    assert any(line.startswith("pki: create ca ") for line in lines)
    assert any(line.startswith("secrets: create the secrets-at-rest key") for line in lines)
    assert any(line.startswith("images: build k8sfs.local/pause:1.0") for line in lines)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == [], written
    pending = {f.path: f.pending for s in steps for f in s.files if f.pending}
    assert "apply will create ca" in pending["/etc/kubernetes/pki/ca.crt"]
    assert "secrets-at-rest key" in pending["/etc/kubernetes/encryption-config.yaml"]
    uploads = {u.path: u.pending for s in steps for u in s.uploads}
    assert "kubelet v1.34.4 is not in the artifact cache" in uploads["/usr/local/bin/kubelet"]


def test_every_step_carries_the_chapter_that_built_it(tmp_path, monkeypatch):
    _cluster, _lines, ctx = _walkthrough_context(tmp_path, monkeypatch)
    for chapter in chapters_mod.CHAPTERS:
        for step in chapter.steps(ctx):
            assert step.chapter == chapter.name


def test_reset_follows_what_the_steps_declare(tmp_path, monkeypatch):
    _cluster, _lines, ctx = _walkthrough_context(tmp_path, monkeypatch)
    steps = [s for s in chapters_mod.build_steps(ctx, list(chapters_mod.CHAPTERS)) if s.host == "node-1"]
    script = reset_script(steps)
    # Pods go while the runtime still answers; kube-proxy's chains after it stops.
    assert script.index("crictl rmp -af") < script.index("ctr -n k8s.io containers ls")
    assert script.index("systemctl stop kube-proxy") < script.index("iptables-restore")
    removed = next(line for line in script.splitlines() if line.startswith("rm -rf ")).split()[2:]
    for path in (
        "/etc/kubernetes",
        "/usr/local/bin/kubelet",
        "/etc/cni/net.d",
        "/var/lib/kubelet",
        "/etc/systemd/system/kubelet.service",
        "/usr/local/sbin/k8sfs-pod-routes",
        "/var/lib/k8sfs",
    ):
        assert path in removed, path
    assert not any(p.startswith(("/etc/ssh", "/root/.ssh")) for p in removed)
    assert "systemctl stop kubelet" in script and "systemctl disable k8sfs-pod-routes" in script
    assert "/opt/local-path-provisioner" not in removed
    ctx.spec.addons = ["local-path"]  # the storage add-on's volumes are the node's data too
    kubelet = [s for s in chapters_mod.build_steps(ctx, chapters_mod.select(only=["kubelet"])) if s.host == "node-1"]
    removing = next(line for line in reset_script(kubelet).splitlines() if line.startswith("rm -rf "))
    assert "/opt/local-path-provisioner" in removing.split()


def test_a_plans_repr_shows_no_files_content_so_a_key_never_lands_in_a_notebook():
    """Jupyter stores a cell's text/plain repr beside its HTML: the dataclass
    repr of a plan once carried every private key and the secrets-at-rest key."""
    from k8sfs.engine.plan import Plan
    from k8sfs.engine.step import File

    key = b"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
    step = Step(
        host="node-1",
        name="kubelet certificate",
        chapter="certificates",
        files=[File("/var/lib/kubelet/pki/kubelet.key", key, secret=True), File("/etc/x.conf", b"plain=1\n")],
    )
    plan = Plan(steps=[StepPlan(step, check_failed=True)], chapters=[Chapter("certificates", "", lambda ctx: [])])
    for shown in (repr(plan), repr(step), str([step])):
        assert "PRIVATE KEY" not in shown and "MIIEvQ" not in shown
    assert "kubelet.key" in repr(step) and "secret" in repr(step)
    assert "plain=1" not in repr(step)  # no content at all, only the size


def test_an_upgrade_takes_the_control_plane_first_then_the_nodes_each_chapter_saying_its_turn():
    from k8sfs import upgrade

    order = [c.name for c in upgrade.ordered(list(chapters_mod.CHAPTERS))]
    assert order.index("etcd") < order.index("apiserver") < order.index("controllers") < order.index("runtime")
    assert order.index("runtime") < order.index("kubelet") < order.index("kube-proxy") < order.index("smoke-test")
    turns = [c.upgrade_turn for c in chapters_mod.CHAPTERS]
    assert len(set(turns)) == len(turns), "two chapters share an upgrade turn: their order would be the build order"
