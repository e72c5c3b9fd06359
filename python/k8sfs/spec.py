"""The cluster spec: hosts and roles, versions, ranges, PKI options.

Defaults reproduce the walkthrough (k8s-master 192.168.50.10, node-1 .11,
node-2 .12, services 10.0.0.0/16). A spec is read from YAML or JSON; an
unknown key or a bad value is a SpecError that names the key path.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from k8sfs import _core

from k8sfs.addons import ADDONS
from k8sfs.versions import VERSION

ROLES = ("control-plane", "etcd", "worker")
KEY_TYPES = ("ecdsa-p256", "rsa-2048", "rsa-3072", "rsa-4096")
HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
CLUSTER_NAME = HOST_NAME  # DNS-1123 label, as kubeadm and kubectl expect
DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
# A login name as useradd accepts it (no shell or option characters).
USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
# A certificate SAN: an IP address or a DNS name, possibly with one leading wildcard label.
SAN_NAME = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
# An http(s) URL without whitespace, quotes or shell characters (it lands in
# kubeconfigs and on command lines).
URL = re.compile(
    r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:\d{1,5})?(/[A-Za-z0-9._~%/-]*)?"
)


class SpecError(ValueError):
    """A spec that cannot be used; the message starts with the key path."""


@dataclass
class HostSpec:
    name: str
    address: str
    roles: list[str]
    user: str = "root"
    port: int = 22
    # A worker's pod subnet; empty: the next free one by its place among the
    # workers (10.200.0.0/24, 10.200.1.0/24, ... as in the walkthrough).
    # Pinned so that removing another worker never moves it.
    pod_subnet: str = ""

    @property
    def control_plane(self) -> bool:
        return "control-plane" in self.roles

    @property
    def etcd(self) -> bool:
        return "etcd" in self.roles

    @property
    def worker(self) -> bool:
        return "worker" in self.roles


@dataclass
class PkiOptions:
    key_type: str = "ecdsa-p256"
    ca_validity_days: int = 3650
    leaf_validity_days: int = 365
    # plan, status and pki check warn about a certificate this close to expiry (kubeadm: 30).
    expiry_warning_days: int = 30
    ca_key_on_control_plane: bool = False
    apiserver_extra_sans: list[str] = field(default_factory=list)
    api_server_url: str = ""


RUNTIMES = ("containerd", "crio")
CGROUP_DRIVERS = ("systemd", "cgroupfs")
HOST_PROFILES = ("machine", "container")


@dataclass
class RuntimeOptions:
    name: str = "containerd"
    cgroup_driver: str = "systemd"


@dataclass
class RegistryLogin:
    username: str = ""
    # A file on the controller holding the password: read at plan and apply,
    # written to the hosts 0600, never shown in a plan, a log or an error.
    password_file: str = ""


@dataclass
class RegistryOptions:
    """Where the nodes' runtime pulls images from (components/registries.h)."""

    # Every pull refused: a node has only the images k8sfs imports.
    offline: bool = False
    # Registry host -> endpoints tried first, in order: {"docker.io": ["https://192.168.50.1:5000"]}.
    mirrors: dict[str, list[str]] = field(default_factory=dict)
    # host[:port] the runtime connects to (a mirror or a registry) -> its login.
    credentials: dict[str, RegistryLogin] = field(default_factory=dict)
    # host[:port] -> a CA certificate file on the controller that its TLS certificate chains to.
    ca_files: dict[str, str] = field(default_factory=dict)
    # host[:port] of a registry the controller pushes k8sfs's own images to
    # (pause, busybox, CoreDNS, under k8sfs.local/); nodes pull them from
    # there instead of getting each archive uploaded (the lab registry).
    k8sfs_images: str = ""

    def all_mirrors(self) -> dict[str, list[str]]:
        """The mirrors, with k8sfs.local's on the `k8sfs_images` registry
        unless the spec names its own."""
        from k8sfs.images import OWN_REGISTRY

        mirrors = {k: list(v) for k, v in self.mirrors.items()}
        if self.k8sfs_images and OWN_REGISTRY not in mirrors:
            mirrors[OWN_REGISTRY] = [f"https://{self.k8sfs_images}/{OWN_REGISTRY}"]
        return mirrors

    def core_options(self) -> _core.RegistriesOptions:
        """The options for the renderers, passwords and CA certificates read
        from their files; a file that cannot be read names its key."""
        from k8sfs import _core

        def read(path: str, key: str) -> str:
            try:
                return Path(path).expanduser().read_text()
            except OSError as error:
                raise SpecError(f"{key}: {path}: {error.strerror}") from None

        o = _core.RegistriesOptions()
        o.offline = self.offline
        o.mirrors = self.all_mirrors()
        o.credentials = {
            host: _core.RegistryCredentials(
                login.username, read(login.password_file, f"registries.credentials.{host}.password_file").strip()
            )
            for host, login in self.credentials.items()
        }
        o.ca_certificates = {host: read(path, f"registries.ca_files.{host}") for host, path in self.ca_files.items()}
        return o


