"""Hypothesis strategies for specs: mostly the spec's own keys with
plausible and hostile values, some keys it does not know, nested the way a
YAML file nests them. Shared by the fuzz test (make test) and
bench/spec_fuzz.py (the long run)."""

from __future__ import annotations

import re

from hypothesis import strategies as st

from k8sfs.spec import SpecError, spec_from_dict

HOSTILE = [
    "$(id)",
    "`id`",
    "a;rm -rf /",
    "'",
    '"',
    "\n--flag",
    "--kubeconfig=/etc/shadow",
    "ä½ å¥½",
    "../../etc",
    "",
    " ",
    "\x00",
    "v1.34.4; true",
    "10.0.0.0/16 10.1.0.0/16",
    "192.168.50.10\n",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(HOSTILE),
    st.sampled_from(
        [
            "v1.34.4",
            "v1.21.6",
            "v1.99.0",
            "10.0.0.0/16",
            "192.168.50.10",
            "worker",
            "control-plane",
            "etcd",
            "containerd",
            "crio",
            "rsa-2048",
            "auto",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
TOP = [
    "cluster_name",
    "kubernetes_version",
    "service_cidr",
    "pod_cidr",
    "cluster_domain",
    "hosts",
    "pki",
    "runtime",
    "kubelet",
    "artifacts",
    "host_profile",
    "control_plane_endpoint",
]
HOST = ["name", "address", "roles", "user", "port", "pod_subnet"]
host = st.dictionaries(st.sampled_from(HOST + ["bogus"]), values, max_size=7)
specs = st.one_of(
    values,
    st.dictionaries(
        st.sampled_from(TOP + ["bogus"]),
        st.one_of(
            values,
            st.lists(host, max_size=4),
            st.dictionaries(
                st.sampled_from(
                    ["key_type", "name", "cgroup_driver", "source", "mirror", "api_server_url", "apiserver_extra_sans"]
                ),
                values,
                max_size=3,
            ),
        ),
        max_size=8,
    ),
)

KEY_PATH = re.compile(r"^(\(top\)|[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*): ")


def check_one(data: object) -> None:
    """The loader either accepts `data` or raises SpecError naming a key path."""
    try:
        spec_from_dict(data)
    except SpecError as error:
        message = str(error)
        if "unknown key (known: " not in message and not KEY_PATH.match(message):
            raise AssertionError(f"error without a key path: {message!r} for {data!r}") from None
