"""`k8sfs node remove NAME`: a worker out of a running cluster. Cordon,
drain (the eviction API respects PodDisruptionBudgets; a timeout stops it
with the node still cordoned), delete the Node, reset the host, and the
routes to its pod range go from the other hosts. The remaining workers'
pod subnets are pinned in the new spec so that none of them moves."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from k8sfs.chapters import select
from k8sfs.chapters.control_plane import ADMIN_CONF, kubectl_with
from k8sfs.cluster import Cluster
from k8sfs.engine.errors import StepError
from k8sfs.engine.reset import reset_script
from k8sfs.spec import ClusterSpec


class NodeRemoveError(ValueError):
    pass


def without(spec: ClusterSpec, name: str) -> ClusterSpec:
    """The spec without host `name`, every other worker's pod subnet pinned."""
    subnets = spec.pod_subnets()
    hosts = [
        dataclasses.replace(h, pod_subnet=subnets[h.name]) if h.worker else h for h in spec.hosts if h.name != name
    ]
    return dataclasses.replace(spec, hosts=hosts)


def remove(cluster: Cluster, name: str, timeout: int, progress: Callable[[str], None]) -> ClusterSpec:
    """Drains, deletes and resets `name`; returns the spec without it (the
    caller stores it: the lab keeps its own, a spec file is the user's)."""
    spec = cluster.spec
    host = spec.host(name)
    if host.control_plane or host.etcd:
        raise NodeRemoveError(
            f"{name} runs the control plane or etcd: k8sfs removes workers only (an etcd member "
            "leaves with `etcdctl member remove` first; not automated yet)"
        )
    workers = [h for h in spec.hosts if h.worker]
    if len(workers) < 2:
        raise NodeRemoveError(f"{name} is the last worker: the cluster would have nowhere to run pods")
    on = next(h.name for h in spec.hosts if h.control_plane)
    remaining = without(spec, name)
    with cluster.writing():

        def k(*args: str) -> list[str]:
            return kubectl_with(ADMIN_CONF, *args)

        progress(f"{name}: cordon and drain (timeout {timeout} s)")
        cluster.run(on, "node-remove", k("cordon", name))
        try:
            cluster.run(
                on,
                "node-remove",
                k("drain", name, "--ignore-daemonsets", "--delete-emptydir-data", f"--timeout={timeout}s"),
                timeout=timeout + 60,
            )
        except StepError as error:
            raise NodeRemoveError(
                f"{name}: the drain did not finish (a PodDisruptionBudget or a pod that will not "
                f"go); the node stays cordoned and in the cluster:\n{error}"
            ) from None
        cluster.run(on, "node-remove", k("delete", "node", name, "--wait=true"))
        progress(f"{name}: Node deleted; resetting the host")
        steps = cluster.reset_steps()[name]
        cluster.run(name, "node-remove", ["sh", "-c", reset_script(steps)], timeout=300)
        dropped = cluster.journal.forget({name})  # a removed host owes nothing, nor is owed
        if dropped:
            progress(f"{name}: dropped what the journal owed for it ({len(dropped)} step(s))")
    with Cluster(
        remaining,
        cluster.new_session,
        cluster.state_dir,
        progress,
        cluster.cgroup_root_template,
        command="node remove",
    ) as rest:
        rest.apply(only=[c.name for c in select(only=["pod-network"])])
    progress(f"{name} removed: the other hosts' routes no longer go to it")
    return remaining
