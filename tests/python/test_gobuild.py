"""Pure parts of the Go builds: which replace directives a wrapper module
repeats, and which artifacts a cluster needs per runtime and version."""

from __future__ import annotations

from k8sfs.artifacts import names_for
from k8sfs.artifacts.gobuild import module_replaces

# The shapes a go.mod's replace directives take (go.dev/ref/mod#go-mod-file-replace).
GOMOD = """module example.com/runtime

go 1.15

require (
\tk8s.io/api v0.0.0
\tvbom.ml/util v0.0.0-20180919145318-efcd4e0f9787
)

replace (
\tk8s.io/api => k8s.io/kubernetes/staging/src/k8s.io/api v0.0.0-20210408162405-cb303e613a12
\tgithub.com/golang/protobuf v1.4.0 => github.com/golang/protobuf v1.3.5
\texample.com/tools => ./tools
)

replace github.com/opencontainers/runc => github.com/opencontainers/runc v1.0.0-rc93
replace example.com/local => ../local
"""


def test_replaces_to_module_versions_are_repeated_and_local_paths_are_not():
    assert module_replaces(GOMOD) == [
        "k8s.io/api => k8s.io/kubernetes/staging/src/k8s.io/api v0.0.0-20210408162405-cb303e613a12",
        "github.com/golang/protobuf v1.4.0 => github.com/golang/protobuf v1.3.5",
        "github.com/opencontainers/runc => github.com/opencontainers/runc v1.0.0-rc93",
    ]
    assert module_replaces("module example.com/x\n\ngo 1.22\n") == []


def test_containerd_binaries_are_needed_from_1_36_and_only_with_containerd():
    containerd = {"containerd", "containerd-shim-runc-v2", "ctr"}
    assert containerd <= set(names_for("containerd", "v1.37.2"))
    assert containerd <= set(names_for("containerd", "v1.36.0"))
    assert not containerd & set(names_for("containerd", "v1.35.0"))  # the host's containerd 1.x still serves
    assert not containerd & set(names_for("crio", "v1.37.2"))
    assert {"crio", "pinns"} <= set(names_for("crio", "v1.21.6"))
    assert not {"crio", "pinns"} & set(names_for("containerd", "v1.21.6"))


def test_an_add_ons_binary_is_needed_only_by_a_spec_that_lists_it():
    assert "local-path-provisioner" not in names_for("containerd", "v1.34.4")
    assert "local-path-provisioner" in names_for("containerd", "v1.34.4", ["local-path"])
    assert "local-path-provisioner" in names_for("crio", "v1.21.6", ["local-path"])


def test_what_has_no_official_release_is_built_even_when_fetching():
    from k8sfs.artifacts import catalog

    assert catalog.fetchable("kubelet") and catalog.fetchable("etcd")
    for built_only in ("local-path-provisioner", "metrics-server", "helm", "registry"):
        assert not catalog.fetchable(built_only), built_only
    assert "helm" not in names_for("containerd", "v1.34.4", ["local-path", "metrics"])  # a client, asked for by name
