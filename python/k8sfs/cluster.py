"""The main workflow from Python: a spec, hosts to reach, a plan to read,
an apply that changes only what differs, and the verbs a reader uses to
look at the result.

    from k8sfs.cluster import Cluster
    c = Cluster.for_lab(Lab())           # or Cluster(spec, connect)
    print(c.plan(until="static-pod").render())
    c.apply(until="static-pod")
    c.kubectl("get", "nodes")
    c.crictl("node-1", "ps")

`plan()` writes nothing anywhere: what only apply makes on the controller
(the CAs and what they sign, the images, the secrets-at-rest key) is shown
as "apply makes these first"."""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from k8sfs import ExecResult, _core, images, join_command, upgrade
from k8sfs import chapters as chapters_mod
from k8sfs import explain as explain_mod
from k8sfs.addons import ADDONS
from k8sfs.artifacts import ArtifactCache, versions_for
from k8sfs.chapters import Chapter, Context
from k8sfs.engine import facts as facts_mod
from k8sfs.engine.errors import UnreachableError
from k8sfs.engine.host_lock import HostLocks
from k8sfs.engine.journal import Journal
from k8sfs.engine.lock import ClusterLock
from k8sfs.engine.plan import Plan
from k8sfs.engine.relay import Peer, Relay
from k8sfs.engine.runner import HOSTS_AT_ONCE, Connect, Runner
from k8sfs.engine.step import Step
from k8sfs.spec import ROLES, ClusterSpec
from k8sfs.state_paths import StateLayout, default_state_dir, pki_dir
from k8sfs.view.chapter import ChapterView
from k8sfs.view.files import step_views
from k8sfs.view.transcript import Transcript

if TYPE_CHECKING:
    from k8sfs.lab import Lab

Progress = Callable[[str], None]
HISTORY = 50  # applies kept in <state>/applies.jsonl


class HostFactsError(ValueError):
    """The spec cannot work on a host as it is (names the host and what to change)."""


def check_facts(spec: ClusterSpec, facts: dict) -> None:
    minor = spec.kubernetes_minor
    for h in spec.hosts:
        f = facts.get(h.name)
        if f is None or not h.worker:
            continue
        if minor >= 35 and not f.cgroup_v2 and spec.host_profile == "machine":
            raise HostFactsError(
                f"{h.name}: the host uses cgroup v1 and kubelet {spec.kubernetes_version} refuses "
                f"it by default (failCgroupV1); use Kubernetes 1.34 or move the host to cgroup v2"
            )


def check_etcd_growth(spec: ClusterSpec, facts: dict, journal: dict[str, dict]) -> None:
    """An etcd host that never ran etcd, next to members that did: etcd
    would start it as a new cluster of its own (k8sfs starts members with
    --initial-cluster-state=new). Adding members to a running etcd
    (etcdctl member add, then state existing) is not done yet: refuse."""
    etcd = [h for h in spec.hosts if h.etcd and h.name in facts]
    running = [h.name for h in etcd if facts[h.name].etcd_data]
    for h in etcd:
        never = f"{h.name}/etcd/etcd" not in journal and not facts[h.name].etcd_data
        if running and never:
            raise HostFactsError(
                f"{h.name}: would be a new etcd member of the cluster that runs on {', '.join(running)}; "
                "k8sfs does not add members to a running etcd yet (etcdctl member add, then start it with "
                "--initial-cluster-state=existing). Build every control plane from the start, or take the "
                "etcd role off this host."
            )


@dataclass
class CommandResult:
    """What a command gave: exit code, output; shown as a block in Jupyter."""

    command: str
    exit_code: int
    stdout: str
    stderr: str = ""
    where: str = "controller"

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def __str__(self) -> str:
        return self.stdout

    def _repr_html_(self) -> str:
        color = "#2e7d32" if self.ok else "#c62828"
        from k8sfs.view.transcript import PRE

        err = f'<pre style="{PRE};color:#c62828">{escape(self.stderr)}</pre>' if self.stderr.strip() else ""
        return (
            f"<div><code>{escape(self.where)}$ {escape(self.command)}</code> "
            f"<small style='color:{color}'>exit {self.exit_code}</small>"
            f'<pre style="{PRE}">{escape(self.stdout)}</pre>{err}</div>'
        )


