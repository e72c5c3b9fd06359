#!/usr/bin/env python3
"""Benchmark: running commands and pushing a file to a lab host, k8sfs
against its peers, all in one run (this machine is noisy: compare the
ratios, not the absolute numbers).

    python bench/ssh_exec.py [--commands N] [--fresh N] [--size-mb M]

Uses the lab named by --lab (default: a lab of its own, brought up and
taken down again). Every peer talks to the same sshd on the same host.
Peers: OpenSSH with ControlMaster (one ssh process per command over a
shared master connection), asyncssh, Fabric (paramiko), `ansible -m
command`; for files: OpenSSH's sftp and paramiko's SFTP.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from k8sfs import results
from k8sfs.lab import Lab
from k8sfs.table import render_table


def timed(fn, repeat: int) -> float:
    """Median seconds per call."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


class Target:
    def __init__(self, lab: Lab, host: str):
        self.lab = lab
        self.host = lab.host(host)
        self.address = self.host.address
        self.key = str(lab.key_path)
        self.known_hosts = str(lab.known_hosts_path)
        self.ssh_config = str(lab.ssh_config_path)


def bench_k8sfs(t: Target, n: int, fresh: int) -> tuple[float, float]:
    session = t.lab.session(t.host.name)
    session.exec("true")
    per_cmd = timed(lambda: session.exec("true"), n)
    session.close()

    def new_connection():
        with t.lab.session(t.host.name) as s:
            s.exec("true")

    return per_cmd, timed(new_connection, fresh)


def bench_openssh(t: Target, n: int, fresh: int) -> tuple[float, float]:
    control = tempfile.mkdtemp(prefix="k8sfs-bench-cm-")
    base = ["ssh", "-F", t.ssh_config, "-o", "BatchMode=yes"]
    mux = base + ["-o", "ControlMaster=auto", "-o", f"ControlPath={control}/cm", "-o", "ControlPersist=60"]
    subprocess.run(mux + [t.host.name, "true"], check=True)
    try:
        per_cmd = timed(lambda: subprocess.run(mux + [t.host.name, "true"], check=True), n)
    finally:
        subprocess.run(mux + ["-O", "exit", t.host.name], capture_output=True)
        shutil.rmtree(control, ignore_errors=True)
    fresh_t = timed(lambda: subprocess.run(base + ["-o", "ControlMaster=no", t.host.name, "true"], check=True), fresh)
    return per_cmd, fresh_t


def bench_asyncssh(t: Target, n: int, fresh: int) -> tuple[float, float]:
    import asyncssh

    async def main():
        opts = dict(username="root", client_keys=[t.key], known_hosts=t.known_hosts)
        async with asyncssh.connect(t.address, **opts) as conn:
            await conn.run("true", check=True)
            samples = []
            for _ in range(n):
                start = time.perf_counter()
                await conn.run("true", check=True)
                samples.append(time.perf_counter() - start)
        fresh_samples = []
        for _ in range(fresh):
            start = time.perf_counter()
            async with asyncssh.connect(t.address, **opts) as conn:
                await conn.run("true", check=True)
            fresh_samples.append(time.perf_counter() - start)
        return statistics.median(samples), statistics.median(fresh_samples)

    return asyncio.run(main())


def bench_fabric(t: Target, n: int, fresh: int) -> tuple[float, float]:
    import fabric
    import paramiko

    def connection():
        client_config = fabric.Config(overrides={"load_ssh_configs": False})
        conn = fabric.Connection(
            t.address,
            user="root",
            config=client_config,
            connect_kwargs={"key_filename": t.key, "look_for_keys": False, "allow_agent": False},
        )
        conn.client.load_host_keys(t.known_hosts)
        conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        return conn

    conn = connection()
    conn.run("true", hide=True)
    per_cmd = timed(lambda: conn.run("true", hide=True), n)
    conn.close()

    def new_connection():
        c = connection()
        c.run("true", hide=True)
        c.close()

    return per_cmd, timed(new_connection, fresh)


def bench_ansible(t: Target, n: int) -> float:
    inventory = tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False)
    inventory.write(
        f"{t.host.name} ansible_host={t.address} ansible_user=root "
        f"ansible_ssh_private_key_file={t.key} ansible_python_interpreter=/usr/bin/python3\n"
    )
    inventory.close()
    env = {
        **os.environ,
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_SSH_ARGS": f"-o UserKnownHostsFile={t.known_hosts} -o ControlMaster=auto -o ControlPersist=60s",
        "ANSIBLE_NOCOLOR": "1",
    }
    argv = ["ansible", t.host.name, "-i", inventory.name, "-m", "command", "-a", "true"]
    try:
        subprocess.run(argv, check=True, capture_output=True, env=env)
        return timed(lambda: subprocess.run(argv, check=True, capture_output=True, env=env), n)
    finally:
        os.unlink(inventory.name)


