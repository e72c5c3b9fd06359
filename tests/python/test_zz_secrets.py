"""Last in the run (by name): nothing k8sfs printed or wrote beside a
cluster's state during the whole run holds key material: no private-key
PEM, no kubeconfig with its client key, no bearer token, no
secrets-at-rest key. The state of labs purged earlier was scanned before it
went (conftest.purge_lab)."""

from __future__ import annotations

from pathlib import Path

from conftest import OUTPUTS, SECRET_FINDINGS, SPEC_STATE, scan_state, secrets_in


def test_no_secrets_in_anything_k8sfs_printed_or_logged():
    states = [p for p in Path("/var/lib/k8sfs/clusters").glob("*") if p.is_dir()]
    states += [p for p in SPEC_STATE.glob("*") if p.is_dir()]
    keys = [k.read_text().strip() for s in states for k in s.glob("secrets/*") if k.is_file()]
    findings = list(SECRET_FINDINGS)
    for state in states:
        findings += scan_state(state)
    for i, output in enumerate(OUTPUTS):
        findings += secrets_in(output, f"output {i}: {output.splitlines()[0][:80]}", keys)
    print(f"scanned {len(OUTPUTS)} command outputs and {len(states)} state dirs (plus those purged earlier)")
    assert findings == []
    assert OUTPUTS, "no k8sfs command ran before this scan: it would prove nothing"
