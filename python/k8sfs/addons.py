"""The add-ons a spec may list (`addons:`), each a chapter after the
walkthrough's (chapters/addons.py), and the artifact each one runs. Kept
apart so that reading a spec imports nothing heavy."""

from __future__ import annotations

# add-on -> the artifact it needs (built from its Go module, never fetched)
ADDONS = {"local-path": "local-path-provisioner", "metrics": "metrics-server"}
