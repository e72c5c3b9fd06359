"""The storage add-on under upstream's storage e2e suites: e2e.test loads a
driver definition (`--storage.testdriver`) for a provisioner that is
already installed and runs `test/e2e/storage/testsuites` against it as
"External Storage [Driver: NAME]" specs. `k8sfs verify conformance
--storage` writes the definition for the spec's add-on and selects them.

The capabilities say what local-path-provisioner gives: data that outlives
its pod, files that can be executed, several pods of one node on one
volume, every volume on one node. Left out: block volumes, fsGroup (a
directory's owner is not changed), expansion, snapshots, clones, RWX."""

from __future__ import annotations

import json

from k8sfs.spec import ClusterSpec

# The driver's name in the specs' names and in the objects they make (a DNS
# label); the provisioner they exercise is the StorageClass's.
DRIVER = "local-path"
FOCUS = r"External.Storage \[Driver: local-path\]"
# As upstream's README for external drivers runs them: without optional
# features and disruptive specs (those restart the kubelet). Also without
# the patterns that bind a claim before its pod is scheduled: local-path
# makes a volume on the pod's node, so it needs to know that node first
# ("configuration error, no node was specified"). And the one that fills
# a new volume from a populator's data source: local-path makes empty
# directories and ignores dataSourceRef (its volume came up empty).
SKIP = r"\[Feature:|\[Disruptive\]|immediate-binding|with any volume data source"


def driver_definition(spec: ClusterSpec) -> str:
    """The driver file for e2e.test (JSON, which it reads as YAML)."""
    if "local-path" not in spec.addons:
        raise ValueError(
            "--storage: the spec has no storage add-on (addons: [local-path]; k8sfs lab up --addons local-path)"
        )
    return json.dumps(
        {
            "StorageClass": {"FromExistingClassName": "local-path"},
            "DriverInfo": {
                "Name": DRIVER,
                "SupportedFsType": {"": {}},
                "SupportedSizeRange": {"Min": "1Mi"},
                "Capabilities": {
                    "persistence": True,
                    "exec": True,
                    "multipods": True,
                    "singleNodeVolume": True,
                    "block": False,
                    "fsGroup": False,
                    "RWX": False,
                    "controllerExpansion": False,
                    "nodeExpansion": False,
                    "snapshotDataSource": False,
                    "pvcDataSource": False,
                    "topology": False,
                },
            },
        },
        indent=2,
    )
