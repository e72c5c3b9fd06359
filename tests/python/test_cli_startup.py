"""The CLI builds only the parser of the command it runs (start-up is most
of a short command's time), and still knows every command."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from k8sfs import cli


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


def test_the_table_names_exactly_the_commands_each_module_adds():
    for module, commands in cli.COMMAND_MODULES.items():
        parser = argparse.ArgumentParser()
        cli.add_module_parsers(parser.add_subparsers(), module)
        assert _commands(parser) == set(commands), module


def test_help_lists_every_command_and_a_command_line_gets_its_own():
    everything = _commands(cli.build_parser())
    assert everything == set(cli.BUILT_IN).union(*cli.COMMAND_MODULES.values())
    assert _commands(cli.build_parser("pki")) == {*cli.BUILT_IN, "pki"}
    out = subprocess.run([sys.executable, "-m", "k8sfs.cli", "--help"], capture_output=True, text=True, check=True)
    for command in ("pki", "verify", "artifacts", "plan", "lab", "demo"):
        assert f"    {command} " in out.stdout or f"    {command}\n" in out.stdout, command


def test_pki_init_imports_neither_the_engine_nor_the_artifacts(tmp_path):
    spec = tmp_path / "cluster.yaml"
    subprocess.run([sys.executable, "-m", "k8sfs.cli", "init", str(spec)], check=True, capture_output=True)
    argv = [sys.executable, "-X", "importtime", "-m", "k8sfs.cli", "pki", "init", "--spec", str(spec)]
    run = subprocess.run([*argv, "--dir", str(tmp_path / "pki")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "pki" / "pki" / "ca.crt").exists() and (tmp_path / "pki" / "admin.conf").exists()
    imported = {line.split("|")[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}
    assert "k8sfs.pki" in imported
    for heavy in ("k8sfs.cluster", "k8sfs.chapters", "k8sfs.artifacts", "k8sfs.engine.runner", "urllib.request"):
        assert heavy not in imported, heavy


def test_an_unknown_command_is_refused_with_the_list_of_commands():
    run = subprocess.run([sys.executable, "-m", "k8sfs.cli", "pkj", "init"], capture_output=True, text=True)
    assert run.returncode == 2
    assert "invalid choice: 'pkj'" in run.stderr and "pki" in run.stderr and "verify" in run.stderr


def test_hosts_at_once_must_be_a_positive_number():
    for bad in ("0", "-3", "many"):
        run = subprocess.run(
            [sys.executable, "-m", "k8sfs.cli", "plan", "--hosts-at-once", bad], capture_output=True, text=True
        )
        assert run.returncode == 2, bad
        assert "--hosts-at-once" in run.stderr, run.stderr


@pytest.mark.parametrize(
    "argv,says",
    [
        (["reset"], "removes Kubernetes from every host"),
        (["node", "remove", "node-2"], "drains node-2"),
        (["etcd", "restore", "/nonexistent/snapshot.db"], "replaces every member's data"),
    ],
)
def test_a_command_that_destroys_something_needs_yes_and_says_what_it_would_do(argv, says, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "k8sfs.cli", *argv, "--state", str(tmp_path)], capture_output=True, text=True
    )
    assert run.returncode == 2, run.stderr
    assert says in run.stderr and "add --yes to do it" in run.stderr
    assert not any(tmp_path.iterdir())  # nothing was written
