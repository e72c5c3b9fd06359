"""The OCI runtime wrapper k8sfs gives CRI-O, run for real with a stand-in
runtime: a spec newer than an old crun accepts gets crun's own version; on
container hosts a container that asks for a lower oom_score_adj than the
host may set starts at the host's own value; everything else is passed on
untouched."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from k8sfs import manifests


def wrapper(tmp_path: Path, container_host: bool = True, spec_version: str = "1.2.0") -> Path:
    """The wrapper around a stand-in runtime that answers --version as crun
    does and records the arguments of everything else."""
    seen = tmp_path / "seen"
    runtime = tmp_path / "runtime"
    runtime.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = --version ]; then printf "crun version 1.8.1\\nspec: {spec_version}\\n"; exit 0; fi\n'
        f"printf '%s\\n' \"$@\" > {seen}\n"
    )
    runtime.chmod(0o755)
    path = tmp_path / "k8sfs-oci-runtime"
    path.write_text(
        manifests.render(
            "oci-runtime-wrapper.py", cluster="kubernetes", runtime=str(runtime), container_host=str(container_host)
        )
    )
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


def test_a_newer_spec_gets_the_version_an_old_crun_accepts(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    limits = {"pids": {"limit": -1}, "cpu": {"shares": 2}}
    (bundle / "config.json").write_text(json.dumps({"ociVersion": "1.2.1", "linux": {"resources": limits}}))
    old_crun = wrapper(tmp_path, container_host=False, spec_version="1.0.0")
    assert subprocess.run([sys.executable, str(old_crun), "create", "-b", str(bundle)]).returncode == 0
    # the version it knows, and "no pids limit" as an absent limit rather than -1
    assert json.loads((bundle / "config.json").read_text()) == {
        "ociVersion": "1.0.0",
        "linux": {"resources": {"cpu": {"shares": 2}}},
    }
    # a crun that knows newer specs gets the spec as CRI-O wrote it
    (bundle / "config.json").write_text(json.dumps({"ociVersion": "1.2.1"}))
    run = [
        sys.executable,
        str(wrapper(tmp_path, container_host=False, spec_version="1.2.0")),
        "create",
        "-b",
        str(bundle),
    ]
    assert subprocess.run(run, capture_output=True).returncode == 0
    assert json.loads((bundle / "config.json").read_text()) == {"ociVersion": "1.2.1"}


def test_on_real_machines_oom_score_adj_is_left_alone(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps({"process": {"oomScoreAdj": -998}}))
    run = [sys.executable, str(wrapper(tmp_path, container_host=False)), "create", "--bundle", str(bundle), "c"]
    assert subprocess.run(run, capture_output=True).returncode == 0
    assert json.loads((bundle / "config.json").read_text()) == {"process": {"oomScoreAdj": -998}}


def test_a_hugetlb_limit_the_host_cannot_apply_is_dropped_on_container_hosts(tmp_path):
    import os

    import pytest

    if os.path.isdir("/sys/fs/cgroup/hugetlb"):
        pytest.skip("this machine mounts the hugetlb controller, so the wrapper rightly keeps the limit")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    limits = {"hugepageLimits": [{"pageSize": "2MB", "limit": 0}], "cpu": {"shares": 2}}
    (bundle / "config.json").write_text(json.dumps({"linux": {"resources": limits}}))
    run = [sys.executable, str(wrapper(tmp_path)), "create", "--bundle", str(bundle), "c"]
    assert subprocess.run(run, capture_output=True).returncode == 0
    assert json.loads((bundle / "config.json").read_text())["linux"]["resources"] == {"cpu": {"shares": 2}}