ARTIFACT_SOURCES = ("auto", "fetch", "build")


@dataclass
class ArtifactOptions:
    # auto: fetch the official releases when their site answers, else build
    # from Go modules; fetch: releases only (no Go needed); build: Go only.
    source: str = "auto"
    # A mirror laid out like the release sites: https://dl.k8s.io/x is
    # fetched from <mirror>/dl.k8s.io/x (digests are checked the same way).
    mirror: str = ""


@dataclass
class KubeletOptions:
    # Empty: the runtime's driver. Set it apart only to reproduce the
    # walkthrough's mismatch (k8sfs then stops before starting kubelet).
    cgroup_driver: str = ""


WALKTHROUGH_SUBNET = "192.168.50.0/24"


def endpoint_for(subnet: str = WALKTHROUGH_SUBNET) -> str:
    """The control-plane endpoint the size shorthands give several control
    planes: .9 of the subnet, just below the hosts."""
    return str(ipaddress.ip_network(subnet, strict=False).network_address + 9)


def sized_hosts(control_planes: int = 1, workers: int = 2, subnet: str = WALKTHROUGH_SUBNET) -> list[HostSpec]:
    """Hosts by count, named and numbered as the walkthrough does: one
    control plane is k8s-master, several are k8s-master-1..N (each with a
    stacked etcd member); workers are node-1..M; addresses run from .10 in
    that order (192.168.50.10, .11, ...)."""
    if control_planes < 1 or workers < 0:
        raise SpecError(
            f"hosts: {control_planes} control plane(s) and {workers} worker(s): need at least one "
            "control plane and no negative counts"
        )
    base = ipaddress.ip_network(subnet, strict=False).network_address + 10
    names = ["k8s-master"] if control_planes == 1 else [f"k8s-master-{i}" for i in range(1, control_planes + 1)]
    hosts = [HostSpec(n, str(base + i), ["control-plane", "etcd"]) for i, n in enumerate(names)]
    hosts += [HostSpec(f"node-{i}", str(base + control_planes + i - 1), ["worker"]) for i in range(1, workers + 1)]
    return hosts


def resized(
    spec: ClusterSpec,
    control_planes: int | None = None,
    workers: int | None = None,
    subnet: str | None = None,
) -> ClusterSpec:
    """`spec` with its hosts counted again (the shorthands --control-planes,
    --workers): a count not given keeps the spec's. Several control planes
    get an endpoint (.9 of the subnet) unless the spec has one."""
    if control_planes is None and workers is None:
        return spec
    planes = control_planes if control_planes is not None else sum(1 for h in spec.hosts if h.control_plane)
    if workers is None:
        workers = sum(1 for h in spec.hosts if h.worker and not h.control_plane)
    subnet = subnet or WALKTHROUGH_SUBNET
    endpoint = (spec.control_plane_endpoint or endpoint_for(subnet)) if planes > 1 else ""
    return dataclasses.replace(spec, control_plane_endpoint=endpoint, hosts=sized_hosts(planes, workers, subnet))


