"""The local lab: the walkthrough's hosts as systemd-nspawn containers on
this machine, each in a network namespace of its own on a bridge.

    controller (this machine)  <lab>-br   192.168.50.1/24
    k8s-master                 netns <lab>-k8s-master  192.168.50.10
    node-1                     netns <lab>-node-1      192.168.50.11
    node-2                     netns <lab>-node-2      192.168.50.12

Everything the lab makes is recorded in a state file as it is made, and
`down` removes it all (and finds the leftovers of a crashed run by their
names). Only processes the lab started are stopped, by their PID.
Everything else in k8sfs reaches these hosts over SSH only.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from k8sfs import _core
from k8sfs.lab import rootfs
from k8sfs.lab.safety import LabSafetyError, check_route, check_subnet

DEFAULT_NAME = "k8sfs"
DEFAULT_SUBNET = "192.168.50.0/24"
# The walkthrough's hosts: name, last octet, role.
DEFAULT_HOSTS = (("k8s-master", 10, "control-plane"), ("node-1", 11, "worker"), ("node-2", 12, "worker"))
NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")

# cgroup v1 controllers bound writable into each host (see rootfs.EARLY_SCRIPT).
CGROUP_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "net_cls",
                      "net_prio", "perf_event", "hugetlb")


class LabError(RuntimeError):
    """A lab operation failed; the message says which host and step."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("K8SFS_CACHE", Path.home() / ".cache" / "k8sfs"))


