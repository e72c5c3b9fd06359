"""Vagrant hosts: `vagrant ssh-config` output (Vagrant's format, three
libvirt machines) parses into what Vagrant said; `k8sfs spec from-vagrant`
writes a spec and an ssh_config that check host keys, recording the keys
on first use. Nested KVM does not run guests on this machine, so the
machines behind the ssh-config here are the lab's hosts (real sshd), named
and reached the way Vagrant would print them; Vagrant itself is not run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import TEST_SUBNET, run_k8sfs
from k8sfs import vagrant

FIXTURE = Path(__file__).parent / "fixtures" / "vagrant" / "ssh-config.txt"
VAGRANTFILE = Path(__file__).parents[2] / "vagrant" / "Vagrantfile"


def test_vagrant_ssh_config_output_parses_to_what_vagrant_said():
    hosts = vagrant.parse_ssh_config(FIXTURE.read_text())
    assert [(h.name, h.hostname, h.user, h.port) for h in hosts] == [
        ("k8s-master", "192.168.121.148", "vagrant", 22),
        ("node-1", "192.168.121.37", "vagrant", 22),
        ("node-2", "192.168.121.201", "vagrant", 22),
    ]
    assert hosts[2].identity_files == ["/home/ana/my k8s/.vagrant/machines/node-2/libvirt/private_key"]
    assert [vagrant.roles_for(h.name) for h in hosts] == [["control-plane", "etcd"], ["worker"], ["worker"]]


def test_the_written_ssh_config_checks_host_keys_where_vagrants_did_not(tmp_path):
    text = vagrant.render_ssh_config(vagrant.parse_ssh_config(FIXTURE.read_text()), tmp_path / "known_hosts")
    assert "/dev/null" not in text and "StrictHostKeyChecking no" not in text
    assert text.count(f'UserKnownHostsFile "{tmp_path / "known_hosts"}"') == 3
    assert 'IdentityFile "/home/ana/my k8s/.vagrant/machines/node-2/libvirt/private_key"' in text


@pytest.mark.parametrize(
    "text,message",
    [
        ("  HostName 10.0.0.1\n", "line 1: 'HostName 10.0.0.1' before any Host line"),
        ("Host a\n  Port 99999\n  HostName 10.0.0.1\n", "line 2: Port '99999' is not a port number"),
        ("Host k8s-master\n  User vagrant\n", "host k8s-master: no HostName"),
        ("", "no Host entries"),
    ],
)
def test_bad_ssh_config_output_is_named(text, message):
    with pytest.raises(vagrant.VagrantError, match=message.replace("(", r"\(").replace("?", r"\?")):
        vagrant.parse_ssh_config(text)


def test_the_vagrantfile_has_the_walkthroughs_machines():
    text = VAGRANTFILE.read_text()
    for name, ip in (("k8s-master", "192.168.50.10"), ("node-1", "192.168.50.11"), ("node-2", "192.168.50.12")):
        assert f'name: "{name}"' in text and f'ip: "{ip}"' in text
    assert ":libvirt" in text
    if shutil.which("ruby"):
        subprocess.run(["ruby", "-c", str(VAGRANTFILE)], check=True, capture_output=True)


def _fake_vagrant(tmp_path: Path, lab) -> Path:
    """A `vagrant` that prints ssh-config in Vagrant's format for the lab's hosts."""
    blocks = []
    for h in lab.hosts:
        blocks.append(
            f"Host {h.name}\n  HostName {h.address}\n  User root\n  Port 22\n"
            "  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  PasswordAuthentication no\n"
            f"  IdentityFile {lab.key_path}\n  IdentitiesOnly yes\n  LogLevel FATAL\n"
        )
    output = tmp_path / "ssh-config.out"
    output.write_text("\n".join(blocks) + "\n")
    script = tmp_path / "vagrant"
    script.write_text(f'#!/bin/sh\n[ "$1" = ssh-config ] || exit 2\ncat {output}\n')
    script.chmod(0o755)
    return script


def _key_blobs(known_hosts: Path) -> set[str]:
    return {line.split()[-1] for line in known_hosts.read_text().splitlines() if line and not line.startswith("#")}


def test_from_vagrant_writes_a_spec_that_reaches_the_hosts_with_keys_checked(tmp_path, lab):
    fake = _fake_vagrant(tmp_path, lab)
    project = tmp_path / "project"
    project.mkdir()
    out = run_k8sfs(
        "spec", "from-vagrant", str(project), "-o", str(project / "cluster.yaml"), "--vagrant", str(fake),
        "--subnet", TEST_SUBNET, "--version", "v1.34.4", "--runtime", "crio",
    )  # fmt: skip
    data = yaml.safe_load((project / "cluster.yaml").read_text())
    assert [(h["name"], h["address"], h["roles"]) for h in data["hosts"]] == [
        (h.name, h.address, ["control-plane", "etcd"] if h.name == "k8s-master" else ["worker"]) for h in lab.hosts
    ]
    assert data["kubernetes_version"] == "v1.34.4" and data["runtime"]["name"] == "crio"
    # Each host's key was recorded, is the key the host really has, and was shown.
    recorded = project / ".k8sfs" / "known_hosts"
    assert _key_blobs(recorded) and _key_blobs(recorded) <= _key_blobs(lab.known_hosts_path)
    assert out.stderr.count("key SHA256:") == len(lab.hosts)
    # OpenSSH accepts the written files with strict checking.
    ssh = subprocess.run(
        [
            "ssh",
            "-F",
            data["ssh_config"],
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "node-1",
            "hostname",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ssh.returncode == 0, ssh.stderr
    assert ssh.stdout.strip() == "node-1"
    # k8sfs reaches every host through the spec alone.
    plan = run_k8sfs("plan", "--spec", str(project / "cluster.yaml"), check=False)
    assert "unreachable" not in (plan.stdout + plan.stderr).lower(), plan.stdout + plan.stderr
    # A changed key is refused, naming the host.
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    fake_blob = other.with_suffix(".pub").read_text().split()[1]
    lines = recorded.read_text().splitlines()
    node1 = next(h for h in lab.hosts if h.name == "node-1")
    recorded.write_text(
        "\n".join(
            (" ".join([line.split()[0], "ssh-ed25519", fake_blob]) if line.split()[0] == node1.address else line)
            for line in lines
        )
        + "\n"
    )
    refused = run_k8sfs("plan", "--spec", str(project / "cluster.yaml"), check=False)
    said = refused.stdout + refused.stderr
    assert "node-1" in said and "host key" in said.lower(), said


def test_from_vagrant_when_vagrant_fails_says_so_and_writes_nothing(tmp_path):
    script = tmp_path / "vagrant"
    script.write_text(
        "#!/bin/sh\n"
        "echo 'The provider for this Vagrant-managed machine is reporting that it is not yet ready' >&2\n"
        "exit 1\n"
    )
    script.chmod(0o755)
    out = run_k8sfs(
        "spec", "from-vagrant", str(tmp_path), "-o", str(tmp_path / "c.yaml"), "--vagrant", str(script), check=False
    )
    assert out.returncode != 0
    assert "ssh-config` in" in out.stderr and "not yet ready" in out.stderr
    assert not (tmp_path / "c.yaml").exists()
