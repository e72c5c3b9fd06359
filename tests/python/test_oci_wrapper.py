"""The OCI runtime wrapper container hosts give CRI-O, run for real with a
stand-in runtime: a container that asks for a lower oom_score_adj than the
host may set starts at the host's own value; everything else is passed on
untouched."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from k8sfs import manifests


def wrapper(tmp_path: Path) -> Path:
    seen = tmp_path / "seen"
    runtime = tmp_path / "runtime"
    runtime.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {seen}\n")
    runtime.chmod(0o755)
    path = tmp_path / "k8sfs-oci-runtime"
    path.write_text(manifests.render("oci-runtime-container-host.py", cluster="kubernetes", runtime=str(runtime)))
    return path


def test_a_lower_oom_score_adj_is_raised_to_the_hosts_own(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps({"process": {"oomScoreAdj": -998, "args": ["/pause"]}}))
    own = int(Path("/proc/self/oom_score_adj").read_text())
    run = subprocess.run(
        [sys.executable, str(wrapper(tmp_path)), "--root", "/run/x", "create", "--bundle", str(bundle), "sandbox-1"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    spec = json.loads((bundle / "config.json").read_text())
    assert spec["process"]["oomScoreAdj"] == max(own, -998) and spec["process"]["args"] == ["/pause"]
    assert (tmp_path / "seen").read_text().split() == [
        "--root",
        "/run/x",
        "create",
        "--bundle",
        str(bundle),
        "sandbox-1",
    ]


def test_other_commands_and_higher_values_pass_untouched(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    original = json.dumps({"process": {"oomScoreAdj": 1000}})
    (bundle / "config.json").write_text(original)
    for args in (["create", "--bundle", str(bundle), "c"], ["state", "c"], ["delete", "--force", "c"]):
        assert subprocess.run([sys.executable, str(wrapper(tmp_path)), *args]).returncode == 0
    assert (bundle / "config.json").read_text() == original
