"""The k8sfs command and the lab's own guarantees (safety, idempotent up,
complete teardown)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import IP_FORWARD_AT_START, TEST_LAB, TEST_SUBNET, lab_unavailable_reason

pytestmark = pytest.mark.lab


def k8sfs_cli(*args, input=None, lab=TEST_LAB, subnet=TEST_SUBNET):
    env = {**os.environ, "K8SFS_LAB": lab, "K8SFS_LAB_SUBNET": subnet}
    return subprocess.run(
        [sys.executable, "-m", "k8sfs.cli", *args], capture_output=True, text=True, input=input, env=env, timeout=300
    )


def test_exec_exits_with_the_remote_exit_code(lab):
    r = k8sfs_cli("exec", "node-1", "--", "sh", "-c", "echo to-out; echo to-err >&2; exit 42")
    assert r.returncode == 42
    assert r.stdout == "to-out\n"
    assert r.stderr == "to-err\n"


def test_exec_quotes_argv_and_passes_stdin(lab):
    r = k8sfs_cli(
        "exec", "node-2", "--stdin", "--", "sh", "-c", 'cat; printf "[%s]" "$1"', "sh", "a b;c", input="from-stdin\n"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "from-stdin\n[a b;c]\n"


def test_exec_timeout_exits_124_and_says_so(lab):
    r = k8sfs_cli("exec", "--timeout", "1", "node-1", "--", "sleep", "30")
    assert r.returncode == 124
    assert "node-1" in r.stderr and "killed" in r.stderr


def test_lab_status_table(lab):
    r = k8sfs_cli("lab", "status")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["HOST", "ADDRESS", "ROLE", "STATE", "PID"]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert set(rows) == {"k8s-master", "node-1", "node-2"}
    assert all(row[3] == "running" for row in rows.values())
    assert rows["node-2"][1] == str(lab.network.network_address + 12)


def test_lab_ssh_runs_openssh_with_the_labs_key_and_known_hosts(lab):
    r = k8sfs_cli("lab", "ssh", "k8s-master", "--", "hostname")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "k8s-master"


def test_lab_hosts_have_no_way_out(lab):
    for host in lab.hosts:
        with lab.session(host.name) as s:
            routes = s.exec("ip -4 route show").stdout
            assert "default" not in routes
            assert routes.strip().splitlines() == [
                line for line in routes.strip().splitlines() if line.startswith(str(lab.network))
            ]
    # Nothing the lab did turned on forwarding or added NAT.
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == IP_FORWARD_AT_START
    nat = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    assert lab.bridge not in nat


def test_second_up_keeps_the_running_hosts(lab):
    before = {row["host"]: row["pid"] for row in lab.status()}
    lab.up()
    after = {row["host"]: row["pid"] for row in lab.status()}
    assert before == after


def test_exec_on_a_lab_host_when_that_lab_is_down_says_so():
    r = k8sfs_cli("exec", "node-1", "--", "true", lab="k8sfsno", subnet="192.168.79.0/24")
    assert r.returncode == 1
    assert "not up" in r.stderr and "k8sfsno" in r.stderr


def test_the_status_of_a_lab_that_does_not_exist_says_so():
    r = k8sfs_cli("lab", "status", lab="k8sfsno")
    assert r.returncode == 3 and r.stdout == ""  # no table of hosts that were never made
    assert r.stderr.strip() == "lab k8sfsno does not exist (k8sfs lab up --lab k8sfsno makes it)"


def test_bad_lab_settings_are_refused_before_anything_happens():
    r = k8sfs_cli("lab", "up", lab="Bad_Name")
    assert r.returncode == 1 and "lab name" in r.stderr
    r = k8sfs_cli("lab", "up", lab="k8sfsbad", subnet="8.8.8.0/24")
    assert r.returncode == 1 and "not a private range" in r.stderr
    assert not Path("/var/lib/k8sfs/lab/k8sfsbad").exists()


def test_help_explains_commands():
    r = k8sfs_cli("--help")
    assert r.returncode == 0
    for word in ("lab", "exec", "demo", "examples"):
        assert word in r.stdout
    r = k8sfs_cli("exec", "--help")
    assert "--timeout" in r.stdout and "exit code" in r.stdout


def _lab_traces(name: str) -> list[str]:
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [line.split()[0] for line in netns.splitlines() if line.startswith(name + "-")]
    links = json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True).stdout)
    found += [link["ifname"] for link in links if link["ifname"].startswith(name + "-")]
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [line.split()[4] for line in mounts.splitlines() if f"/lab/{name}/" in line]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (
                    f"/lab/{name}/".encode() in (proc / "cmdline").read_bytes()
                    or f"/lab/{name}/hosts/".encode() in (proc / "mountinfo").read_bytes()
                ):
                    found.append(f"pid {proc.name}")
            except OSError:
                pass
    if Path(f"/var/lib/k8sfs/lab/{name}").exists():
        found.append(f"/var/lib/k8sfs/lab/{name}")
    return found


def test_down_removes_everything_and_cleans_a_crashed_run():
    reason = lab_unavailable_reason()
    if reason:
        pytest.skip(reason)
    from k8sfs.lab import Lab

    name, subnet = "k8sfsc", "192.168.78.0/24"
    lab = Lab(name=name, subnet=subnet, progress=lambda m: None)
    try:
        lab.up()
        assert all(row["state"] == "running" for row in lab.status())
        # Simulate a crash: the nspawn processes die without cleanup and the
        # state file is lost.
        for row in lab.status():
            os.kill(row["pid"], signal.SIGKILL)
        (lab.state_dir / "state.json").unlink()
        assert _lab_traces(name)  # leftovers exist

        # A new `up` finds the leftovers, cleans them and comes up.
        fresh = Lab(name=name, subnet=subnet, progress=lambda m: None)
        fresh.up()
        assert all(row["state"] == "running" for row in fresh.status())
    finally:
        Lab(name=name, subnet=subnet, progress=lambda m: None).down()
    assert _lab_traces(name) == []
    again = Lab(name=name, subnet=subnet, progress=lambda m: None)
    assert again.registry_dir.exists()  # down keeps the lab registry's images, like the cluster's state
    again.down(purge=True)  # safe twice; --purge takes the registry's folder too
    assert _lab_traces(name) == [] and not again.registry_dir.exists()


def test_another_lab_going_down_leaves_this_labs_hosts_whole(lab):
    """Lab hosts started from one process (a test run, a notebook kernel)
    once shared their systemd cgroup tree, so a lab going down removed the
    cgroups of units still running in another: units then failed at step
    CGROUP. Each host's systemd now has a tree of its own."""
    from k8sfs.lab import Lab
    from k8sfs.lab.processes import container_inits

    def systemd_cgroups(a_lab) -> dict[str, str]:
        """Each host's init: its cgroup in systemd's hierarchy, as the machine sees it."""
        found = {}
        for host, pids in container_inits(a_lab._uppers()).items():
            lines = Path(f"/proc/{pids[0]}/cgroup").read_text().splitlines()
            found[f"{a_lab.name}/{host}"] = next(x.split(":", 2)[2] for x in lines if ":name=systemd:" in x)
        return found

    other = Lab(name="k8sfsg", subnet="192.168.72.0/24", progress=lambda m: None)
    try:
        other.up()
        with other.session("node-1") as s:
            assert s.exec("systemctl is-system-running --wait").stdout.strip() == "running"
        trees = {**systemd_cgroups(lab), **systemd_cgroups(other)}
        assert len(trees) == 6 and len(set(trees.values())) == 6, trees
    finally:
        other.down(purge=True)
    with lab.session("node-1") as s:
        # A unit started after the other lab went down, and the early unit
        # that gives kubelet its cgroup controllers: both start cleanly.
        restarted = s.exec("systemctl restart ssh k8sfs-lab-early")
        assert restarted.exit_code == 0, restarted.stderr
        assert s.exec("systemctl --failed --no-legend --plain").stdout.strip() == ""
        assert s.exec("test -w /sys/fs/cgroup/blkio").exit_code == 0