def walkthrough_hosts() -> list[HostSpec]:
    """The walkthrough's three hosts: k8s-master 192.168.50.10, node-1 .11, node-2 .12."""
    return sized_hosts(1, 2)


@dataclass
class ClusterSpec:
    cluster_name: str = "kubernetes"
    kubernetes_version: str = "v1.34.4"
    service_cidr: str = "10.0.0.0/16"
    pod_cidr: str = "10.200.0.0/16"
    cluster_domain: str = "cluster.local"
    hosts: list[HostSpec] = field(default_factory=walkthrough_hosts)
    # With several control planes: the one address every client uses for the
    # API (kubeadm's controlPlaneEndpoint), a virtual IP that keepalived on
    # the control-plane hosts passes to one whose kube-apiserver answers.
    control_plane_endpoint: str = ""
    pki: PkiOptions = field(default_factory=PkiOptions)
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    kubelet: KubeletOptions = field(default_factory=KubeletOptions)
    artifacts: ArtifactOptions = field(default_factory=ArtifactOptions)
    registries: RegistryOptions = field(default_factory=RegistryOptions)
    # What a workload needs beyond the walkthrough, each a chapter of its
    # own (k8sfs.addons): local-path, dynamic PersistentVolumes on each
    # node's disk behind the default StorageClass; metrics, metrics-server
    # for kubectl top and autoscaling. None by default.
    addons: list[str] = field(default_factory=list)
    # machine: real hosts or VMs. container: hosts that are containers (the
    # lab): no swapoff (swap is the machine's), a cgroup root per node, the
    # runtime may not lower OOM scores, kubelet never evicts.
    host_profile: str = "machine"
    # An OpenSSH config file k8sfs reads for each host by its name (HostName,
    # User, Port, IdentityFile, UserKnownHostsFile): how to reach a host,
    # while `address` stays its address in the cluster. `k8sfs spec
    # from-vagrant` writes one. Empty: ~/.ssh/config, and the address.
    ssh_config: str = ""

    @property
    def kubelet_cgroup_driver(self) -> str:
        return self.kubelet.cgroup_driver or self.runtime.cgroup_driver

    @property
    def kubernetes_minor(self) -> int:
        return int(self.kubernetes_version.split(".")[1])

    def host(self, name: str) -> HostSpec:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(f"no host {name!r} in the spec (hosts: {', '.join(h.name for h in self.hosts)})")

    def pod_subnets(self) -> dict[str, str]:
        """Each worker's pod subnet: its own pod_subnet, else the i-th /24 of
        pod_cidr for the i-th worker, skipping subnets pinned by others."""
        from k8sfs import _core

        workers = [h for h in self.hosts if h.worker]
        pinned = {h.pod_subnet for h in workers if h.pod_subnet}
        out: dict[str, str] = {}
        index = 0
        for position, h in enumerate(workers):
            if h.pod_subnet:
                out[h.name] = h.pod_subnet
                continue
            index = max(index, position)
            while _core.node_pod_subnet(self.pod_cidr, index) in pinned | set(out.values()):
                index += 1
            out[h.name] = _core.node_pod_subnet(self.pod_cidr, index)
            index += 1
        return out

    @property
    def api_server_url(self) -> str:
        """Where clients off the control plane reach the API ("" = the first control plane)."""
        if self.pki.api_server_url:
            return self.pki.api_server_url
        return f"https://{self.control_plane_endpoint}:6443" if self.control_plane_endpoint else ""

    def pki_spec(self) -> _core.ClusterPkiSpec:
        """The core's view of this spec for the certificate table."""
        from k8sfs import _core

        s = _core.ClusterPkiSpec()
        s.kubernetes_minor = self.kubernetes_minor
        s.cluster_name = self.cluster_name
        s.service_cidr = self.service_cidr
        s.dns_domain = self.cluster_domain
        s.hosts = [
            _core.PkiHost(h.name, h.address, control_plane=h.control_plane, etcd=h.etcd, worker=h.worker)
            for h in self.hosts
        ]
        endpoint = self.control_plane_endpoint
        s.apiserver_extra_sans = list(self.pki.apiserver_extra_sans) + (
            [endpoint] if endpoint and endpoint not in self.pki.apiserver_extra_sans else []
        )
        s.api_server_url = self.api_server_url
        s.key_type = self.pki.key_type
        s.ca_validity_days = self.pki.ca_validity_days
        s.leaf_validity_days = self.pki.leaf_validity_days
        s.ca_key_on_control_plane = self.pki.ca_key_on_control_plane
        s.metrics_server = "metrics" in self.addons
        return s


