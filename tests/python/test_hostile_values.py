"""Hostile values in every field of the spec that reaches a host, a
certificate, a kubeconfig or a command line: command substitution, quotes,
newlines, option lookalikes, non-ASCII. Each is refused by the loader with
an error naming the key, before anything connects; what the loader does
accept reaches hosts only as quoted arguments (test_ssh_exec proves the
quoting on a real sshd, test_spec that a refused spec changes nothing)."""

from __future__ import annotations

import copy

import pytest

from k8sfs.spec import ClusterSpec, SpecError, spec_from_dict, spec_to_dict

HOSTILE = [
    "$(touch /tmp/k8sfs-pwned)",
    "`touch /tmp/k8sfs-pwned`",
    "a;touch /tmp/k8sfs-pwned",
    "it's",
    'say "hi"',
    "two\nlines",
    "trailing\n",
    "--help",
    "-oProxyCommand=touch /tmp/k8sfs-pwned",
    "ünïcödé",
    "a b",
    "../../etc/passwd",
]

# key path -> how to put a value there in the default spec's data
FIELDS = {
    "cluster_name": lambda d, v: d.__setitem__("cluster_name", v),
    "cluster_domain": lambda d, v: d.__setitem__("cluster_domain", v),
    "kubernetes_version": lambda d, v: d.__setitem__("kubernetes_version", v),
    "service_cidr": lambda d, v: d.__setitem__("service_cidr", v),
    "pod_cidr": lambda d, v: d.__setitem__("pod_cidr", v),
    "control_plane_endpoint": lambda d, v: d.__setitem__("control_plane_endpoint", v),
    "hosts[0].name": lambda d, v: d["hosts"][0].__setitem__("name", v),
    "hosts[0].address": lambda d, v: d["hosts"][0].__setitem__("address", v),
    "hosts[0].user": lambda d, v: d["hosts"][0].__setitem__("user", v),
    "hosts[1].pod_subnet": lambda d, v: d["hosts"][1].__setitem__("pod_subnet", v),
    "hosts[0].roles[0]": lambda d, v: d["hosts"][0]["roles"].__setitem__(0, v),
    "pki.apiserver_extra_sans[0]": lambda d, v: d["pki"].__setitem__("apiserver_extra_sans", [v]),
    "pki.api_server_url": lambda d, v: d["pki"].__setitem__("api_server_url", "https://" + v),
    "pki.key_type": lambda d, v: d["pki"].__setitem__("key_type", v),
    "runtime.name": lambda d, v: d["runtime"].__setitem__("name", v),
    "runtime.cgroup_driver": lambda d, v: d["runtime"].__setitem__("cgroup_driver", v),
    "artifacts.mirror": lambda d, v: d["artifacts"].__setitem__("mirror", "https://" + v),
    "artifacts.source": lambda d, v: d["artifacts"].__setitem__("source", v),
    "host_profile": lambda d, v: d.__setitem__("host_profile", v),
    "registries.k8sfs_images": lambda d, v: d["registries"].__setitem__("k8sfs_images", v),
}


@pytest.mark.parametrize("field", list(FIELDS))
@pytest.mark.parametrize("value", HOSTILE, ids=[repr(v)[:24] for v in HOSTILE])
def test_a_hostile_value_is_refused_naming_its_key(field, value):
    data = copy.deepcopy(spec_to_dict(ClusterSpec()))
    FIELDS[field](data, value)
    with pytest.raises(SpecError) as caught:
        spec_from_dict(data)
    said = str(caught.value)
    # The key that holds the value (or, for a value the host list rejects
    # as a whole, the list) is named first.
    assert said.startswith(field) or said.startswith(field.split("[")[0]), said


def test_the_fields_above_are_every_string_the_spec_sends_somewhere():
    """A new string field must be added to FIELDS (or to LOCAL_ONLY with why)."""
    LOCAL_ONLY = {"ssh_config"}  # read by the controller as a file path; never sent to a host
    data = spec_to_dict(ClusterSpec())
    strings = set()

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")
        elif isinstance(node, str):
            strings.add(path)

    walk(data, "")
    hosts = {p for p in strings if p.startswith("hosts[0].")}
    others = {p for p in strings if not p.startswith("hosts[")}
    covered = {f.split("[0]")[0] if f.startswith("pki.apiserver") else f for f in FIELDS}
    assert others - covered - LOCAL_ONLY == set()
    assert {p for p in hosts if not p.startswith("hosts[0].roles")} <= covered | {"hosts[0].pod_subnet"}
