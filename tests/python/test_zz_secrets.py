"""Last in the run (by name): nothing any command printed during the whole
run (every subprocess the tests started: k8sfs with every subcommand,
kubectl through k8sfs, exec, pki, verify, etcd restore; the notebooks'
outputs), and nothing k8sfs wrote beside a cluster's state (logs, journal,
last-apply, lock), holds key material: no private-key PEM, no kubeconfig
with its client key, no bearer token, no secrets-at-rest key. The state of
labs purged earlier was scanned before it went (conftest.purge_lab). It
runs in make test and in make test-long (marker `scan`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import DELIBERATE, OUTPUTS, SCANNED, SECRET_FINDINGS, SPEC_STATE, measured, scan_state, secrets_in

pytestmark = pytest.mark.scan


def test_no_secrets_in_anything_k8sfs_printed_or_logged():
    states = [p for p in Path("/var/lib/k8sfs/clusters").glob("*") if p.is_dir()]
    states += [p for p in SPEC_STATE.glob("*") if p.is_dir()]
    keys = [k.read_text().strip() for s in states for k in s.glob("secrets/*") if k.is_file()]
    findings = list(SECRET_FINDINGS)
    for state in states:
        findings += scan_state(state)
    for i, output in enumerate(OUTPUTS):
        findings += secrets_in(output, f"output {i}: {output.splitlines()[0][:120]}", keys)
    scanned = sum(len(o) for o in OUTPUTS)
    measured(
        "secrets scan",
        f"{len(OUTPUTS)} command outputs ({scanned} bytes) and {SCANNED['files']} state files "
        f"({SCANNED['bytes']} bytes) scanned; {len(DELIBERATE)} outputs that print a key on purpose not scanned",
    )
    assert findings == []
    assert any(o.startswith(("k8sfs", "/")) or "k8sfs.cli" in o.splitlines()[0] for o in OUTPUTS), (
        "no k8sfs command ran before this scan: it would prove nothing"
    )