def bench_push(t: Target, size_mb: int, repeat: int) -> list[tuple[str, float]]:
    work = Path(tempfile.mkdtemp(prefix="k8sfs-bench-"))
    blob = work / "blob"
    with open(blob, "wb") as f:
        for _ in range(size_mb):
            f.write(os.urandom(1024 * 1024))
    results = []
    try:
        session = t.lab.session(t.host.name)
        session.exec("true")
        results.append(
            (
                "k8sfs put (atomic, sha256, mode)",
                timed(lambda: session.put(str(blob), "/root/bench-k8sfs", skip_if_same=False), repeat),
            )
        )
        batch = work / "batch"
        batch.write_text(f"put {blob} /root/bench-openssh\n")
        results.append(
            (
                "OpenSSH sftp",
                timed(
                    lambda: subprocess.run(
                        ["sftp", "-F", t.ssh_config, "-q", "-b", str(batch), t.host.name],
                        check=True,
                        capture_output=True,
                    ),
                    repeat,
                ),
            )
        )
        import paramiko

        client = paramiko.SSHClient()
        client.load_host_keys(t.known_hosts)
        client.connect(t.address, username="root", key_filename=t.key, look_for_keys=False, allow_agent=False)
        sftp = client.open_sftp()
        results.append(("paramiko SFTP", timed(lambda: sftp.put(str(blob), "/root/bench-paramiko"), repeat)))
        client.close()
        session.exec("rm -f /root/bench-k8sfs /root/bench-openssh /root/bench-paramiko")
        session.close()
    finally:
        shutil.rmtree(work)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", default="k8sfsb", help="lab to use (brought up and down if not already up)")
    parser.add_argument("--subnet", default="192.168.98.0/24")
    parser.add_argument("--host", default="node-1")
    parser.add_argument("--commands", type=int, default=200, help="commands over an open connection, per tool")
    parser.add_argument("--fresh", type=int, default=20, help="fresh connections, per tool")
    parser.add_argument("--ansible", type=int, default=5, help="ansible invocations")
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--push-repeat", type=int, default=3)
    args = parser.parse_args()

    lab = Lab(name=args.lab, subnet=args.subnet, progress=lambda m: print(f"[lab] {m}", file=sys.stderr))
    was_up = lab.is_up() if lab.known_hosts_path.exists() else False
    lab.up()
    try:
        t = Target(lab, args.host)
        print(
            f"host {args.host} ({t.address}); {args.commands} commands per tool over one connection, "
            f"{args.fresh} fresh connections; medians",
            file=sys.stderr,
        )
        rows = {}
        rows["k8sfs (libssh)"] = bench_k8sfs(t, args.commands, args.fresh)
        rows["OpenSSH ControlMaster"] = bench_openssh(t, args.commands, args.fresh)
        rows["asyncssh"] = bench_asyncssh(t, args.commands, args.fresh)
        rows["Fabric (paramiko)"] = bench_fabric(t, args.commands, args.fresh)
        ansible = bench_ansible(t, args.ansible)
        base_cmd, base_fresh = rows["k8sfs (libssh)"]
        table = [
            [name, f"{cmd * 1000:.2f}", f"{cmd / base_cmd:.2f}x", f"{fresh * 1000:.1f}", f"{fresh / base_fresh:.2f}x"]
            for name, (cmd, fresh) in rows.items()
        ]
        table.append(["ansible -m command", f"{ansible * 1000:.0f}", f"{ansible / base_cmd:.0f}x", "-", "-"])
        print("\nexec `true` (time per command, ratio = peer / k8sfs; above 1 means k8sfs is faster)")
        print(render_table(["TOOL", "OPEN CONN ms", "RATIO", "FRESH CONN ms", "RATIO"], table))
        peers = {
            "OpenSSH": results.tool_version(["ssh", "-V"]),
            "asyncssh": importlib.metadata.version("asyncssh"),
            "Fabric": importlib.metadata.version("fabric"),
            "paramiko": importlib.metadata.version("paramiko"),
            "ansible-core": importlib.metadata.version("ansible-core"),
        }
        results.record(
            "bench-ssh-exec",
            {"table": results.table(["TOOL", "OPEN CONN ms", "RATIO", "FRESH CONN ms", "RATIO"], table)},
            peers=peers,
            notes=[
                f"`true` on {args.host}: {args.commands} commands over one connection and {args.fresh} fresh "
                "connections per tool, medians; ratio = peer / k8sfs",
                "k8sfs, asyncssh and Fabric run in this process; OpenSSH's ssh is a process per command (over a "
                "ControlMaster); Ansible starts a process (and Python) per command",
            ],
        )

        push = bench_push(t, args.size_mb, args.push_repeat)
        base = push[0][1]
        print(f"\npush of a {args.size_mb} MB file (median of {args.push_repeat})")
        print(
            render_table(
                ["TOOL", "SECONDS", "MB/s", "RATIO"],
                [[name, f"{sec:.2f}", f"{args.size_mb / sec:.0f}", f"{sec / base:.2f}x"] for name, sec in push],
            )
        )
        results.record(
            "bench-ssh-push",
            {
                "table": results.table(
                    ["TOOL", "SECONDS", "MB/s", "RATIO"],
                    [[name, f"{sec:.2f}", f"{args.size_mb / sec:.0f}", f"{sec / base:.2f}x"] for name, sec in push],
                )
            },
            peers=peers,
            notes=[f"a {args.size_mb} MB file to {args.host}, median of {args.push_repeat}; ratio = peer / k8sfs"],
        )
    finally:
        if not was_up:
            lab.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
