"""The lab registry logs every request; at each start a log over the limit
becomes registry.log.1, so at most two are kept however long a lab lives.
(The registry itself, started and stopped, is in test_lab_registry.py.)"""

from __future__ import annotations

from k8sfs.lab.registry import rotate_log


def test_a_log_over_the_limit_moves_aside_and_replaces_the_one_before(tmp_path):
    log = tmp_path / "registry.log"
    assert rotate_log(log, limit=10) is False  # no log yet: nothing to do
    log.write_text("short\n")
    assert rotate_log(log, limit=10) is False and log.read_text() == "short\n"
    log.write_text("first long log\n")
    assert rotate_log(log, limit=10) is True
    assert not log.exists() and (tmp_path / "registry.log.1").read_text() == "first long log\n"
    log.write_text("second long log\n")
    assert rotate_log(log, limit=10) is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.log.1"]
    assert (tmp_path / "registry.log.1").read_text() == "second long log\n"