@dataclass
class LabHost:
    name: str
    address: str
    role: str
    netns: str
    veth: str
    pid: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Lab:
    """A lab by name and subnet. Two labs with different names and subnets
    can be up at once (the tests run their own beside a demo lab)."""

    name: str = DEFAULT_NAME
    subnet: str = DEFAULT_SUBNET
    cache_dir: Path = field(default_factory=default_cache_dir)
    state_root: Path = Path("/var/lib/k8sfs/lab")
    progress: Callable[[str], None] = print

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise LabError(f"lab name {self.name!r} must be 1-8 lower-case letters or digits, starting with a letter "
                           "(it prefixes interface names, which are limited to 15 characters)")
        self.network = check_subnet(self.subnet)
        hosts_iter = self.network.hosts()
        self.controller_address = str(next(hosts_iter))
        self.hosts = []
        for index, (host, octet, role) in enumerate(DEFAULT_HOSTS):
            address = str(self.network.network_address + octet)
            if ipaddress.IPv4Address(address) not in self.network:
                raise LabError(f"lab subnet {self.subnet} has no room for {host} at .{octet}")
            self.hosts.append(LabHost(host, address, role, f"{self.name}-{host}", f"{self.name}-v{index}"))
        self.bridge = f"{self.name}-br"
        self.state_dir = Path(self.state_root) / self.name
        self.cache_dir = Path(self.cache_dir)

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

    def host(self, name: str) -> LabHost:
        for host in self.hosts:
            if host.name == name or host.address == name:
                return host
        raise LabError(f"no lab host named {name!r}; lab {self.name} has {', '.join(h.name for h in self.hosts)}")

    # ----- state -------------------------------------------------------
    def _save_state(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        state = {"name": self.name, "subnet": self.subnet, "bridge": self.bridge,
                 "hosts": [h.to_dict() for h in self.hosts]}
        tmp = self.state_dir / "state.json.tmp"
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_dir / "state.json")

    def _load_state(self) -> dict | None:
        try:
            return json.loads((self.state_dir / "state.json").read_text())
        except (OSError, ValueError):
            return None

    # ----- queries -----------------------------------------------------
    def _nspawn_pids(self) -> dict[str, int]:
        """PID of each host's running systemd-nspawn, found (in one pass over
        /proc) by its own root directory in the command line, so never
        someone else's process."""
        wanted = {f"--directory={self.host_dir(h) / 'root'}".encode(): h.name for h in self.hosts}
        found = {}
        for entry in _processes():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"systemd-nspawn"):
                for arg in argv:
                    if arg in wanted:
                        found[wanted[arg]] = int(entry.name)
        return found

    def _orphaned_inits(self) -> dict[str, list[int]]:
        """Init processes still running on a host's root filesystem, per host.
        systemd-nspawn killed with SIGKILL leaves its container running
        without it; such a container is found by being PID 1 of its
        namespace with this host's overlay as its root mount."""
        markers = {f"upperdir={self.host_dir(h) / 'upper'},".encode(): h.name for h in self.hosts}
        found: dict[str, list[int]] = {}
        for entry in _processes():
            try:
                status = (entry / "status").read_text()
                nspid = next(line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:"))
                if len(nspid) < 2 or nspid[-1] != "1":
                    continue
                root_mounts = [line for line in (entry / "mountinfo").read_bytes().splitlines()
                               if line.split(b" ")[4] == b"/"]
            except (OSError, StopIteration):
                continue
            for marker, name in markers.items():
                if any(marker in line for line in root_mounts):
                    found.setdefault(name, []).append(int(entry.name))
        return found

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
        (container up, sshd not yet), stopped."""
        rows = []
        bridge_up = Path(f"/sys/class/net/{self.bridge}").exists()
        pids = self._nspawn_pids()
        for host in self.hosts:
            pid = pids.get(host.name)
            if pid is None:
                state = "stopped"
            elif bridge_up and self._sshd_answers(host):
                state = "running"
            else:
                state = "booting"
            rows.append({"host": host.name, "address": host.address, "role": host.role, "state": state,
                         "pid": pid})
        return rows

    def is_up(self) -> bool:
        return all(row["state"] == "running" for row in self.status())

    # ----- up ----------------------------------------------------------
    def up(self, boot_timeout: float = 120) -> None:
        """Creates the lab; fast when it is already up. A half-made lab
        (a crashed run) is torn down and made again."""
        if self._load_state() and self.is_up():
            self.progress(f"lab {self.name} is already up ({self.subnet})")
            return
        if self._load_state() or self._leftovers():
            self.progress(f"lab {self.name}: cleaning up an earlier, incomplete run")
            self.down(quiet=True)
        self._check_preconditions()
        image = rootfs.ensure_rootfs(self.cache_dir, self.progress)
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._save_state()
            self._make_keys()
            self._make_bridge()
            for host in self.hosts:
                self._make_host(host, image)
            self._wait_for_sshd(boot_timeout)
            self._write_known_hosts()
            self._write_ssh_config()
        except BaseException:
            self.progress(f"lab {self.name}: bringing it up failed; removing what was made")
            self.down(quiet=True)
            raise
        self.progress(f"lab {self.name} is up: " + ", ".join(f"{h.name} {h.address}" for h in self.hosts))

    def _check_preconditions(self) -> None:
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces, mounts, systemd-nspawn)")
        for tool in ("ip", "systemd-nspawn", "debootstrap", "ssh-keygen", "mount"):
            if shutil.which(tool) is None:
                raise LabError(f"{tool} is not installed (make deps installs the lab's packages)")
        # The subnet must not already be in use by something that is not this lab.
        proc = _run(["ip", "-j", "-4", "addr", "show"], "listing addresses")
        for iface in json.loads(proc.stdout or "[]"):
            for addr in iface.get("addr_info", []):
                net = ipaddress.IPv4Interface(f"{addr['local']}/{addr['prefixlen']}").network
                if net.overlaps(self.network) and iface["ifname"] != self.bridge:
                    raise LabSafetyError(f"lab subnet {self.subnet} overlaps {net} on {iface['ifname']}; "
                                         "choose another subnet (--subnet)")

    def _make_keys(self) -> None:
        if not self.key_path.exists():
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"k8sfs-lab-{self.name}",
                  "-f", str(self.key_path)], "generating the lab's SSH key")
        os.chmod(self.key_path, 0o600)

    def _make_bridge(self) -> None:
        if not Path(f"/sys/class/net/{self.bridge}").exists():
            _run(["ip", "link", "add", self.bridge, "type", "bridge"], f"creating bridge {self.bridge}")
        _run(["ip", "addr", "replace", f"{self.controller_address}/{self.network.prefixlen}", "dev", self.bridge],
             f"addressing bridge {self.bridge}")
        _run(["ip", "link", "set", self.bridge, "up"], f"bringing up bridge {self.bridge}")

    def _make_host(self, host: LabHost, image: Path) -> None:
        where = f"lab host {host.name}"
        hdir = self.host_dir(host)
        for sub in ("upper", "work", "root", "containerd"):
            (hdir / sub).mkdir(parents=True, exist_ok=True)
        merged = hdir / "root"
        if not os.path.ismount(merged):
            _run(["mount", "-t", "overlay", "overlay", "-o",
                  f"lowerdir={image},upperdir={hdir / 'upper'},workdir={hdir / 'work'}", str(merged)],
                 f"{where}: mounting its root filesystem")
        self._write_host_identity(host, merged)

        # Network: a namespace with eth0 on the bridge, no default route.
        if not Path(f"/run/netns/{host.netns}").exists():
            _run(["ip", "netns", "add", host.netns], f"{where}: creating network namespace")
        if not Path(f"/sys/class/net/{host.veth}").exists():
            _run(["ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns],
                 f"{where}: creating its link")
        _run(["ip", "link", "set", host.veth, "master", self.bridge, "up"], f"{where}: attaching to the bridge")
        _run(["ip", "-n", host.netns, "addr", "replace", f"{host.address}/{self.network.prefixlen}", "dev", "eth0"],
             f"{where}: addressing eth0")
        _run(["ip", "-n", host.netns, "link", "set", "eth0", "up"], f"{where}: bringing up eth0")
        _run(["ip", "-n", host.netns, "link", "set", "lo", "up"], f"{where}: bringing up lo")

        # Boot it: systemd as PID 1 inside; nspawn runs in the background and
        # is stopped by its PID.
        argv = ["systemd-nspawn", "--boot", f"--directory={merged}", "--register=no", "--keep-unit",
                f"--machine={host.name}", f"--hostname={host.name}", "--capability=all",
                "--system-call-filter=add_key keyctl request_key", f"--network-namespace-path=/run/netns/{host.netns}",
                "--console=read-only", "--bind=/dev/kmsg", f"--bind={hdir / 'containerd'}:/var/lib/containerd"]
        for controller in CGROUP_CONTROLLERS:
            if Path(f"/sys/fs/cgroup/{controller}").is_dir():
                argv.append(f"--bind=/sys/fs/cgroup/{controller}:/run/hostcg/{controller}")
        log = open(hdir / "console.log", "ab")
        env = {**os.environ, "SYSTEMD_NSPAWN_API_VFS_WRITABLE": "1"}
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        log.close()
        host.pid = proc.pid
        self._save_state()

    def _write_host_identity(self, host: LabHost, merged: Path) -> None:
        """Per-host files: hostname, hosts, its own sshd host key, and the
        lab key authorized for root."""
        (merged / "etc/hostname").write_text(host.name + "\n")
        lines = ["127.0.0.1 localhost", f"{self.controller_address} controller"]
        lines += [f"{h.address} {h.name}" for h in self.hosts]
        (merged / "etc/hosts").write_text("# Written by k8sfs lab.\n" + "\n".join(lines) + "\n")
        key = merged / "etc/ssh/ssh_host_ed25519_key"
        if not key.exists():
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name, "-f", str(key)],
                 f"lab host {host.name}: generating its host key")
        ssh_dir = merged / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        auth = ssh_dir / "authorized_keys"
        auth.write_text(Path(str(self.key_path) + ".pub").read_text())
        os.chmod(auth, 0o600)

    def _wait_for_sshd(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(self.hosts)
        while waiting:
            for host in list(waiting):
                if self._sshd_answers(host):
                    waiting.remove(host)
                elif host.pid is not None and not _alive(host.pid):
                    tail = _tail(self.host_dir(host) / "console.log")
                    raise LabError(f"lab host {host.name}: systemd-nspawn exited while booting; console ended "
                                   f"with:\n{tail}")
            if waiting and time.monotonic() > deadline:
                names = ", ".join(h.name for h in waiting)
                raise LabError(f"lab hosts {names}: sshd did not answer within {timeout:.0f}s; see "
                               f"{self.state_dir}/hosts/*/console.log")
            if waiting:
                time.sleep(0.2)

    def _write_known_hosts(self) -> None:
        lines = []
        for host in self.hosts:
            pub = (self.host_dir(host) / "root/etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
            lines.append(f"{host.address} {pub[0]} {pub[1]}")
        self.known_hosts_path.write_text("\n".join(lines) + "\n")

    def _write_ssh_config(self) -> None:
        blocks = []
        for host in self.hosts:
            blocks.append(f"Host {host.name}\n  HostName {host.address}\n  User root\n"
                          f"  IdentityFile {self.key_path}\n  IdentitiesOnly yes\n"
                          f"  UserKnownHostsFile {self.known_hosts_path}\n  StrictHostKeyChecking yes\n")
        self.ssh_config_path.write_text("# Written by k8sfs lab.\n" + "\n".join(blocks))

    # ----- use ---------------------------------------------------------
    def connect_options(self, name: str, **overrides) -> _core.ConnectOptions:
        """How to reach a lab host over SSH (after the route check)."""
        host = self.host(name)
        check_route(host.address, self.bridge)
        options = {"hostname": host.address, "user": "root", "identity_files": [str(self.key_path)],
                   "known_hosts": str(self.known_hosts_path), "host_key_policy": "strict", "ssh_config": "none",
                   "use_agent": False, **overrides}
        return _core.ConnectOptions(host.name, **options)

    def cluster_spec(self, **overrides):
        """The walkthrough's spec with this lab's addresses (etcd on the control plane)."""
        from k8sfs.spec import ClusterSpec, HostSpec

        from k8sfs.spec import RuntimeOptions

        hosts = [HostSpec(h.name, h.address, [h.role, "etcd"] if h.role == "control-plane" else [h.role])
                 for h in self.hosts]
        # Lab hosts are containers on a cgroup v1 machine without systemd:
        # the cgroupfs driver on both runtime and kubelet (docs/lab.md).
        settings = {"hosts": hosts, "host_profile": "container",
                    "runtime": RuntimeOptions("containerd", "cgroupfs"), **overrides}
        return ClusterSpec(**settings)

    def session(self, name: str, **overrides):
        from k8sfs.ssh import Session

        return Session(self.connect_options(name, **overrides))

    # ----- down --------------------------------------------------------
    def _leftovers(self) -> list[str]:
        found = []
        with_processes = set(self._nspawn_pids()) | set(self._orphaned_inits())
        for host in self.hosts:
            if Path(f"/run/netns/{host.netns}").exists():
                found.append(f"netns {host.netns}")
            if Path(f"/sys/class/net/{host.veth}").exists():
                found.append(f"link {host.veth}")
            if host.name in with_processes:
                found.append(f"processes of {host.name}")
        if Path(f"/sys/class/net/{self.bridge}").exists():
            found.append(f"bridge {self.bridge}")
        if self.state_dir.exists():
            found.append(f"directory {self.state_dir}")
        return found

    @property
    def cluster_state_dir(self) -> Path:
        """Where `k8sfs apply --lab` keeps the controller's state (PKI, logs, journal);
        it goes with the lab at `down`."""
        return self.state_dir / "cluster"

    @property
    def cgroup_prefix(self) -> str:
        """Kubelets in this lab's hosts keep their cgroups under /<prefix><host>
        in the machine's hierarchies (the hosts share them: cgroup v1, no
        cgroup namespace)."""
        return f"k8sfs-{self.name}-"

    def _remove_cgroups(self) -> list[str]:
        """Removes this lab's cgroup subtrees, deepest first; returns what stayed."""
        left = []
        for root in sorted(Path("/sys/fs/cgroup").glob(f"*/{self.cgroup_prefix}*")):
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

    def down(self, quiet: bool = False) -> None:
        """Removes every process, mount, namespace, link and file the lab
        made (the cached root filesystem stays). Safe to repeat."""
        say = (lambda _m: None) if quiet else self.progress
        running = self._nspawn_pids()
        if running:
            say("stopping " + ", ".join(f"{name} (pid {pid})" for name, pid in running.items()))
            # Lab hosts are disposable: a short grace, then the orphan sweep below.
            _stop(list(running.values()), grace=5)
        # Containers whose nspawn died without stopping them (a crashed run).
        orphans = [pid for pids in self._orphaned_inits().values() for pid in pids]
        if orphans:
            say(f"stopping orphaned lab containers (pids {', '.join(map(str, orphans))})")
            _stop(orphans, grace=0, sig=signal.SIGKILL)
        for host in self.hosts:
            hdir = self.host_dir(host)
            for mount_point in _mounts_under(hdir):
                subprocess.run(["umount", "-l", mount_point], capture_output=True)
            if Path(f"/run/netns/{host.netns}").exists():
                _run(["ip", "netns", "del", host.netns], f"lab host {host.name}: removing network namespace")
            if Path(f"/sys/class/net/{host.veth}").exists():
                subprocess.run(["ip", "link", "del", host.veth], capture_output=True)
        if Path(f"/sys/class/net/{self.bridge}").exists():
            _run(["ip", "link", "del", self.bridge], f"removing bridge {self.bridge}")
        left = self._remove_cgroups()
        if left:
            say(f"warning: cgroups still in use, left in place: {', '.join(left[:5])}")
        if self.state_dir.exists():
            if _mounts_under(self.state_dir):
                raise LabError(f"cannot remove {self.state_dir}: still mounted: {_mounts_under(self.state_dir)}")
            shutil.rmtree(self.state_dir)
        for host in self.hosts:
            host.pid = None
        say(f"lab {self.name} is down")


def _processes():
    return (entry for entry in Path("/proc").iterdir() if entry.name.isdigit())


def _run(argv: list[str], what: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise LabError(f"{what}: `{' '.join(argv)}` failed (exit {proc.returncode}): {tail}")
    return proc


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of ours counts as gone.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return Path(f"/proc/{pid}").exists()


def _stop(pids: list[int], grace: float = 20, sig: int = signal.SIGTERM) -> None:
    """SIGTERM makes nspawn power its host off cleanly (all hosts at once);
    SIGKILL for any that hangs past the grace period."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    while any(_alive(pid) for pid in pids):
        time.sleep(0.1)


def _mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path`, deepest first."""
    prefix = str(path)
    points = []
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    except OSError:
        pass
    return sorted(set(points), key=len, reverse=True)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no console log)"
