"""The local lab: a spec's hosts as systemd-nspawn containers on this
machine, each in a network namespace of its own on a bridge.

    controller (this machine)  <lab>-br   192.168.50.1/24
    k8s-master                 netns <lab>-k8s-master  192.168.50.10
    node-1                     netns <lab>-node-1      192.168.50.11
    node-2                     netns <lab>-node-2      192.168.50.12

The lab is a host provider, like Vagrant: a spec says which hosts (by
default the walkthrough's three) and `up` makes one lab host per spec host.
Hosts keep their disks (an overlay's upper directory) across stop, start,
crash and `up`: a host that is down is booted again with its disk, like a
VM after a power cut, and hosts that run are left alone. `down` removes the
hosts and their disks; the cluster's state on the controller (its CAs, the
secrets-at-rest key, the journal) lives outside the lab's directory and is
removed only by `down --purge`.

Everything the lab makes is recorded in a state file as it is made, and
`down` removes it all (and finds the leftovers of a crashed run by their
names). Only processes the lab started are stopped, by their PID.
Everything else in k8sfs reaches these hosts over SSH only.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from k8sfs import _core
from k8sfs.engine.journal import Journal
from k8sfs.lab import cgroups, network, rootfs, sshfiles
from k8sfs.lab.layout import LabHost, place
from k8sfs.lab.processes import LabError, alive, container_inits, mounts_under, nspawn_pids, run, stop, tail
from k8sfs.lab.registry import LabRegistry, with_lab_registry
from k8sfs.lab.safety import check_route, check_subnet
from k8sfs.spec import WALKTHROUGH_SUBNET
from k8sfs.ssh import Session
from k8sfs.state_paths import journal_path

if TYPE_CHECKING:
    from k8sfs.spec import ClusterSpec

DEFAULT_NAME = "k8sfs"
DEFAULT_SUBNET = WALKTHROUGH_SUBNET  # the walkthrough's addresses
NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")
STATE_ROOT = Path("/var/lib/k8sfs/lab")
CLUSTERS_ROOT = Path("/var/lib/k8sfs/clusters")

# cgroup v1 controllers bound writable into each host (see rootfs.EARLY_SCRIPT).
CGROUP_CONTROLLERS = (
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "net_cls",
    "net_prio",
    "perf_event",
    "hugetlb",
)
# What the lab decides for every spec, and why (said when a spec differs).
LAB_PROFILE = (
    "lab hosts are systemd-nspawn containers sharing this machine's kernel, swap and cgroup v1 "
    "hierarchy: host_profile container, cgroupfs for the runtime and kubelet (docs/lab.md)"
)


def default_cache_dir() -> Path:
    return Path(os.environ.get("K8SFS_CACHE", Path.home() / ".cache" / "k8sfs"))


@dataclass
class Lab:
    """A lab by name. Two labs with different names and subnets can be up at
    once (the tests run their own beside a demo lab). `subnet` is needed
    only to make a lab; afterwards the lab remembers its own."""

    name: str = DEFAULT_NAME
    subnet: str | None = None
    cache_dir: Path = field(default_factory=default_cache_dir)
    state_root: Path = STATE_ROOT
    clusters_root: Path = CLUSTERS_ROOT
    progress: Callable[[str], None] = print

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise LabError(
                f"lab name {self.name!r} must be 1-8 lower-case letters or digits, starting with a letter "
                "(it prefixes interface names, which are limited to 15 characters)"
            )
        self.state_dir = Path(self.state_root) / self.name
        self.cache_dir = Path(self.cache_dir)
        state = self._load_state() or {}
        if self.subnet and state.get("subnet") and state["subnet"] != self.subnet:
            raise LabError(
                f"lab {self.name} uses subnet {state['subnet']}, not {self.subnet} (k8sfs lab down "
                f"--lab {self.name} first to move it)"
            )
        self.subnet = self.subnet or state.get("subnet") or DEFAULT_SUBNET
        self.network = check_subnet(self.subnet)
        self.controller_address = str(self.network.network_address + 1)
        self.bridge = f"{self.name}-br"
        self.hosts: list[LabHost] = [LabHost.from_dict(h) for h in state.get("hosts", [])]
        self._spec_data: dict | None = state.get("spec")
        self._new_disks: set[str] = set()  # hosts made with an empty disk since the last _forget_new_disks
        if not self.hosts:
            self.hosts, _notes = place(self.name, self.network, self._wanted(self.default_spec()), [])

    # ----- paths -------------------------------------------------------
    @property
    def key_path(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def known_hosts_path(self) -> Path:
        return self.state_dir / "known_hosts"

    @property
    def ssh_config_path(self) -> Path:
        return self.state_dir / "ssh_config"

    def host_dir(self, host: LabHost) -> Path:
        return self.state_dir / "hosts" / host.name

    def root_of(self, host: LabHost) -> Path:
        return self.host_dir(host) / "root"

    def disk_of(self, host: LabHost) -> Path:
        """Where the host's own files are read: its root while it runs, its
        overlay's upper directory (its disk) while it is stopped, whose root
        is not mounted then."""
        root = self.root_of(host)
        return root if os.path.ismount(root) else self.host_dir(host) / "upper"

    @property
    def cluster_state_dir(self) -> Path:
        """Where `k8sfs apply --lab` keeps the controller's state for this
        lab's cluster (PKI, secrets-at-rest key, logs, journal, lock): outside
        the lab's directory, so no lab operation removes it but `down --purge`."""
        return Path(self.clusters_root) / self.name

    @property
    def registry_dir(self) -> Path:
        """The lab registry's storage, keys and log: beside the clusters'
        state, so only `down --purge` removes it."""
        return Path(self.clusters_root).parent / "registries" / self.name

    def registry(self, build: bool = True) -> LabRegistry:
        """The lab's image registry (lab/registry.py); its binary is built
        from its Go module the first time (`build`), like the cluster's."""
        from k8sfs import artifacts, versions

        cache = artifacts.ArtifactCache(self.cache_dir / "artifacts")
        found = cache.lookup("registry", versions.REGISTRY_VERSION)
        if found is None and build:
            found = artifacts.build(versions.LAB_KUBERNETES_VERSION, ["registry"], cache, self.progress)[0]
        binary = found.path if found else Path("registry-not-built")
        return LabRegistry(self.registry_dir, self.controller_address, binary, self.progress)

    @property
    def cgroup_prefix(self) -> str:
        """Kubelets in this lab's hosts keep their cgroups under /<prefix><host>
        in the machine's hierarchies (the hosts share them: cgroup v1, no
        cgroup namespace); each host's nspawn starts in one of that name
        (cgroups.supervisor_cgroups)."""
        return f"k8sfs-{self.name}-"

    def rss_bytes(self) -> dict[str, int]:
        """Each running host's resident memory (its cgroup's processes, pods
        included); hosts whose cgroup cannot be read are left out."""
        used = {h.name: cgroups.rss_bytes(f"{self.cgroup_prefix}{h.name}") for h in self.hosts}
        return {name: n for name, n in used.items() if n is not None}

    def cpu_seconds(self) -> dict[str, float]:
        """Each running host's CPU time so far (its cgroup, commands over SSH
        included); hosts whose cgroup cannot be read are left out."""
        used = {h.name: cgroups.cpu_seconds(f"{self.cgroup_prefix}{h.name}") for h in self.hosts}
        return {name: seconds for name, seconds in used.items() if seconds is not None}

    def host(self, name: str) -> LabHost:
        for host in self.hosts:
            if host.name == name or host.address == name:
                return host
        raise LabError(f"no lab host named {name!r}; lab {self.name} has {', '.join(h.name for h in self.hosts)}")

    # ----- state -------------------------------------------------------
    def _save_state(self, complete: bool | None = None) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        old = self._load_state() or {}
        state = {
            "name": self.name,
            "subnet": self.subnet,
            "bridge": self.bridge,
            "complete": old.get("complete", False) if complete is None else complete,
            "spec": self._spec_data,
            "hosts": [h.to_dict() for h in self.hosts],
        }
        tmp = self.state_dir / "state.json.tmp"
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_dir / "state.json")

    def _load_state(self) -> dict | None:
        try:
            return json.loads((self.state_dir / "state.json").read_text())
        except (OSError, ValueError):
            return None

    # ----- specs -------------------------------------------------------
    def default_spec(self) -> ClusterSpec:
        """The walkthrough's cluster with its hosts numbered in this lab's subnet,
        and what the lab decides for every spec (containers, cgroupfs)."""
        from k8sfs.spec import ClusterSpec, RuntimeOptions, sized_hosts

        return ClusterSpec(
            hosts=sized_hosts(1, 2, str(self.network)),
            host_profile="container",
            runtime=RuntimeOptions("containerd", "cgroupfs"),
        )

    def saved_spec(self) -> ClusterSpec:
        """The spec the lab was made for (k8sfs lab up --spec), or the default."""
        from k8sfs.spec import spec_from_dict

        if self._spec_data:
            return spec_from_dict(self._spec_data)
        return self.default_spec()

    @staticmethod
    def _wanted(spec: ClusterSpec) -> list[tuple[str, str, list[str]]]:
        return [(h.name, h.address, list(h.roles)) for h in spec.hosts]

    def lab_notes(self, spec: ClusterSpec) -> list[str]:
        """What the lab cannot honour in `spec`, said before anything is made."""
        notes = []
        if spec.host_profile != "container" or spec.runtime.cgroup_driver != "cgroupfs":
            notes.append(LAB_PROFILE)
        odd = [h.name for h in spec.hosts if h.user != "root" or h.port != 22]
        if odd:
            notes.append(f"{', '.join(odd)}: lab hosts are reached as root on port 22")
        return notes

    def fit_endpoint(self, endpoint: str, hosts: list[LabHost]) -> tuple[str, str]:
        """The control-plane endpoint in this lab: the spec's when it lies in
        the lab subnet and no host has it, else .9 of the subnet; and a note
        when it moved."""
        if not endpoint:
            return "", ""
        taken = {h.address for h in hosts} | {self.controller_address}
        try:
            inside = ipaddress.IPv4Address(endpoint) in self.network
        except ValueError:
            inside = False
        if inside and endpoint not in taken:
            return endpoint, ""
        chosen = str(self.network.network_address + 9)
        if chosen in taken:
            raise LabError(
                f"control_plane_endpoint: neither {endpoint} nor {chosen} is free in lab subnet {self.network}"
            )
        return chosen, f"control_plane_endpoint: {endpoint} is not free in the lab subnet; the lab gives it {chosen}"

    def cluster_spec(self, spec: ClusterSpec | None = None, **overrides: Any) -> ClusterSpec:
        """The cluster on this lab's hosts: `spec` (or the lab's own), with the
        lab's addresses, host profile and registry, and `overrides` on top."""
        from k8sfs.spec import RuntimeOptions

        chosen = spec if spec is not None else self.saved_spec()
        lab_hosts = {h.name: h for h in self.hosts}
        missing = [h.name for h in chosen.hosts if h.name not in lab_hosts]
        if missing:
            raise LabError(
                f"lab {self.name} has no host {', '.join(missing)} (it has "
                f"{', '.join(lab_hosts)}): k8sfs lab up --lab {self.name} --spec FILE adds hosts"
            )
        hosts = [dataclasses.replace(h, address=lab_hosts[h.name].address, user="root", port=22) for h in chosen.hosts]
        endpoint, _note = self.fit_endpoint(chosen.control_plane_endpoint, self.hosts)
        fitted = dataclasses.replace(
            chosen,
            hosts=hosts,
            control_plane_endpoint=endpoint,
            host_profile="container",
            runtime=RuntimeOptions(chosen.runtime.name, "cgroupfs"),
            registries=with_lab_registry(chosen.registries, self.registry(build=False)),
        )
        return dataclasses.replace(fitted, **overrides) if overrides else fitted

    # ----- queries -----------------------------------------------------
    def _roots(self) -> dict[str, Path]:
        return {h.name: self.root_of(h) for h in self.hosts}

    def _uppers(self) -> dict[str, Path]:
        return {h.name: self.host_dir(h) / "upper" for h in self.hosts}

    def _sshd_answers(self, host: LabHost, timeout: float = 0.5) -> bool:
        check_route(host.address, self.bridge)
        try:
            with socket.create_connection((host.address, 22), timeout=timeout) as sock:
                sock.settimeout(timeout)
                return sock.recv(8).startswith(b"SSH-")
        except OSError:
            return False

    def status(self) -> list[dict]:
        """Each host's address and state: running (sshd answers), booting
        (container up, sshd not yet), orphaned (its container runs without
        systemd-nspawn), stopped."""
        rows = []
        bridge_up = network.link_exists(self.bridge)
        pids = nspawn_pids(self._roots())
        inits = container_inits(self._uppers())
        for host in self.hosts:
            pid = pids.get(host.name)
            if pid is None:
                state = "orphaned" if host.name in inits else "stopped"
            elif bridge_up and self._sshd_answers(host):
                state = "running"
            else:
                state = "booting"
            rows.append(
                {
                    "host": host.name,
                    "address": host.address,
                    "role": host.role,
                    "roles": host.roles,
                    "state": state,
                    "pid": pid,
                }
            )
        return rows

    def is_up(self) -> bool:
        return all(row["state"] == "running" for row in self.status())

    # ----- up, start, stop --------------------------------------------------
    def up(self, spec: ClusterSpec | None = None, boot_timeout: float = 120) -> list[str]:
        """Makes the lab for `spec` (default: the lab's own spec, or the
        walkthrough's), or brings it back: hosts that run are left alone,
        hosts that are down boot again with their disks, new spec hosts are
        made. Returns the notes it printed (addresses, what the lab decides)."""
        state = self._load_state()
        if state and not state.get("complete"):
            self.progress(
                f"lab {self.name} was never completely made (its first `up` did not finish): "
                "removing it and making it again"
            )
            self.down(quiet=True)
            state = None
        elif not state and self._leftovers():
            self.progress(f"lab {self.name}: removing the leftovers of an earlier run")
            self.down(quiet=True)
        wanted = spec if spec is not None else (self.saved_spec() if state else self.default_spec())
        existing = self.hosts if state else []
        hosts, notes = place(self.name, self.network, self._wanted(wanted), existing)
        endpoint, moved = self.fit_endpoint(wanted.control_plane_endpoint, hosts)
        notes = self.lab_notes(wanted) + notes + ([moved] if moved else [])
        for note in notes:
            self.progress(f"lab {self.name}: {note}")
        extra = [h.name for h in hosts if h.name not in {n for n, _a, _r in self._wanted(wanted)}]
        if extra:
            self.progress(f"lab {self.name}: {', '.join(extra)} stay(s) in the lab but not in the spec")
        rows = {r["host"]: r["state"] for r in self.status()} if state else {}
        if state and spec is None and len(hosts) == len(existing) and all(rows.get(h.name) == "running" for h in hosts):
            self.registry().start()
            self.progress(f"lab {self.name} is already up ({self.subnet})")
            return notes
        self._check_preconditions(first=not state)
        image = rootfs.ensure_rootfs(self.cache_dir, self.progress)
        registry = self.registry()
        first_up = not state
        self.hosts = hosts
        if spec is not None or first_up:
            fitted = dataclasses.replace(wanted, control_plane_endpoint=endpoint)
            fitted = dataclasses.replace(fitted, registries=with_lab_registry(fitted.registries, registry))
            self._spec_data = _spec_with_lab_addresses(fitted, hosts)
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._save_state(complete=False if first_up else None)
            sshfiles.make_key(self.key_path, self.name)
            network.make_bridge(self.bridge, self.controller_address, self.network.prefixlen)
            registry.start()
            starting = [h for h in self.hosts if rows.get(h.name) not in ("running", "booting")]
            if not first_up and starting:
                self.progress(f"lab {self.name}: starting {', '.join(h.name for h in starting)} with their disks")
            for host in self.hosts:
                sshfiles.write_host_identity(
                    host, self._ensure_root(host, image), self.hosts, self.controller_address, self.key_path
                )
            for host in starting:
                self._boot(host)
            self._wait_for_sshd([h for h in self.hosts if rows.get(h.name) != "running"], boot_timeout)
            self._forget_new_disks()
            sshfiles.write_known_hosts(self.known_hosts_path, self.hosts, self.disk_of)
            sshfiles.write_ssh_config(self.ssh_config_path, self.hosts, self.key_path, self.known_hosts_path)
            self._save_state(complete=True if first_up else None)
        except BaseException:
            if first_up:
                self.progress(f"lab {self.name}: bringing it up failed; removing what was made")
                self.down(quiet=True)
            raise
        self.progress(f"lab {self.name} is up: " + ", ".join(f"{h.name} {h.address}" for h in self.hosts))
        return notes

    def start(self, names: list[str], boot_timeout: float = 120) -> None:
        """Boots stopped hosts again with their disks (running ones are left alone)."""
        self._require_made()
        hosts = [self.host(n) for n in names]
        rows = {r["host"]: r["state"] for r in self.status()}
        image = rootfs.ensure_rootfs(self.cache_dir, self.progress)
        todo = [h for h in hosts if rows[h.name] not in ("running", "booting")]
        for host in todo:
            sshfiles.write_host_identity(
                host, self._ensure_root(host, image), self.hosts, self.controller_address, self.key_path
            )
            self._boot(host)
        self._wait_for_sshd([h for h in hosts if rows[h.name] != "running"], boot_timeout)
        self._forget_new_disks()
        # A host whose disk was lost has a new host key; OpenSSH and k8sfs check it.
        sshfiles.write_known_hosts(self.known_hosts_path, self.hosts, self.disk_of)
        self.progress(
            f"lab {self.name}: " + ", ".join(f"{h.name} {'started' if h in todo else 'was running'}" for h in hosts)
        )

    def stop(self, names: list[str], kill: bool = False) -> None:
        """Stops hosts, keeping their disks: a clean poweroff, or with `kill`
        a power cut (SIGKILL to systemd-nspawn and the container's init, so
        every process in it dies at once)."""
        self._require_made()
        hosts = [self.host(n) for n in names]
        pids = nspawn_pids(self._roots())
        chosen = [pids[h.name] for h in hosts if h.name in pids]
        if kill:
            inits = container_inits(self._uppers())
            victims = chosen + [p for h in hosts for p in inits.get(h.name, [])]
            stop(victims, grace=0, sig=signal.SIGKILL)
        else:
            stop(chosen, grace=20)
        # A container whose nspawn went first (SIGKILL) goes too: its init.
        orphans = [p for h in hosts for p in container_inits(self._uppers()).get(h.name, [])]
        stop(orphans, grace=0, sig=signal.SIGKILL)
        for host in hosts:  # its disk stays in upper/; the next boot mounts it again
            for point in mounts_under(self.root_of(host)):
                subprocess.run(["umount", "-l", point], capture_output=True)
            host.pid = None
        self._save_state()
        self.progress(
            f"lab {self.name}: {', '.join(h.name for h in hosts)} "
            f"{'lost power' if kill else 'powered off'} (disks kept; k8sfs lab start)"
        )

    def remove_host(self, name: str, spec: ClusterSpec | None = None) -> None:
        """Takes a host out of the lab for good (powered off, its disk and
        link removed) and, with `spec`, makes that the lab's spec."""
        self._require_made()
        host = self.host(name)
        self.stop([name], kill=True)
        for point in mounts_under(self.host_dir(host)):
            subprocess.run(["umount", "-l", point], capture_output=True)
        network.remove_host_network(host)
        shutil.rmtree(self.host_dir(host), ignore_errors=True)
        self.hosts = [h for h in self.hosts if h.name != name]
        if spec is not None:
            self._spec_data = _spec_with_lab_addresses(spec, self.hosts)
        for h in self.hosts:
            if os.path.ismount(self.root_of(h)):
                sshfiles.write_host_identity(h, self.root_of(h), self.hosts, self.controller_address, self.key_path)
        sshfiles.write_known_hosts(self.known_hosts_path, self.hosts, self.disk_of)
        sshfiles.write_ssh_config(self.ssh_config_path, self.hosts, self.key_path, self.known_hosts_path)
        self._save_state()
        self.progress(f"lab {self.name}: {name} removed (its disk too)")

    def made(self) -> bool:
        """`up` made this lab (and it was not taken down since)."""
        state = self._load_state()
        return bool(state and state.get("complete"))

    def _require_made(self) -> None:
        if not self.made():
            raise LabError(f"lab {self.name} is not made: k8sfs lab up --lab {self.name}")

    def _check_preconditions(self, first: bool) -> None:
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces, mounts, systemd-nspawn)")
        for tool in ("ip", "systemd-nspawn", "debootstrap", "ssh-keygen", "mount"):
            if shutil.which(tool) is None:
                raise LabError(f"{tool} is not installed (make deps installs the lab's packages)")
        network.check_subnet_free(self.network, self.bridge)
        self._raise_inotify_limits()

    # Every lab host's systemd, kubelet and runtime take inotify instances
    # from the one root user they share with this machine; 128 (the kernel's
    # default) runs out with two labs up ("too many open files" in kubelet).
    # kind asks for the same on its nodes' machine.
    INOTIFY_LIMITS = {"fs/inotify/max_user_instances": 8192, "fs/inotify/max_user_watches": 524288}

    def _raise_inotify_limits(self) -> None:
        for key, wanted in self.INOTIFY_LIMITS.items():
            path = Path("/proc/sys") / key
            try:
                if int(path.read_text()) < wanted:
                    path.write_text(str(wanted))
                    self.progress(f"lab {self.name}: raised {key.replace('/', '.')} to {wanted} on this machine")
            except (OSError, ValueError) as error:
                self.progress(f"lab {self.name}: could not raise {key.replace('/', '.')}: {error}")

    def _forget_new_disks(self) -> None:
        """A host made with a new disk is a new machine: what the cluster's
        journal says it owes, or is owed, no longer holds (engine/journal.py)."""
        new, self._new_disks = self._new_disks, set()
        dropped = Journal(journal_path(self.cluster_state_dir)).forget(new)
        if dropped:
            self.progress(
                f"lab {self.name}: {', '.join(sorted(new))} made with a new disk: dropped what the journal "
                f"owed for them ({len(dropped)} step(s): {', '.join(sorted(dropped))})"
            )

    def _ensure_root(self, host: LabHost, image: Path) -> Path:
        """The host's root filesystem: the cached image under its own upper
        directory (its disk, kept until `down`)."""
        hdir = self.host_dir(host)
        upper = hdir / "upper"
        if not upper.is_dir() or not any(upper.iterdir()):
            self._new_disks.add(host.name)
        for sub in ("upper", "work", "root", "containerd", "containers"):
            (hdir / sub).mkdir(parents=True, exist_ok=True)
        merged = self.root_of(host)
        if not os.path.ismount(merged):
            run(
                [
                    "mount",
                    "-t",
                    "overlay",
                    "overlay",
                    "-o",
                    f"lowerdir={image},upperdir={hdir / 'upper'},workdir={hdir / 'work'}",
                    str(merged),
                ],
                f"lab host {host.name}: mounting its root filesystem",
            )
        return merged

    def _boot(self, host: LabHost) -> None:
        """systemd as PID 1 inside; nspawn runs in the background and is stopped by its PID."""
        leftovers = container_inits(self._uppers()).get(host.name, [])
        if leftovers:  # its nspawn died and left the container running
            stop(leftovers, grace=0, sig=signal.SIGKILL)
        network.make_host_network(host, self.bridge, self.network.prefixlen)
        hdir = self.host_dir(host)
        argv = [
            "systemd-nspawn",
            "--boot",
            f"--directory={self.root_of(host)}",
            "--register=no",
            "--keep-unit",
            f"--machine={host.name}",
            f"--hostname={host.name}",
            "--capability=all",
            "--system-call-filter=add_key keyctl request_key",
            f"--network-namespace-path=/run/netns/{host.netns}",
            "--console=read-only",
            "--bind=/dev/kmsg",
            # The runtimes' storage on a real filesystem, not the overlay (both need that).
            f"--bind={hdir / 'containerd'}:/var/lib/containerd",
            f"--bind={hdir / 'containers'}:/var/lib/containers",
        ]
        for controller in CGROUP_CONTROLLERS:
            if Path(f"/sys/fs/cgroup/{controller}").is_dir():
                argv.append(f"--bind=/sys/fs/cgroup/{controller}:/run/hostcg/{controller}")
        log = open(hdir / "console.log", "ab")
        env = {**os.environ, "SYSTEMD_NSPAWN_API_VFS_WRITABLE": "1"}
        # nspawn --keep-unit puts the container in `payload` under the cgroup
        # it was started in; each host gets a cgroup of its own to start in,
        # or every host of every lab started by one process would share one
        # `payload` (and one system.slice/<unit>: a unit stopping in one host
        # removed the cgroup of the same unit in another).
        enter = cgroups.supervisor_cgroups(f"{self.cgroup_prefix}{host.name}")
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=enter,
        )
        log.close()
        host.pid = proc.pid
        self._save_state()

    def _wait_for_sshd(self, hosts: list[LabHost], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(hosts)
        while waiting:
            for host in list(waiting):
                if self._sshd_answers(host):
                    waiting.remove(host)
                elif host.pid is not None and not alive(host.pid):
                    raise LabError(
                        f"lab host {host.name}: systemd-nspawn exited while booting; console ended "
                        f"with:\n{tail(self.host_dir(host) / 'console.log')}"
                    )
            if waiting and time.monotonic() > deadline:
                names = ", ".join(h.name for h in waiting)
                raise LabError(
                    f"lab hosts {names}: sshd did not answer within {timeout:.0f}s; see "
                    f"{self.state_dir}/hosts/*/console.log"
                )
            if waiting:
                time.sleep(0.2)

    # ----- use ---------------------------------------------------------
    def connect_options(self, name: str, **overrides: Any) -> _core.ConnectOptions:
        """How to reach a lab host over SSH (after the route check)."""
        host = self.host(name)
        check_route(host.address, self.bridge)
        options = {
            "hostname": host.address,
            "user": "root",
            "identity_files": [str(self.key_path)],
            "known_hosts": str(self.known_hosts_path),
            "host_key_policy": "strict",
            "ssh_config": "none",
            "use_agent": False,
            **overrides,
        }
        return _core.ConnectOptions(host.name, **options)

    def session(self, name: str, **overrides: Any) -> Session:
        return Session(self.connect_options(name, **overrides))

    # ----- down --------------------------------------------------------
    def _leftovers(self) -> list[str]:
        found = []
        with_processes = set(nspawn_pids(self._roots())) | set(container_inits(self._uppers()))
        for host in self.hosts:
            if network.netns_exists(host.netns):
                found.append(f"netns {host.netns}")
            if network.link_exists(host.veth):
                found.append(f"link {host.veth}")
            if host.name in with_processes:
                found.append(f"processes of {host.name}")
        if network.link_exists(self.bridge):
            found.append(f"bridge {self.bridge}")
        if self.state_dir.exists():
            found.append(f"directory {self.state_dir}")
        return found

    def _remove_cgroups(self) -> list[str]:
        """Removes this lab's cgroup subtrees, deepest first; returns what stayed."""
        left = []
        cgroups = Path("/sys/fs/cgroup")
        roots = {*cgroups.glob(f"*/{self.cgroup_prefix}*"), *cgroups.glob(f"{self.cgroup_prefix}*")}
        for root in sorted(p for p in roots if p.is_dir()):
            for directory in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                try:
                    directory.rmdir()
                except OSError:
                    left.append(str(directory))
            try:
                root.rmdir()
            except OSError:
                left.append(str(root))
        return left

    def purge_list(self) -> list[Path]:
        """What `down --purge` removes beyond the hosts: the cluster's state
        and the lab registry's images."""
        return [p for p in (self.cluster_state_dir, self.registry_dir) if p.exists()]

    def down(self, quiet: bool = False, purge: bool = False) -> None:
        """Removes every process, mount, namespace, link and file the lab
        made, the hosts' disks included (the cached root filesystem stays).
        The cluster's state stays unless `purge`. Safe to repeat."""
        say = (lambda _m: None) if quiet else self.progress
        running = nspawn_pids(self._roots())
        if running:
            say("stopping " + ", ".join(f"{name} (pid {pid})" for name, pid in running.items()))
            # Hosts about to be removed: a short grace, then the orphan sweep below.
            stop(list(running.values()), grace=5)
        orphans = [pid for pids in container_inits(self._uppers()).values() for pid in pids]
        if orphans:
            say(f"stopping orphaned lab containers (pids {', '.join(map(str, orphans))})")
            stop(orphans, grace=0, sig=signal.SIGKILL)
        for host in self.hosts:
            for mount_point in mounts_under(self.host_dir(host)):
                subprocess.run(["umount", "-l", mount_point], capture_output=True)
            network.remove_host_network(host)
        self.registry(build=False).stop()
        network.remove_bridge(self.bridge)
        left = self._remove_cgroups()
        if left:
            say(f"warning: cgroups still in use, left in place: {', '.join(left[:5])}")
        if self.state_dir.exists():
            if mounts_under(self.state_dir):
                raise LabError(f"cannot remove {self.state_dir}: still mounted: {mounts_under(self.state_dir)}")
            shutil.rmtree(self.state_dir)
        for host in self.hosts:
            host.pid = None
        if purge:
            for path in self.purge_list():
                what = "CAs, secrets-at-rest key, journal, logs"
                if path == self.registry_dir:
                    what = "the lab registry's images and keys"
                say(f"removing the cluster's state {path} ({what})")
                shutil.rmtree(path)
        elif self.cluster_state_dir.exists() and not quiet:
            say(f"kept the cluster's state in {self.cluster_state_dir} (k8sfs lab down --purge removes it)")
        say(f"lab {self.name} is down")


def _spec_with_lab_addresses(spec: ClusterSpec, hosts: list[LabHost]) -> dict[str, Any]:
    from k8sfs.spec import spec_to_dict

    data = spec_to_dict(spec)
    address = {h.name: h.address for h in hosts}
    for h in data["hosts"]:
        h["address"] = address.get(h["name"], h["address"])
    return data