def spec_to_dict(spec: ClusterSpec) -> dict[str, Any]:
    """The spec as data in the file's layout (spec_from_dict reads it back)."""
    data = asdict(spec)
    if not data["kubelet"]["cgroup_driver"]:
        del data["kubelet"]["cgroup_driver"]  # unset: kubelet follows the runtime
    return data


# ----- reading -------------------------------------------------------------


def _expect(value: Any, kind: type | tuple, path: str, what: str) -> Any:
    if isinstance(value, bool) and kind is int:
        raise SpecError(f"{path}: {value!r} is not {what}")
    if not isinstance(value, kind):
        raise SpecError(f"{path}: {value!r} is not {what}")
    return value


def _check_keys(data: dict, allowed: set[str], path: str) -> None:
    for key in data:
        if key not in allowed:
            raise SpecError(f"{path}{key}: unknown key (known: {', '.join(sorted(allowed))})")


def _cidr(value: Any, path: str) -> str:
    _expect(value, str, path, "a CIDR like 10.0.0.0/16")
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as e:
        raise SpecError(f"{path}: {value!r} is not a network range ({e})") from None
    return value


def _host(data: Any, path: str) -> HostSpec:
    _expect(data, dict, path, "a mapping with name, address and roles")
    _check_keys(data, {"name", "address", "roles", "user", "port", "pod_subnet"}, path + ".")
    for key in ("name", "address", "roles"):
        if key not in data:
            raise SpecError(f"{path}.{key}: missing")
    name = _expect(data["name"], str, f"{path}.name", "a host name")
    if not HOST_NAME.fullmatch(name):
        raise SpecError(f"{path}.name: {name!r} is not a lower-case host name (letters, digits, '-')")
    address = _expect(data["address"], str, f"{path}.address", "an IP address")
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise SpecError(f"{path}.address: {address!r} is not an IP address") from None
    roles = _expect(data["roles"], list, f"{path}.roles", f"a list of roles ({', '.join(ROLES)})")
    for i, role in enumerate(roles):
        if role not in ROLES:
            raise SpecError(f"{path}.roles[{i}]: {role!r} is not a role ({', '.join(ROLES)})")
    user = _expect(data.get("user", "root"), str, f"{path}.user", "a user name")
    if not USER_NAME.fullmatch(user):
        raise SpecError(f"{path}.user: {user!r} is not a login name (lower-case letters, digits, '_', '-')")
    port = _expect(data.get("port", 22), int, f"{path}.port", "a port number")
    if not 0 < port < 65536:
        raise SpecError(f"{path}.port: {port} is not a port number")
    pod_subnet = _expect(data.get("pod_subnet", ""), str, f"{path}.pod_subnet", "a CIDR like 10.200.3.0/24")
    if pod_subnet:
        _cidr(pod_subnet, f"{path}.pod_subnet")
    return HostSpec(name, address, list(roles), user, port, pod_subnet)


