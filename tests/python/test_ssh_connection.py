"""Connecting: host keys, authentication errors, unreachable hosts, dropped
connections and reconnects, against the lab's real sshd."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

import k8sfs
from k8sfs.lab import LabSafetyError

pytestmark = pytest.mark.lab


def _fingerprint(pubkey_line: str) -> str:
    proc = subprocess.run(["ssh-keygen", "-lf", "-"], input=pubkey_line, capture_output=True, text=True, check=True)
    return proc.stdout.split()[1]


def test_changed_host_key_is_refused_naming_both_fingerprints(lab, tmp_path):
    host = lab.host("node-1")
    real_line = next(
        line for line in lab.known_hosts_path.read_text().splitlines() if line.startswith(host.address + " ")
    )
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "impostor")], check=True)
    impostor = (tmp_path / "impostor.pub").read_text().split()
    known = tmp_path / "known_hosts"
    known.write_text(f"{host.address} {impostor[0]} {impostor[1]}\n")

    session = lab.session("node-1", known_hosts=str(known))
    with pytest.raises(k8sfs.HostKeyError) as info:
        session.exec("true")
    message = str(info.value)
    assert "node-1" in message and "CHANGED" in message
    assert _fingerprint(real_line.split(" ", 1)[1]) in message  # what the server offers
    assert _fingerprint(f"{impostor[0]} {impostor[1]}") in message  # what known_hosts records
    assert not session.is_connected

    # The same with hashed host names (HashKnownHosts yes).
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(known)], check=True, capture_output=True)
    assert host.address not in known.read_text()
    with pytest.raises(k8sfs.HostKeyError) as info:
        lab.session("node-1", known_hosts=str(known)).exec("true")
    assert _fingerprint(f"{impostor[0]} {impostor[1]}") in str(info.value)


def test_unknown_host_refused_when_strict_and_recorded_with_accept_new(lab, tmp_path):
    known = tmp_path / "known_hosts"
    with pytest.raises(k8sfs.HostKeyError, match="not in"):
        lab.session("node-2", known_hosts=str(known)).exec("true")
    assert not known.exists() or known.read_text() == ""

    with lab.session("node-2", known_hosts=str(known), host_key_policy="accept-new") as s:
        assert s.exec("hostname").stdout.strip() == "node-2"
    assert lab.host("node-2").address in known.read_text()
    # Now known: strict accepts it.
    with lab.session("node-2", known_hosts=str(known)) as s:
        assert s.exec("true").ok


def test_wrong_key_gives_auth_error_naming_what_was_tried(lab, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    session = lab.session("node-1", identity_files=[str(tmp_path / "other")])
    with pytest.raises(k8sfs.AuthError) as info:
        session.exec("true")
    assert str(tmp_path / "other") in str(info.value)
    assert "refused" in str(info.value)


def test_encrypted_key_with_passphrase(lab, tmp_path):
    key = tmp_path / "enc"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "s3cret-pass", "-f", str(key)], check=True)
    pub = (tmp_path / "enc.pub").read_text().strip()
    with lab.session("node-1") as admin:
        admin.exec(["sh", "-c", 'echo "$1" >> /root/.ssh/authorized_keys', "k8sfs", pub], check=True)
    try:
        with pytest.raises(k8sfs.AuthError) as info:
            lab.session("node-1", identity_files=[str(key)], key_passphrase="wrong").exec("true")
        assert "wrong passphrase" in str(info.value)
        assert "s3cret" not in str(info.value) and "wrong" not in str(info.value).replace("wrong passphrase", "")
        with lab.session("node-1", identity_files=[str(key)], key_passphrase="s3cret-pass") as s:
            assert s.exec("true").ok
    finally:
        with lab.session("node-1") as admin:
            admin.exec(["sed", "-i", f"\\|{pub.split()[1]}|d", "/root/.ssh/authorized_keys"], check=True)


def test_unreachable_host_names_host_and_what_was_tried(lab):
    # An unused address inside the lab subnet: routed via the lab bridge,
    # nobody answers.
    address = str(lab.network.network_address + 99)
    options = k8sfs.ConnectOptions(
        "ghost",
        hostname=address,
        user="root",
        ssh_config="none",
        connect_timeout=2,
        known_hosts=str(lab.known_hosts_path),
    )
    start = time.monotonic()
    with pytest.raises(k8sfs.ConnectError) as info:
        k8sfs.Session(options).exec("true")
    assert time.monotonic() - start < 15
    assert "ghost" in str(info.value) and f"root@{address}:22" in str(info.value)
    assert isinstance(info.value, ConnectionError)


def test_route_check_refuses_addresses_outside_the_lab(lab):
    from k8sfs.lab import check_route

    with pytest.raises(LabSafetyError, match="not through the lab bridge"):
        check_route("192.168.99.5", lab.bridge)


def _wait_for_port(address: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, 22), timeout=0.5) as s:
                if s.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"sshd on {address} did not come back")


def test_sshd_killed_mid_command_gives_clear_error_then_reconnects(lab):
    host = lab.host("node-2")
    with lab.session("node-2") as victim, lab.session("node-2") as admin:
        assert victim.exec("true").ok
        # A transient unit inside the host (independent of sshd) stops sshd,
        # kills every sshd process (so our connection drops), then starts it.
        admin.exec(
            [
                "systemd-run",
                "--unit",
                "k8sfs-test-sshd-restart",
                "--collect",
                "sh",
                "-c",
                "sleep 1; systemctl stop ssh.service; pkill -KILL -x sshd; sleep 2; systemctl start ssh.service",
            ],
            check=True,
        )
        start = time.monotonic()
        with pytest.raises(k8sfs.ConnectionLostError) as info:
            victim.exec("sleep 30", timeout=25)
        assert time.monotonic() - start < 20
        message = str(info.value)
        assert "node-2" in message and "lost" in message and "sleep 30" in message
        assert not victim.is_connected

        _wait_for_port(host.address)
        # The next call reopens the connection by itself.
        assert victim.exec("hostname").stdout.strip() == "node-2"
        assert victim.is_connected
        victim.reconnect()
        assert victim.exec("true").ok


def test_close_and_reconnect(master):
    assert master.exec("true").ok
    assert master.is_connected
    master.close()
    assert not master.is_connected
    master.reconnect()
    assert master.is_connected
    assert master.host_key_fingerprint.startswith("SHA256:")


def test_repr_and_errors_never_show_secrets(lab):
    options = k8sfs.ConnectOptions(
        "node-1",
        hostname=lab.host("node-1").address,
        user="root",
        password="hunter2-secret",
        sudo_password="sudo-secret",
        key_passphrase="pass-secret",
        identity_files=["/nonexistent/key"],
        known_hosts=str(lab.known_hosts_path),
        ssh_config="none",
        use_agent=False,
    )
    session = k8sfs.Session(options)
    text = repr(options) + repr(session)
    with pytest.raises(k8sfs.AuthError) as info:
        session.exec("true")
    text += str(info.value)
    for secret in ("hunter2-secret", "sudo-secret", "pass-secret"):
        assert secret not in text
    assert "password (refused)" in str(info.value)


def test_ssh_config_alias_is_honoured(lab, tmp_path):
    host = lab.host("k8s-master")
    config = tmp_path / "config"
    config.write_text(
        f"Host master-alias\n  HostName {host.address}\n  User root\n  IdentityFile {lab.key_path}\n"
        f"  UserKnownHostsFile {lab.known_hosts_path}\n"
    )
    with k8sfs.Session("master-alias", ssh_config=str(config), use_agent=False) as s:
        assert s.resolved.hostname == host.address
        assert s.exec("hostname").stdout.strip() == "k8s-master"


def test_proxyjump_goes_through_the_jump_host(lab, tmp_path):
    master, node2 = lab.host("k8s-master"), lab.host("node-2")
    with lab.session("node-2", proxy_jump=f"root@{master.address}") as s:
        # sshd on node-2 sees the connection coming from k8s-master.
        assert s.exec("echo $SSH_CONNECTION").stdout.split()[0] == master.address
    # The same from ~/.ssh/config.
    config = tmp_path / "config"
    config.write_text(
        f"Host behind\n  HostName {node2.address}\n  User root\n  ProxyJump root@{master.address}\n"
        f"  IdentityFile {lab.key_path}\n  UserKnownHostsFile {lab.known_hosts_path}\n"
    )
    with k8sfs.Session("behind", ssh_config=str(config), use_agent=False) as s:
        assert s.resolved.proxy_jump == f"root@{master.address}"
        assert s.exec("hostname").stdout.strip() == "node-2"


def test_proxyjump_checks_the_jump_hosts_key_too(lab, tmp_path):
    master = lab.host("k8s-master")
    # known_hosts knows the target (node-2) but not the jump host.
    known = tmp_path / "known_hosts"
    known.write_text(
        "".join(
            line + "\n"
            for line in lab.known_hosts_path.read_text().splitlines()
            if not line.startswith(master.address + " ")
        )
    )
    with pytest.raises(k8sfs.HostKeyError) as info:
        lab.session("node-2", proxy_jump=f"root@{master.address}", known_hosts=str(known)).exec("true")
    assert f"jump host {master.address}" in str(info.value)
