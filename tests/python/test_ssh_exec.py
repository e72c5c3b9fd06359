"""exec over the libssh transport against real sshd on the lab hosts."""

from __future__ import annotations

import os
import threading
import time
import uuid

import pytest

import k8sfs

pytestmark = pytest.mark.lab


def test_exit_code_stdout_stderr(master):
    r = master.exec("echo out; echo err >&2; exit 7")
    assert (r.exit_code, r.stdout, r.stderr) == (7, "out\n", "err\n")
    assert not r.ok
    assert r.host == "k8s-master"
    assert r.elapsed > 0


def test_many_commands_share_one_connection(master):
    # The remote side sees the same TCP connection (client port) each time.
    ports = {master.exec("echo $SSH_CONNECTION").stdout.split()[1] for _ in range(5)}
    assert len(ports) == 1


def test_hostile_arguments_arrive_unchanged(master):
    hostile = ["it's", "$HOME", "`id`", "$(touch /tmp/pwned)", "a;b", "x\ny", "*", "", "-n", "ünï ✓", "\\"]
    r = master.exec(["printf", "%s\\0", *hostile])
    assert r.ok, r.stderr
    assert r.stdout.split("\0")[:-1] == hostile
    assert master.exec("test -e /tmp/pwned").exit_code == 1


def test_stdin_binary_roundtrip(master):
    data = os.urandom(3 * 1024 * 1024)
    r = master.exec("sha256sum | cut -c1-64", stdin=data)
    import hashlib

    assert r.stdout.strip() == hashlib.sha256(data).hexdigest()


def test_large_output_is_complete(master):
    r = master.exec("head -c 20000000 /dev/zero")
    assert len(r.stdout_bytes) == 20_000_000


def test_env_is_passed_quoted(master):
    r = master.exec('printf "%s" "$GREETING"', env={"GREETING": "hello 'world' $USER"})
    assert r.stdout == "hello 'world' $USER"


def test_lines_stream_while_the_command_runs(master):
    seen: list[tuple[float, str]] = []
    start = time.monotonic()
    r = master.exec(
        "echo first; sleep 1.5; echo second; echo oops >&2",
        on_stdout=lambda line: seen.append((time.monotonic() - start, line)),
        on_stderr=lambda line: seen.append((time.monotonic() - start, "E:" + line)),
    )
    assert r.ok
    assert [line for _, line in seen] == ["first", "second", "E:oops"]
    # "first" was delivered before the command slept, not when it ended.
    assert seen[0][0] < seen[1][0] - 1.0


def test_exception_in_callback_stops_the_command(master):
    marker = f"k8sfs-cb-{uuid.uuid4().hex[:8]}"

    def boom(line):
        raise ValueError("stop here")

    with pytest.raises(ValueError, match="stop here"):
        master.exec(f"echo go; sleep 60 # {marker}", on_stdout=boom, timeout=30)
    # The remote command was killed rather than left running.
    assert _count_processes(master, marker) == 0


def _count_processes(session, marker: str) -> int:
    # [x]yz keeps grep from matching its own command line.
    pattern = f"[{marker[0]}]{marker[1:]}"
    deadline = time.monotonic() + 5
    while True:
        count = int(session.exec(f"ps -eo args | grep -c -- '{pattern}' || true").stdout.strip())
        if count == 0 or time.monotonic() > deadline:
            return count
        time.sleep(0.1)


def test_timeout_kills_the_remote_command_and_says_so(master):
    marker = f"k8sfs-to-{uuid.uuid4().hex[:8]}"
    start = time.monotonic()
    with pytest.raises(k8sfs.TimeoutError) as info:
        master.exec(f"sh -c 'sleep 300; echo never' # {marker}", timeout=1)
    assert time.monotonic() - start < 10
    assert "k8s-master" in str(info.value) and "1s" in str(info.value) and "killed" in str(info.value)
    assert info.value.host == "k8s-master"
    assert isinstance(info.value, TimeoutError)  # also the builtin, for except TimeoutError
    # Both the shell and its child sleep are gone.
    assert _count_processes(master, marker) == 0
    # And the connection is still usable.
    assert master.exec("true").ok


def test_check_raises_command_error_with_stderr_tail(master):
    with pytest.raises(k8sfs.CommandError) as info:
        master.exec("echo line1 >&2; echo the-real-reason >&2; exit 3", check=True)
    assert info.value.exit_code == 3
    assert "the-real-reason" in str(info.value)
    assert "exit code 3" in str(info.value)


def test_sudo_as_root_runs_directly(master):
    assert master.exec("id -u", sudo=True).stdout.strip() == "0"


def test_session_is_safe_to_share_between_threads(master):
    errors = []

    def worker(n):
        try:
            for i in range(10):
                r = master.exec(f"echo {n}-{i}")
                assert r.stdout == f"{n}-{i}\n"
        except Exception as error:  # noqa: BLE001 - collected for the assert below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