def _pki(data: Any, path: str) -> PkiOptions:
    _expect(data, dict, path, "a mapping")
    defaults = PkiOptions()
    _check_keys(data, set(defaults.__dict__), path + ".")
    opts = PkiOptions()
    if "key_type" in data:
        if data["key_type"] not in KEY_TYPES:
            raise SpecError(f"{path}.key_type: {data['key_type']!r} is not one of {', '.join(KEY_TYPES)}")
        opts.key_type = data["key_type"]
    for key in ("ca_validity_days", "leaf_validity_days", "expiry_warning_days"):
        if key in data:
            value = _expect(data[key], int, f"{path}.{key}", "a number of days")
            if value < (0 if key == "expiry_warning_days" else 1):
                raise SpecError(f"{path}.{key}: must be at least {0 if key == 'expiry_warning_days' else 1}")
            setattr(opts, key, value)
    if "ca_key_on_control_plane" in data:
        opts.ca_key_on_control_plane = _expect(
            data["ca_key_on_control_plane"], bool, f"{path}.ca_key_on_control_plane", "true or false"
        )
    if "apiserver_extra_sans" in data:
        sans = _expect(data["apiserver_extra_sans"], list, f"{path}.apiserver_extra_sans", "a list of names")
        for i, san in enumerate(sans):
            _expect(san, str, f"{path}.apiserver_extra_sans[{i}]", "a DNS name or IP address")
            if not SAN_NAME.fullmatch(san) and not _is_ip(san):
                raise SpecError(f"{path}.apiserver_extra_sans[{i}]: {san!r} is not a DNS name or IP address")
        opts.apiserver_extra_sans = list(sans)
    if "api_server_url" in data:
        url = _expect(data["api_server_url"], str, f"{path}.api_server_url", "an https:// URL")
        if url and not url.startswith("https://"):
            raise SpecError(f"{path}.api_server_url: {url!r} must start with https://")
        if url and not URL.fullmatch(url):
            raise SpecError(f"{path}.api_server_url: {url!r} is not a URL like https://api.example:6443")
        opts.api_server_url = url
    return opts


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _choice(value: Any, allowed: tuple[str, ...], path: str) -> str:
    if value not in allowed:
        raise SpecError(f"{path}: {value!r} is not one of {', '.join(allowed)}")
    return value


def _runtime(data: Any, path: str) -> RuntimeOptions:
    _expect(data, dict, path, "a mapping")
    _check_keys(data, {"name", "cgroup_driver"}, path + ".")
    opts = RuntimeOptions()
    if "name" in data:
        opts.name = _choice(data["name"], RUNTIMES, f"{path}.name")
    if "cgroup_driver" in data:
        opts.cgroup_driver = _choice(data["cgroup_driver"], CGROUP_DRIVERS, f"{path}.cgroup_driver")
    return opts


_REGISTRY_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?")


def _addons(data: Any, path: str) -> list[str]:
    chosen = _expect(data, list, path, f"a list of add-ons ({', '.join(ADDONS)})")
    for i, addon in enumerate(chosen):
        if addon not in ADDONS:
            raise SpecError(f"{path}[{i}]: {addon!r} is not an add-on k8sfs knows ({', '.join(ADDONS)})")
        if addon in chosen[:i]:
            raise SpecError(f"{path}[{i}]: {addon!r} is listed twice")
    return list(chosen)


