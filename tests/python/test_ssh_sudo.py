"""sudo for a non-root login: never hangs on a password prompt."""

from __future__ import annotations

import subprocess
import time

import pytest

pytestmark = pytest.mark.lab

USER = "k8sadmin"
PASSWORD = "Sudo-Pass-42"


@pytest.fixture(scope="module")
def admin_user(lab, tmp_path_factory):
    """A non-root user on node-1 with a key, a password, and sudo rights
    that require the password."""
    key = tmp_path_factory.mktemp("sudo") / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    pub = (key.parent / "id.pub").read_text().strip()
    with lab.session("node-1") as root:
        root.exec(
            [
                "sh",
                "-c",
                'id "$1" >/dev/null 2>&1 || useradd -m -s /bin/sh "$1"; '
                'echo "$1:$2" | chpasswd; mkdir -p "/home/$1/.ssh"; echo "$3" > "/home/$1/.ssh/authorized_keys"; '
                'chown -R "$1:$1" "/home/$1/.ssh"; chmod 700 "/home/$1/.ssh"; '
                'echo "$1 ALL=(ALL) ALL" > /etc/sudoers.d/k8sfs-test; chmod 440 /etc/sudoers.d/k8sfs-test',
                "k8sfs",
                USER,
                PASSWORD,
                pub,
            ],
            check=True,
        )
    yield key
    with lab.session("node-1") as root:
        root.exec(["sh", "-c", 'rm -f /etc/sudoers.d/k8sfs-test; userdel -r "$1" 2>/dev/null; true', "k8sfs", USER])


def test_without_sudo_password_fails_at_once_instead_of_hanging(lab, admin_user):
    with lab.session("node-1", user=USER, identity_files=[str(admin_user)]) as s:
        assert s.exec("id -un").stdout.strip() == USER
        start = time.monotonic()
        r = s.exec("id -u", sudo=True, timeout=30)
        assert time.monotonic() - start < 10
        assert r.exit_code != 0
        assert "password is required" in r.stderr


def test_with_sudo_password_runs_as_root_and_keeps_stdin(lab, admin_user):
    with lab.session("node-1", user=USER, identity_files=[str(admin_user)], sudo_password=PASSWORD) as s:
        r = s.exec("id -u; cat", sudo=True, stdin=b"payload\n", timeout=30)
        assert r.ok, r.stderr
        assert r.stdout == "0\npayload\n"
        assert PASSWORD not in r.stdout + r.stderr


def test_put_with_sudo_places_a_root_owned_file(lab, admin_user):
    with lab.session("node-1", user=USER, identity_files=[str(admin_user)], sudo_password=PASSWORD) as s:
        result = s.put_content(
            "root-only\n", "/etc/k8sfs-sudo-test/conf", mode=0o600, owner="root", group="root", sudo=True
        )
        assert result.changed
        assert not s.put_content(
            "root-only\n", "/etc/k8sfs-sudo-test/conf", mode=0o600, owner="root", group="root", sudo=True
        ).changed
    with lab.session("node-1") as root:
        r = root.exec(
            "stat -c '%a %U' /etc/k8sfs-sudo-test/conf; cat /etc/k8sfs-sudo-test/conf; "
            "ls -A /tmp | grep -c k8sfs-put || true"
        )
        assert r.stdout.splitlines() == ["600 root", "root-only", "0"]
        root.exec("rm -rf /etc/k8sfs-sudo-test")