class Cluster:
    """A spec and the way to reach its hosts (`connect(name) -> Session`).

    State on the controller (PKI, secrets-at-rest key, logs, journal, lock)
    lives in `state_dir`. `plan()` reads, `apply()` changes only what
    differs; both take `only=[chapters]`, `until=chapter`, and
    `limit`/`exclude` (host names or roles)."""

    def __init__(
        self,
        spec: ClusterSpec,
        connect: Connect,
        state_dir: Path | None = None,
        progress: Progress = lambda _m: None,
        cgroup_root_template: str = "/k8sfs-{host}",
        command: str = "apply",
        hosts_at_once: int = HOSTS_AT_ONCE,
        relay_uploads: bool = False,
    ) -> None:
        self.spec = spec
        self.state_dir = Path(state_dir) if state_dir else default_state_dir(spec)
        self.progress = progress
        peers = {h.name: Peer(h.address, h.user, h.port) for h in spec.hosts}
        self.runner = Runner(
            connect,
            self.state_dir,
            progress,
            hosts_at_once,
            relay=functools.partial(Relay, peers) if relay_uploads else None,
        )
        self.cache = ArtifactCache()
        self.cgroup_root_template = cgroup_root_template
        self.lock = ClusterLock(self.state_dir, spec.cluster_name, command)
        self._facts: dict[str, facts_mod.Facts] = {}
        self._unreachable: dict[str, str] = {}

    @classmethod
    def for_lab(
        cls,
        lab: Lab,
        state_dir: Path | None = None,
        progress: Progress = lambda _m: None,
        spec: ClusterSpec | None = None,
        hosts_at_once: int = HOSTS_AT_ONCE,
        relay_uploads: bool = False,
        **spec_overrides: Any,
    ) -> Cluster:
        """The lab's cluster: its own spec (k8sfs lab up --spec), or `spec`
        fitted to the lab's hosts, with `spec_overrides` on top."""
        chosen = lab.cluster_spec(spec, **spec_overrides)
        return cls(
            chosen,
            lab.session,
            state_dir or lab.cluster_state_dir,
            progress,
            cgroup_root_template=f"/{lab.cgroup_prefix}{{host}}",
            hosts_at_once=hosts_at_once,
            relay_uploads=relay_uploads,
        )

    def close(self) -> None:
        self.runner.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pki_dir(self) -> Path:
        return pki_dir(self.state_dir)

    # ----- hosts -------------------------------------------------------------
    def hosts_left_out(self, limit: list[str] | None = None, exclude: list[str] | None = None) -> dict[str, str]:
        """Hosts a run leaves alone (name -> why): not in `limit`, or in
        `exclude`. Both take host names or roles."""

        def resolve(words: list[str], flag: str) -> set[str]:
            chosen: set[str] = set()
            for word in (w.strip() for item in words for w in item.split(",")):
                if not word:
                    continue
                if word in ROLES:
                    chosen |= {h.name for h in self.spec.hosts if word in h.roles}
                elif any(h.name == word for h in self.spec.hosts):
                    chosen.add(word)
                else:
                    raise ValueError(
                        f"{flag} {word}: no such host or role (hosts: "
                        f"{', '.join(h.name for h in self.spec.hosts)}; roles: {', '.join(ROLES)})"
                    )
            return chosen

        left: dict[str, str] = {}
        if limit:
            kept = resolve(limit, "--limit")
            left.update({h.name: "not in --limit" for h in self.spec.hosts if h.name not in kept})
        if exclude:
            left.update({name: "excluded" for name in resolve(exclude, "--exclude")})
        return left

    def gather_facts(self, hosts: list[str]) -> dict[str, str]:
        """Each host's facts, one command each, in parallel; returns the
        hosts that could not be reached (name -> why)."""
        wanted = [h for h in hosts if h not in self._facts and h not in self._unreachable]

        def one(host: str) -> facts_mod.Facts | UnreachableError:
            try:
                return facts_mod.gather(self.runner.session(host))
            except UnreachableError as error:
                return error

        if wanted:
            with ThreadPoolExecutor(max_workers=min(len(wanted), self.runner.hosts_at_once)) as pool:
                for host, found in zip(wanted, pool.map(one, wanted), strict=True):
                    if isinstance(found, UnreachableError):
                        self._unreachable[host] = found.why
                    else:
                        self._facts[host] = found
        check_facts(self.spec, self._facts)
        check_etcd_growth(self.spec, self._facts, self.runner.journal.last())
        return {h: self._unreachable[h] for h in hosts if h in self._unreachable}

    # ----- the controller's part ------------------------------------------------
    def _programs(self) -> tuple[list[images.Program], list[tuple[str, str]]]:
        """The binaries that become images (CoreDNS, the spec's add-ons):
        those cached, and (artifact, version) of those that are not."""
        wanted = versions_for(self.spec.kubernetes_version)
        cached, missing = [], []
        for artifact in ["coredns", *(ADDONS[a] for a in self.spec.addons)]:
            found = self.cache.lookup(artifact, wanted[artifact])
            if found:
                cached.append(images.Program(artifact, found.version, found.path, found.sha256))
            else:
                missing.append((artifact, wanted[artifact]))
        return cached, missing

    def _encryption_key_path(self) -> Path:
        return StateLayout(self.state_dir).encryption_key

    def controller_plan(self) -> tuple[list[str], Context]:
        """What apply would make on the controller first, and a context that
        carries it as pending. Reads only."""
        store = _core.PkiStore(str(self.pki_dir))
        pki_plan = store.plan(self.spec.pki_spec())
        materials = {m.name: m for m in _core.cluster_materials(self.spec.pki_spec())}
        lines, pending = [], {}
        for item in pki_plan.items:
            if item.action == "keep":
                continue
            lines.append(f"pki: {item.action} {item.name} ({item.reason})")
            for f in materials[item.name].files:
                pending[f.local] = f"apply will {item.action} {item.name}: {item.reason}"
        key = self._encryption_key_path()
        encryption_key = key.read_text().strip() if key.exists() else None
        if encryption_key is None:
            lines.append(f"secrets: create the secrets-at-rest key in {key}")
        programs, missing = self._programs()
        built = images.current_images(self.cache.root.parent, programs)
        images_pending = "apply builds the image (a deterministic docker-archive)"
        if built is None:
            built = images.planned_images(self.cache.root.parent, programs)
            lines.append("images: build " + ", ".join(i.name for i in built))
        # shown as pending; apply stops at the chapter that runs it and says what to build
        built += [images.pending_program_image(self.cache.root.parent, a, v) for a, v in missing]
        if missing:
            images_pending = (
                f"{', '.join(f'{a} {v}' for a, v in missing)} not in the artifact cache: "
                f"k8sfs artifacts build {' '.join(a for a, _v in missing)}"
            )
        ctx = self._context(
            store,
            pki_plan,
            built,
            pki_pending=pending,
            encryption_key=encryption_key,
            images_pending=images_pending,
            planning=True,
        )
        return lines, ctx

    def prepare_controller(self) -> Context:
        """Makes what the hosts' files come from (PKI, key, images); apply only."""
        store = _core.PkiStore(str(self.pki_dir))
        pki_plan = store.apply(self.spec.pki_spec())  # keeps what is valid, creates what is missing
        for item in pki_plan.items:
            if item.action != "keep":
                self.progress(f"controller: pki: {item.action} {item.name} ({item.reason})")
        built = images.ensure_images(self.cache.root.parent, self._programs()[0])
        if self.spec.registries.k8sfs_images:
            self.publish_images(built)
        return self._context(store, pki_plan, built, encryption_key=self.encryption_key())

    def publish_images(self, built: list[images.Image], whose: str = "k8sfs's images") -> None:
        """Images onto the registry the nodes pull them from
        (registries.k8sfs_images), each under its own name's namespace
        there; one HEAD request each when it holds them already."""
        from k8sfs.images.push import PushError, publish

        registry = self.spec.registries.k8sfs_images
        ca_file = self.spec.registries.ca_files.get(registry)
        record = self.cache.root.parent / "images" / f"pushed-{registry}.json"
        try:
            pushed = publish(
                [(i.name, i.path, i.id) for i in built], registry, record, Path(ca_file) if ca_file else None
            )
        except PushError as error:
            raise images.ImageError(
                f"controller: pushing {whose} to {registry} (registries.k8sfs_images): {error}"
            ) from None
        for p in pushed:
            self.progress(f"controller: images: pushed {p.name} to {registry} ({p.sent} bytes sent)")

    def _context(
        self,
        store: _core.PkiStore,
        pki_plan: _core.PkiPlan,
        built: list[images.Image],
        pki_pending: dict[str, str] | None = None,
        encryption_key: str | None = "",
        images_pending: str = "",
        planning: bool = False,
    ) -> Context:
        """The one place a Context is made, for a plan or for an apply."""
        return Context(
            self.spec,
            self._facts,
            self.cache,
            built,
            self.cgroup_root_template,
            pki=store,
            pki_files=list(pki_plan.files),
            pki_pending=pki_pending or {},
            encryption_key=encryption_key,
            images_pending=images_pending,
            planning=planning,
        )

    def encryption_key(self) -> str:
        """The aescbc key for secrets at rest: made once, kept 0600 on the controller."""
        path = self._encryption_key_path()
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(base64.b64encode(os.urandom(32)).decode())
            self.progress(f"controller: secrets: created the secrets-at-rest key ({path})")
        return path.read_text().strip()

    def context(self) -> Context:
        """A planning context for every host (reads only)."""
        self.gather_facts([h.name for h in self.spec.hosts])
        return self.controller_plan()[1]

    def steps(self, chapters: list[Chapter], context: Context | None = None) -> list[Step]:
        return chapters_mod.build_steps(context or self.context(), chapters)

    # ----- the walkthrough: what a chapter writes, and checking it by hand ------------
    def doc_values(self) -> dict[str, str]:
        """The versions reference links point at (the docs of the minor rendered)."""
        return explain_mod.doc_values(self.spec.kubernetes_version, self.spec.runtime.name)

    def show(self, chapter: str) -> ChapterView:
        """What `chapter` writes on each host, every file in full with a reason
        for each flag and field, the commands it runs and the checks a person
        types. Reads the hosts' facts; changes nothing."""
        (chosen,) = chapters_mod.select(only=[chapter])
        steps = self.steps([chosen])
        return ChapterView(chosen.name, chosen.title, step_views(steps, self.doc_values()))

    def check_by_hand(self, chapter: str, hosts: list[str] | None = None, timeout: float = 60) -> Transcript:
        """Runs the commands a person types to check `chapter` (each step's
        `by_hand`) on their hosts, and shows what they printed."""
        (chosen,) = chapters_mod.select(only=[chapter])
        done = Transcript()
        seen: set[tuple[str, str]] = set()
        for step in self.steps([chosen]):
            if hosts is not None and step.host not in hosts:
                continue
            for command in step.by_hand:
                if (step.host, command) not in seen:
                    seen.add((step.host, command))
                    done.entries.append(self.exec(step.host, command, timeout=timeout))
        return done

    # ----- plan and apply ------------------------------------------------------
    def plan(
        self,
        only: list[str] | None = None,
        until: str | None = None,
        limit: list[str] | None = None,
        exclude: list[str] | None = None,
        allow_downgrade: bool = False,
    ) -> Plan:
        """What apply would do. Writes nothing; an unreachable host is
        marked and every other host is planned."""
        chosen = chapters_mod.select(only, until)
        left_out = self.hosts_left_out(limit, exclude)
        unreachable = self.gather_facts([h.name for h in self.spec.hosts if h.name not in left_out])
        change = upgrade.detect(self.spec, self._facts, allow_downgrade)
        if change:
            chosen = upgrade.ordered(chosen)
        controller, ctx = self.controller_plan()
        plan = self.runner.plan(self.steps(chosen, ctx), chosen, left_out, unreachable)
        plan.controller = controller
        plan.busy = self.lock.describe_holder()
        plan.doc_values = self.doc_values()
        plan.notes = ([change.describe()] if change else []) + facts_mod.clock_warnings(self._facts)
        return plan

    def apply(
        self,
        only: list[str] | None = None,
        until: str | None = None,
        limit: list[str] | None = None,
        exclude: list[str] | None = None,
        wait: float = 0,
        allow_downgrade: bool = False,
        forget_owed: bool = False,
    ) -> Plan:
        """Makes the hosts match the spec. Takes the cluster's lock (`wait`
        seconds for it); refuses, changing nothing, when a host it would
        touch cannot be reached. A new Kubernetes version is an upgrade:
        checked against the skew policy first, control planes first.
        `forget_owed` drops what the journal owes first (hosts rebuilt
        behind k8sfs's back)."""
        chosen = chapters_mod.select(only, until)
        left_out = self.hosts_left_out(limit, exclude)
        with self.writing(left_out, wait):
            if forget_owed:
                forgotten = self.runner.forget_owed()
                self.progress(
                    f"journal: forgot {len(forgotten)} owed step(s)"
                    + (f": {', '.join(forgotten)}" if forgotten else "")
                )
            change = upgrade.detect(self.spec, self._facts, allow_downgrade)
            if change:
                chosen = upgrade.ordered(chosen)
                self.progress(change.describe())
            for warning in facts_mod.clock_warnings(self._facts):
                self.progress(f"warning: {warning}")
            started = time.time()
            ctx = self.prepare_controller()
            done = self.runner.apply(self.steps(chosen, ctx), chosen, left_out)
            self._record_timeline(done, started)
            return done

    def _record_timeline(self, done: Plan, started: float) -> None:
        """<state>/last-apply.json: each step's start and end (k8sfs picture
        timeline); <state>/applies.jsonl: the same for the recent applies."""
        record = {
            "cluster": self.spec.cluster_name,
            "started": started,
            "ended": time.time(),
            "steps": [
                {
                    "host": sp.step.host,
                    "chapter": sp.step.chapter,
                    "step": sp.step.name,
                    "changed": sp.changed,
                    "skipped": sp.skipped,
                    "started": sp.started,
                    "ended": sp.ended,
                }
                for sp in done.steps
            ],
        }
        layout = StateLayout(self.state_dir)
        tmp = layout.last_apply.with_name(layout.last_apply.name + ".tmp")
        tmp.write_text(json.dumps(record, indent=1) + "\n")
        tmp.replace(layout.last_apply)
        # The recent applies too (a notebook applies chapter by chapter and
        # draws them together): the last HISTORY, one JSON line each.
        history = layout.applies
        kept = history.read_text().splitlines()[-(HISTORY - 1) :] if history.exists() else []
        tmp = history.with_name(history.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in [*kept, json.dumps(record)]))
        tmp.replace(history)

    @contextlib.contextmanager
    def writing(self, left_out: dict[str, str] | None = None, wait: float = 0) -> Iterator[None]:
        """For commands that change the cluster: the controller's lock, every
        host that is not left out reachable (facts gathered), and the lock on
        every control-plane host (engine/host_lock.py), whichever hosts are
        left out."""
        left_out = left_out or {}
        with self.lock.held(wait=wait, progress=self.progress):
            included = [h for h in self.spec.hosts if h.name not in left_out]
            if not included:
                raise ValueError("every host is left out: nothing to do")
            host_lock = HostLocks(
                self.runner.new_session,
                [(h.name, h.control_plane) for h in self.spec.hosts],
                self.spec.cluster_name,
                str(self.state_dir),
                shared=self.runner.session,
                left_out=left_out,
                progress=self.progress,
            )
            # The host lock is taken while the facts are gathered (both wait
            # on the network); an unreachable host is still reported first.
            with ThreadPoolExecutor(max_workers=1) as pool:
                locking = pool.submit(host_lock.acquire)
                try:
                    unreachable = self.gather_facts([h.name for h in included])
                    if unreachable:
                        names = sorted(unreachable)
                        raise UnreachableError(
                            names[0],
                            "; ".join(f"{h}: {unreachable[h]}" for h in names),
                            hint=f"nothing was changed; to go on without {'them' if len(names) > 1 else 'it'}"
                            f": --exclude {','.join(names)} (the next full apply catches up)",
                        )
                    locking.result()
                except BaseException:
                    if locking.exception() is None:
                        host_lock.release()
                    raise
            try:
                yield
            finally:
                host_lock.release()

    # ----- verbs for readers ---------------------------------------------------------
    def _kubectl_path(self) -> Path:
        return self.cache.require("kubectl", self.spec.kubernetes_version).path

    def kubectl(self, *args: str, timeout: float = 120) -> CommandResult:
        """The cluster's kubectl on the controller with the admin kubeconfig."""
        admin = self.pki_dir / "admin.conf"
        if not admin.exists():
            raise ValueError(f"{admin} does not exist yet: run apply first")
        argv = [str(self._kubectl_path()), "--kubeconfig", str(admin), *args]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return CommandResult(join_command(["kubectl", *args]), proc.returncode, proc.stdout, proc.stderr)

    def exec(self, host: str, argv: list[str] | str, timeout: float = 120) -> CommandResult:
        """A command on a host over SSH (a list is quoted; a string is a shell line)."""
        result = self.runner.session(host).exec(argv, timeout=timeout)
        command = argv if isinstance(argv, str) else join_command(argv)
        return CommandResult(command, result.exit_code, result.stdout, result.stderr, where=host)

    def etcdctl(self, *args: str, host: str | None = None, timeout: float = 60) -> CommandResult:
        """etcdctl on an etcd host, with the health-check client certificate."""
        where = host or next(h.name for h in self.spec.hosts if h.etcd)
        result = self.runner.session(where).exec(["etcdctl", *_core.etcdctl_tls_args(), *args], timeout=timeout)
        return CommandResult(
            join_command(["etcdctl", *args]), result.exit_code, result.stdout, result.stderr, where=where
        )

    def crictl(self, host: str, *args: str, timeout: float = 60) -> CommandResult:
        result = self.runner.session(host).exec(["crictl", *args], timeout=timeout)
        return CommandResult(
            join_command(["crictl", *args]), result.exit_code, result.stdout, result.stderr, where=host
        )

    # ----- verbs for day-two operations (operations/) -------------------------------
    def run(self, host: str, label: str, argv: list[str], timeout: float = 300, check: bool = True) -> ExecResult:
        """A command on a host as part of operation `label`: logged in the
        host's log; with `check`, a failure is a StepError naming both."""
        return self.runner.run(host, label, argv, timeout, check)

    def session(self, host: str) -> _core.Session:
        """The host's shared connection (files in and out: put, get)."""
        return self.runner.session(host)

    def new_session(self, host: str) -> _core.Session:
        """A connection of its own, not shared with the steps."""
        return self.runner.new_session(host)

    @property
    def journal(self) -> Journal:
        """What was applied, left out or interrupted, per step (engine/journal.py)."""
        return self.runner.journal

    def apply_steps(self, steps: list[Step], chapters: list[Chapter]) -> Plan:
        """Steps made outside the chapters' own build (pki push), applied by
        the engine like any others; the caller holds `writing()`."""
        return self.runner.apply(steps, chapters)

    def reset_steps(self) -> dict[str, list[Step]]:
        """Every host's steps (all chapters), for reset: what to undo and remove."""
        steps = self.steps(list(chapters_mod.CHAPTERS))
        by_host: dict[str, list[Step]] = {h.name: [] for h in self.spec.hosts}
        for s in steps:
            by_host.setdefault(s.host, []).append(s)
        return by_host


__all__ = ["Cluster", "CommandResult", "HostFactsError", "check_facts", "default_state_dir", "pki_dir"]