def _registries(data: Any, path: str) -> RegistryOptions:
    from k8sfs import _core

    _expect(data, dict, path, "a mapping")
    _check_keys(data, {"offline", "mirrors", "credentials", "ca_files", "k8sfs_images"}, path + ".")
    opts = RegistryOptions()
    opts.offline = _expect(data.get("offline", False), bool, f"{path}.offline", "true or false")
    mirrors = _expect(data.get("mirrors", {}), dict, f"{path}.mirrors", "a mapping of registry -> endpoints")
    for registry, endpoints in mirrors.items():
        where = f"{path}.mirrors.{registry}"
        _expect(endpoints, list, where, "a list of endpoints like https://192.168.50.1:5000")
        opts.mirrors[str(registry)] = [
            _expect(e, str, f"{where}[{i}]", "an endpoint URL") for i, e in enumerate(endpoints)
        ]
    logins = _expect(data.get("credentials", {}), dict, f"{path}.credentials", "a mapping of host -> login")
    for host, login in logins.items():
        where = f"{path}.credentials.{host}"
        _expect(login, dict, where, "a mapping with username and password_file")
        _check_keys(login, {"username", "password_file"}, where + ".")
        for key in ("username", "password_file"):
            if key not in login:
                raise SpecError(f"{where}.{key}: missing")
        opts.credentials[str(host)] = RegistryLogin(
            _expect(login["username"], str, f"{where}.username", "a user name"),
            _expect(login["password_file"], str, f"{where}.password_file", "a file path on the controller"),
        )
    cas = _expect(data.get("ca_files", {}), dict, f"{path}.ca_files", "a mapping of host -> CA file")
    for host, file in cas.items():
        opts.ca_files[str(host)] = _expect(file, str, f"{path}.ca_files.{host}", "a file path on the controller")
    where = f"{path}.k8sfs_images"
    opts.k8sfs_images = _expect(data.get("k8sfs_images", ""), str, where, "a registry host[:port]")
    if opts.k8sfs_images and not _REGISTRY_HOST.fullmatch(opts.k8sfs_images):
        raise SpecError(f"{where}: {opts.k8sfs_images!r} is not a registry host[:port] like 192.168.50.1:5000")
    if opts.k8sfs_images and opts.offline:
        raise SpecError(f"{where}: an offline cluster pulls nothing; leave it out (k8sfs uploads its images)")
    if opts.k8sfs_images and opts.k8sfs_images in opts.credentials:
        # ctr and skopeo, which pull them before the kubelet runs, would need the password in argv.
        raise SpecError(f"{where}: k8sfs pulls its own images without a login, and {opts.k8sfs_images} has one")
    # The renderers' own checks (host names, URLs, offline with mirrors); the
    # files are read at plan, so only their hosts are checked here.
    check = _core.RegistriesOptions()
    check.offline, check.mirrors = opts.offline, opts.all_mirrors()
    check.credentials = {h: _core.RegistryCredentials(login.username, "") for h, login in opts.credentials.items()}
    check.ca_certificates = {h: "-----BEGIN CERTIFICATE-----" for h in opts.ca_files}
    try:
        _core.check_registries(check)
    except ValueError as error:
        raise SpecError(str(error)) from None
    return opts


