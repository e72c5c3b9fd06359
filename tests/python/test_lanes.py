"""Hosts going ahead on their own (engine/lanes.py): what each chapter of
the walkthrough waits for, and the schedule those rules give, run with
threads and a recording stand-in for the steps. The cold apply on the lab
(bench/apply.py, and every apply in the lab tests) is what shows the
chapters still work when they overlap."""

from __future__ import annotations

import threading
import time

import pytest

from k8sfs import chapters
from k8sfs.engine.chapter import Chapter
from k8sfs.engine.lanes import Lanes, lanes_allowed, waits_for
from k8sfs.engine.plan import StepPlan
from k8sfs.engine.step import AFTER, Step


def test_the_control_plane_needs_no_worker_chapter_and_the_cluster_chapters_need_everything():
    deps = waits_for(list(chapters.CHAPTERS))
    worker_side = {"swap", "runtime", "kubelet", "crictl", "static-pod"}
    for name in ("etcd", "apiserver", "api-endpoint", "authorization", "kubectl"):
        assert not worker_side & set(deps[name]), name
    assert deps["apiserver"] == ["certificates", "etcd"]
    order = chapters.ORDER
    for name in ("nodes", "controllers", "dns", "smoke-test"):
        assert deps[name] == order[: order.index(name)], name


def test_the_workers_network_and_proxy_come_up_alongside_the_controllers():
    deps = waits_for(list(chapters.CHAPTERS))
    # static routes and a CNI file: nothing from another host
    assert deps["pod-network"] == []
    # kube-proxy reads its Node, so it waits for the API and the nodes, not the controllers
    assert "nodes" in deps["kube-proxy"] and "apiserver" in deps["kube-proxy"]
    assert "controllers" not in deps["kube-proxy"]
    # DNS runs on a worker's network through kube-proxy, so it waits for both
    assert {"pod-network", "kube-proxy", "controllers"} <= set(deps["dns"])


def test_a_chapter_this_run_does_not_have_is_no_ones_to_wait_for():
    chosen = chapters.select(only=["apiserver", "kubectl"])
    assert waits_for(chosen) == {"apiserver": [], "kubectl": ["apiserver"]}


def _noop(_ctx):
    return []


def _schedule(
    hosts_in: dict[str, list[str]],
    seconds: dict[tuple[str, str], float],
    fail: tuple[str, str] | None = None,
    at_once: int = 0,
):
    chosen = [
        Chapter("certificates", "", _noop, after=()),
        Chapter("runtime", "", _noop, after=()),
        Chapter("etcd", "", _noop, after=("certificates",)),
        Chapter("apiserver", "", _noop, after=("certificates", "etcd")),
        Chapter("nodes", "", _noop),
    ]
    events: list[tuple[float, str, str, str]] = []
    lock = threading.Lock()
    started = time.monotonic()

    def work(host: str, chapter: str) -> list[StepPlan]:
        with lock:
            events.append((time.monotonic() - started, "start", host, chapter))
        time.sleep(seconds.get((host, chapter), 0.01))
        if (host, chapter) == fail:
            raise RuntimeError(f"{chapter} failed on {host}")
        with lock:
            events.append((time.monotonic() - started, "end", host, chapter))
        return [StepPlan(Step(chapter, host))]

    ran, failures = Lanes(chosen, hosts_in, at_once).run(work, lambda _c: None)
    at = {(kind, host, chapter): t for t, kind, host, chapter in events}
    return ran, failures, at


HOSTS_IN = {
    "certificates": ["master", "node-1", "node-2"],
    "runtime": ["node-1", "node-2"],
    "etcd": ["master"],
    "apiserver": ["master"],
    "nodes": ["master"],
}


def test_the_master_brings_up_its_control_plane_while_the_workers_install_their_runtime():
    slow_runtime = {("node-1", "runtime"): 0.4, ("node-2", "runtime"): 0.4}
    ran, failures, at = _schedule(HOSTS_IN, slow_runtime)
    assert not failures and len(ran) == 8
    assert at[("end", "master", "apiserver")] < at[("end", "node-1", "runtime")]
    # etcd waited for every host's certificates; nodes for everything before it.
    assert at[("start", "master", "etcd")] >= max(at[("end", h, "certificates")] for h in HOSTS_IN["certificates"])
    everything = max(t for (kind, _h, c), t in at.items() if kind == "end" and c != "nodes")
    assert at[("start", "master", "nodes")] >= everything


def test_after_a_failure_no_host_starts_another_chapter():
    ran, failures, at = _schedule(HOSTS_IN, {("master", "etcd"): 0.2}, fail=("node-1", "runtime"))
    assert list(failures) == ["node-1"] and failures["node-1"][0] == "runtime"
    assert ("start", "master", "nodes") not in at
    assert ("start", "master", "apiserver") not in at  # etcd ended after the failure


def test_a_hook_that_is_due_keeps_the_chapter_by_chapter_order():
    rolling = chapters.CHAPTERS[chapters.ORDER.index("kubelet")]
    hook = StepPlan(Step("uncordon", "master", chapter="kubelet", phase=AFTER, target="node-1", check=["false"]))
    assert lanes_allowed([rolling], [hook])
    hook.carried_over = "owed after node-1's turn"
    assert lanes_allowed([rolling], [hook])  # owed, but its check passes: nothing is due
    hook.check_failed = True
    assert not lanes_allowed([rolling], [hook])  # owed and its check fails: due


def _most_at_once(at: dict) -> int:
    """The most (host, chapter) works that overlapped."""
    edges = sorted((t, 1 if kind == "start" else -1) for (kind, _h, _c), t in at.items())
    busy = most = 0
    for _t, step in edges:
        busy += step
        most = max(most, busy)
    return most


def test_hosts_at_once_bounds_how_many_hosts_work_at_the_same_time():
    everyone_slow = {(h, c): 0.1 for c, hs in HOSTS_IN.items() for h in hs}
    ran, failures, at = _schedule(HOSTS_IN, everyone_slow, at_once=1)
    assert not failures and len(ran) == 8
    assert _most_at_once(at) == 1
    ran, failures, at = _schedule(HOSTS_IN, everyone_slow, at_once=2)
    assert not failures and len(ran) == 8
    assert _most_at_once(at) == 2  # three hosts, two turns: they did overlap, never three


def test_the_runner_refuses_zero_hosts_at_once():
    from k8sfs.engine.runner import Runner

    with pytest.raises(ValueError, match="at least 1"):
        Runner(lambda _h: None, hosts_at_once=0)


def test_a_running_rolling_service_keeps_the_chapter_by_chapter_order():
    """A certificate roll: up front etcd looks current on every control plane
    (the renewed certificate is not on the hosts yet), but once the
    certificates chapter has written it, etcd must restart host by host. Going
    ahead on their own, all three would restart at once (found by make
    test-long: the API was gone for 74 s)."""
    etcd = chapters.CHAPTERS[chapters.ORDER.index("etcd")]
    running = [StepPlan(Step("etcd", f"k8s-master-{i}", chapter="etcd", service="etcd")) for i in (1, 2, 3)]
    for sp in running:
        sp.service_running = True
    assert not any(sp.changed for sp in running)  # nothing to do, as the up-front inspection sees it
    assert not lanes_allowed([etcd], running)
    fresh = [StepPlan(Step("etcd", f"k8s-master-{i}", chapter="etcd", service="etcd")) for i in (1, 2, 3)]
    for sp in fresh:
        sp.service_running = False
        sp.check_failed = True  # a first install: nothing runs yet
    assert lanes_allowed([etcd], fresh)
