#!/usr/bin/env python3
"""Benchmark: one command on 1, 10 and 50 hosts at once, fresh connections
each time, k8sfs's Pool against its peers in the same run (ratios, not
absolute numbers: this machine is noisy).

    python bench/fanout.py [--hosts 1,10,50] [--repeat 3]

A lab of its own with the largest count of hosts (full lab hosts; only
their sshd matters here), brought up and taken down. Peers, all against
the same sshds with the lab's key and known_hosts: OpenSSH in a shell loop
with `&` and `wait`; parallel-ssh (Debian's pssh) with -p 50; Ansible's
`command` module with forks=50.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import k8sfs
from k8sfs import results
from k8sfs.lab import Lab
from k8sfs.spec import ClusterSpec, sized_hosts
from k8sfs.table import render_table

COMMAND = "uname -r"


def median_seconds(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def run_k8sfs(lab: Lab, names: list[str]) -> None:
    pool = k8sfs.Pool([lab.connect_options(n) for n in names])
    results = pool.exec(COMMAND)
    bad = [r for r in results if not r.ok or r.value.exit_code != 0]
    assert not bad, bad[0].error
    del pool  # closes every connection: the next run connects afresh


def run_openssh(lab: Lab, names: list[str]) -> None:
    loop = " ".join(f"ssh -F {lab.ssh_config_path} -o BatchMode=yes {n} {COMMAND} >/dev/null &" for n in names)
    subprocess.run(["sh", "-c", f"{loop} wait"], check=True)


def run_pssh(lab: Lab, names: list[str], hosts_file: Path) -> None:
    hosts_file.write_text("\n".join(names) + "\n")
    subprocess.run(
        ["parallel-ssh", "-h", str(hosts_file), "-p", "50", "-x", f"-F {lab.ssh_config_path}", COMMAND],
        check=True,
        capture_output=True,
    )


def run_ansible(lab: Lab, names: list[str], inventory: Path) -> None:
    inventory.write_text(
        "".join(
            f"{n} ansible_host={lab.host(n).address} ansible_user=root ansible_ssh_private_key_file={lab.key_path} "
            "ansible_python_interpreter=/usr/bin/python3\n"
            for n in names
        )
    )
    env = {
        **os.environ,
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_SSH_ARGS": f"-o UserKnownHostsFile={lab.known_hosts_path} -o ControlMaster=no",
        "ANSIBLE_NOCOLOR": "1",
    }
    subprocess.run(
        ["ansible", "all", "-i", str(inventory), "-f", "50", "-m", "command", "-a", COMMAND],
        check=True,
        capture_output=True,
        env=env,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", default="1,10,50", help="host counts (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lab", default="k8sfsfo")
    parser.add_argument("--subnet", default="192.168.74.0/24")
    args = parser.parse_args()
    counts = sorted(int(c) for c in args.hosts.split(","))

    lab = Lab(name=args.lab, subnet=args.subnet, progress=lambda m: print(f"[lab] {m}", file=sys.stderr))
    started = time.monotonic()
    lab.up(ClusterSpec(hosts=sized_hosts(1, counts[-1] - 1, args.subnet)))
    print(f"{counts[-1]} lab hosts up in {time.monotonic() - started:.0f} s", file=sys.stderr)
    scratch = Path(tempfile.mkdtemp(prefix="k8sfs-fanout-"))
    peers = {
        "k8sfs Pool": lambda names: run_k8sfs(lab, names),
        "OpenSSH loop with &": lambda names: run_openssh(lab, names),
    }
    if shutil.which("parallel-ssh"):
        peers["parallel-ssh -p 50"] = lambda names: run_pssh(lab, names, scratch / "hosts")
    if shutil.which("ansible"):
        peers["ansible forks=50"] = lambda names: run_ansible(lab, names, scratch / "inventory.ini")
    try:
        rows = []
        for count in counts:
            names = [h.name for h in lab.hosts][:count]
            times = {}
            for peer, run in peers.items():
                run(names)  # warm: DNS, page cache, Python imports
                times[peer] = median_seconds(lambda run=run, names=names: run(names), args.repeat)
            base = times["k8sfs Pool"]
            rows += [[count, peer, f"{sec:.2f}", f"{sec / base:.2f}x"] for peer, sec in times.items()]
        print(f"\n`{COMMAND}` on N hosts at once, fresh connections, median of {args.repeat}")
        print("(ratio = peer / k8sfs; above 1 means k8sfs is faster)")
        print(render_table(["HOSTS", "TOOL", "SECONDS", "RATIO"], rows))
        results.record(
            "bench-fanout",
            {"table": results.table(["HOSTS", "TOOL", "SECONDS", "RATIO"], rows)},
            notes=[f"`{COMMAND}` on N hosts at once, fresh connections, median of {args.repeat}; ratio = peer / k8sfs"],
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        lab.down(purge=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