def spec_from_dict(data: Any) -> ClusterSpec:
    _expect(data, dict, "(top)", "a mapping")
    spec = ClusterSpec()
    _check_keys(data, set(spec.__dict__), "")
    for key in ("cluster_name", "cluster_domain"):
        if key in data:
            setattr(spec, key, _expect(data[key], str, key, "a name"))
    if not CLUSTER_NAME.fullmatch(spec.cluster_name):
        # It lands in kubeconfigs, etcd's cluster token and file names.
        raise SpecError(
            f"cluster_name: {spec.cluster_name!r} is not a name of lower-case letters, digits and '-' "
            "(at most 63, starting and ending with a letter or digit)"
        )
    if not DOMAIN.fullmatch(spec.cluster_domain):
        raise SpecError(f"cluster_domain: {spec.cluster_domain!r} is not a DNS domain like cluster.local")
    if "kubernetes_version" in data:
        version = _expect(data["kubernetes_version"], str, "kubernetes_version", "a version like v1.34.4")
        if not VERSION.fullmatch(version) or not version.startswith("v1."):
            raise SpecError(f"kubernetes_version: {version!r} is not a version like v1.34.4")
        spec.kubernetes_version = version
    for key in ("service_cidr", "pod_cidr"):
        if key in data:
            setattr(spec, key, _cidr(data[key], key))
    if "hosts" in data:
        hosts = _expect(data["hosts"], list, "hosts", "a list of hosts")
        spec.hosts = [_host(h, f"hosts[{i}]") for i, h in enumerate(hosts)]
    if "pki" in data:
        spec.pki = _pki(data["pki"], "pki")
    if "runtime" in data:
        spec.runtime = _runtime(data["runtime"], "runtime")
    if "kubelet" in data:
        k = _expect(data["kubelet"], dict, "kubelet", "a mapping")
        _check_keys(k, {"cgroup_driver"}, "kubelet.")
        if "cgroup_driver" in k:
            spec.kubelet.cgroup_driver = _choice(k["cgroup_driver"], CGROUP_DRIVERS, "kubelet.cgroup_driver")
    if "artifacts" in data:
        a = _expect(data["artifacts"], dict, "artifacts", "a mapping")
        _check_keys(a, {"source", "mirror"}, "artifacts.")
        if "source" in a:
            spec.artifacts.source = _choice(a["source"], ARTIFACT_SOURCES, "artifacts.source")
        if "mirror" in a:
            mirror = _expect(a["mirror"], str, "artifacts.mirror", "an http(s):// URL")
            if mirror and not re.match(r"https?://", mirror):
                raise SpecError(f"artifacts.mirror: {mirror!r} must start with http:// or https://")
            if mirror and not URL.fullmatch(mirror):
                raise SpecError(f"artifacts.mirror: {mirror!r} is not a URL like https://mirror.example/k8s")
            spec.artifacts.mirror = mirror
    if "registries" in data:
        spec.registries = _registries(data["registries"], "registries")
    if "addons" in data:
        spec.addons = _addons(data["addons"], "addons")
    if "control_plane_endpoint" in data:
        endpoint = _expect(data["control_plane_endpoint"], str, "control_plane_endpoint", "an IP address")
        if endpoint:
            try:
                ipaddress.IPv4Address(endpoint)
            except ValueError:
                raise SpecError(f"control_plane_endpoint: {endpoint!r} is not an IPv4 address") from None
        spec.control_plane_endpoint = endpoint
    if "host_profile" in data:
        spec.host_profile = _choice(data["host_profile"], HOST_PROFILES, "host_profile")
    if "ssh_config" in data:
        spec.ssh_config = _expect(data["ssh_config"], str, "ssh_config", "a file path")
    _cross_checks(spec)
    return spec


