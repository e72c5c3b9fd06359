"""Changing the Kubernetes version of a running cluster: what runs now
(from each host's facts), the version-skew policy checked before anything
changes, and kubeadm's order: etcd, the control planes one at a time,
then the workers one at a time (drained first, uncordoned when Ready).

The rules (kubernetes.io/releases/version-skew-policy):
- kube-apiserver moves one minor at a time;
- kubelet and kube-proxy are never newer than kube-apiserver and at most
  three minors older, so old kubelets may keep running while the control
  plane is upgraded first;
- kube-controller-manager and kube-scheduler are not newer than
  kube-apiserver (they go with it, on its host, after it).
A downgrade is refused unless asked for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from k8sfs.engine.chapter import Chapter
from k8sfs.engine.facts import Facts
from k8sfs.spec import ClusterSpec
from k8sfs.versions import triple


class SkewError(ValueError):
    """The change would break the version-skew policy; the message names the rule."""


def _minor(version: str) -> tuple[int, int]:
    major, minor, _patch = triple(version)
    return major, minor


@dataclass
class Upgrade:
    running: str  # the control plane's version now
    target: str

    def describe(self) -> str:
        return (
            f"upgrade {self.running} -> {self.target}: etcd and the control planes first, one at a time; "
            "then the workers one at a time, each drained first and uncordoned when Ready"
        )


def detect(spec: ClusterSpec, facts: dict[str, Facts], allow_downgrade: bool = False) -> Upgrade | None:
    """The upgrade this spec asks of the running cluster, after the skew
    checks; None when nothing runs yet or the version is the same."""
    target = spec.kubernetes_version
    apiservers = {f.apiserver_version for h, f in facts.items() if f.apiserver_version}
    kubelets = {h: f.kubelet_version for h, f in facts.items() if f.kubelet_version}
    if not apiservers:
        return None
    running = min(apiservers, key=_minor)
    if len(apiservers) > 1 and len({_minor(v) for v in apiservers}) > 1:
        raise SkewError(
            f"the control planes run different minors ({', '.join(sorted(apiservers))}): finish the last upgrade first"
        )
    if running == target and all(v == target for v in kubelets.values()):
        return None
    if triple(target) < triple(running):
        if not allow_downgrade:
            raise SkewError(
                f"kubernetes_version {target} is older than the running {running}: a downgrade is "
                "refused (--allow-downgrade to force it; etcd's data may not go back)"
            )
    elif _minor(target)[1] - _minor(running)[1] > 1:
        raise SkewError(
            f"kubernetes_version {target}: kube-apiserver may move one minor at a time and runs "
            f"{running}; upgrade to v1.{_minor(running)[1] + 1}.x first"
        )
    for host, version in sorted(kubelets.items()):
        if _minor(target)[1] - _minor(version)[1] > 3:
            raise SkewError(
                f"{host}: kubelet {version} would be more than three minors older than "
                f"kube-apiserver {target} while the control plane goes first; upgrade it in steps"
            )
        if _minor(version) > _minor(target) and not allow_downgrade:
            raise SkewError(f"{host}: kubelet {version} is newer than the target kube-apiserver {target}")
    return Upgrade(running, target)


def ordered(chapters: Sequence[Chapter]) -> list[Chapter]:
    """The chosen chapters in the upgrade's order."""
    return sorted(chapters, key=lambda c: c.upgrade_turn)