def _cross_checks(spec: ClusterSpec) -> None:
    from k8sfs import versions

    try:
        versions.minor(spec.kubernetes_version)
    except ValueError as e:
        raise SpecError(f"kubernetes_version: {e}") from None
    names = [h.name for h in spec.hosts]
    addresses = [h.address for h in spec.hosts]
    for i, h in enumerate(spec.hosts):
        if h.name in names[:i]:
            raise SpecError(f"hosts[{i}].name: {h.name!r} is used twice")
        if h.address in addresses[:i]:
            raise SpecError(f"hosts[{i}].address: {h.address} is used twice")
    if not any(h.control_plane for h in spec.hosts):
        raise SpecError("hosts: no host has the control-plane role")
    etcd = [h for h in spec.hosts if h.etcd]
    if not etcd:
        raise SpecError("hosts: no host has the etcd role (the walkthrough puts etcd on the control plane)")
    if len(etcd) % 2 == 0:
        raise SpecError(f"hosts: {len(etcd)} etcd members; use an odd number (1 or 3) so a majority survives a loss")
    planes = [h for h in spec.hosts if h.control_plane]
    if len(planes) > 1 and not spec.control_plane_endpoint and not spec.pki.api_server_url:
        raise SpecError(
            f"control_plane_endpoint: {len(planes)} control planes need one address that every client "
            "uses for the API (a virtual IP the control planes pass between them), e.g. "
            "control_plane_endpoint: 192.168.50.9"
        )
    if spec.control_plane_endpoint in addresses:
        i = addresses.index(spec.control_plane_endpoint)
        raise SpecError(
            f"control_plane_endpoint: {spec.control_plane_endpoint} is hosts[{i}]'s address; it must "
            "be an address no host has"
        )
    service = ipaddress.ip_network(spec.service_cidr)
    pods = ipaddress.ip_network(spec.pod_cidr)
    if service.overlaps(pods):
        raise SpecError(f"pod_cidr: {spec.pod_cidr} overlaps service_cidr {spec.service_cidr}")
    for i, h in enumerate(spec.hosts):
        address = ipaddress.ip_address(h.address)
        for key, net in (("service_cidr", service), ("pod_cidr", pods)):
            if address in net:
                raise SpecError(f"hosts[{i}].address: {h.address} lies inside {key} {net}")
    subnets: list[str] = []
    for i, h in enumerate(spec.hosts):
        if not h.pod_subnet:
            continue
        if not h.worker:
            raise SpecError(f"hosts[{i}].pod_subnet: only workers have a pod subnet")
        if not ipaddress.ip_network(h.pod_subnet).subnet_of(pods):  # type: ignore[arg-type]
            raise SpecError(f"hosts[{i}].pod_subnet: {h.pod_subnet} is not inside pod_cidr {pods}")
        if any(ipaddress.ip_network(h.pod_subnet).overlaps(ipaddress.ip_network(s)) for s in subnets):
            raise SpecError(f"hosts[{i}].pod_subnet: {h.pod_subnet} overlaps another worker's")
        subnets.append(h.pod_subnet)
    if spec.control_plane_endpoint:
        endpoint = ipaddress.ip_address(spec.control_plane_endpoint)
        for key, net in (("service_cidr", service), ("pod_cidr", pods)):
            if endpoint in net:
                raise SpecError(f"control_plane_endpoint: {endpoint} lies inside {key} {net}")


def load_spec(path: str | Path | None) -> ClusterSpec:
    """The spec in `path` (YAML or JSON), or the walkthrough's defaults."""
    if path is None:
        return ClusterSpec()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SpecError(f"{path}: cannot read the spec ({e.strerror})") from None
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise SpecError(f"{path}:{line}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})") from None
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except (ValueError, Exception) as e:  # yaml.YAMLError and json.JSONDecodeError
        raise SpecError(f"{path}: not valid YAML/JSON: {e}") from None
    try:
        spec = spec_from_dict(data or {})
    except SpecError as e:
        at = locate(text, str(e).split(": ", 1)[0])
        raise SpecError(f"{path}:{at}: {e}" if at else f"{path}: {e}") from None
    here = path.parent.absolute()  # files the spec names are relative to it, wherever k8sfs runs from
    if spec.ssh_config:
        spec.ssh_config = str(here / Path(spec.ssh_config).expanduser())
    for login in spec.registries.credentials.values():
        login.password_file = str(here / Path(login.password_file).expanduser())
    spec.registries.ca_files = {h: str(here / Path(f).expanduser()) for h, f in spec.registries.ca_files.items()}
    return spec


def locate(text: str, key_path: str) -> int | None:
    """The 1-based line of `key_path` ("hosts[2].address") in a YAML/JSON text."""
    import yaml

    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key_path):
        if node is None:
            return line
        if part.startswith("[") and isinstance(node, yaml.SequenceNode):
            index = int(part[1:-1])
            if index >= len(node.value):
                return line
            node = node.value[index]
            line = node.start_mark.line + 1
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    line = (
                        value if not isinstance(value, (yaml.MappingNode, yaml.SequenceNode)) else key
                    ).start_mark.line + 1
                    node = value
                    break
            else:
                return line
        else:
            return line
    return line
