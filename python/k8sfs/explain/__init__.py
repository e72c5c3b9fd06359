"""Why each file k8sfs writes is there, and why each flag and field in it
has its value: the walkthrough's explanations as data.

The reasons live in explain/reasons/*.yaml, one file per component: for
each path, what the file is, its reference page, and for each key (a
unit's flag, a configuration's field) what it does, why k8sfs sets this
value and the upstream page, at the version k8sfs renders. A key may have
variants for ranges of minors (`minors: 21-26`) where its meaning moved.

`explain(path, text, values)` pairs every key the file carries
(explain/keys.py) with its reason; what has none is listed as
unexplained, and tests/python/test_explain.py renders every component at
every supported version and fails on any."""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from k8sfs.explain.keys import kind_of, settings

REFS = "refs.yaml"


@dataclass(frozen=True)
class Reason:
    key: str
    value: str
    what: str
    why: str
    ref: str  # a URL


@dataclass
class FileExplanation:
    path: str
    kind: str
    what: str = ""
    ref: str = ""
    reasons: list[Reason] = field(default_factory=list)
    unexplained: list[str] = field(default_factory=list)  # keys the file carries without a reason
    keys_explained: bool = True  # False: a file whose fields are not explained one by one


@functools.cache
def _tables() -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """The named reference pages, and every file's entry by path (or glob)."""
    folder = resources.files("k8sfs.explain") / "reasons"
    refs: dict[str, str] = {}
    files: dict[str, dict[str, Any]] = {}
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if not item.name.endswith(".yaml"):
            continue
        data = yaml.safe_load(item.read_text()) or {}
        if item.name == REFS:
            refs.update(data)
            continue
        for path, entry in data.items():
            if path in files:
                raise ValueError(f"explain/reasons/{item.name}: {path} is explained twice")
            files[path] = {**entry, "_source": item.name}
    return refs, files


def _entry(path: str) -> dict[str, Any] | None:
    _, files = _tables()
    if path in files:
        return files[path]
    patterns = sorted((p for p in files if any(c in p for c in "*?[")), key=len, reverse=True)
    return next((files[p] for p in patterns if fnmatch.fnmatchcase(path, p)), None)


def _minors(text: str) -> range:
    low, _, high = str(text).partition("-")
    return range(int(low), int(high or low) + 1)


def _variant(spec: Any, minor: int) -> dict[str, Any] | None:
    """The reason of a key at a minor: one dict, or the variant whose minors hold it."""
    if isinstance(spec, dict):
        return spec if "minors" not in spec or minor in _minors(spec["minors"]) else None
    return next((v for v in spec if "minors" not in v or minor in _minors(v["minors"])), None)


def resolve_ref(ref: str, values: dict[str, str]) -> str:
    """A named page (`kubelet-config`, `etcd-config#--name`) or a URL, with the versions filled in."""
    refs, _ = _tables()
    name, _, fragment = ref.partition("#")
    template = refs.get(name, name)
    url = template.format(**values) if "{" in template else template
    return url + (f"#{fragment}" if fragment else "")


def doc_values(kubernetes_version: str, runtime: str = "containerd") -> dict[str, str]:
    """The versions the reference links take: the docs of the minor k8sfs
    renders, the etcd, containerd and CRI-O releases that go with it."""
    from k8sfs import versions

    minor = versions.minor(kubernetes_version)
    etcd = versions.etcd_version(kubernetes_version)
    containerd = versions.CONTAINERD_2 if versions.containerd_from_artifacts(kubernetes_version) else "v1.6.20"
    return {
        "minor": str(minor),
        "k8s": f"https://v1-{minor}.docs.kubernetes.io/docs",
        "etcd": "v" + ".".join(etcd.lstrip("v").split(".")[:2]),
        "containerd": containerd,
        "crio": versions.crio_version(kubernetes_version),
        "local_path": versions.LOCAL_PATH_PROVISIONER_VERSION,
        "metrics_server": versions.METRICS_SERVER_VERSION,
        "runtime": runtime,
    }


def _api_version(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("apiVersion:"):
            return line.split(":", 1)[1].strip().rpartition("/")[2]
    return ""


def explain(path: str, text: str | None, values: dict[str, str]) -> FileExplanation:
    """What `path` is and a reason for each key `text` carries (`text` None:
    the content is not known yet, only the file is explained)."""
    entry = _entry(path)
    kind = kind_of(path)
    if entry is None:
        return FileExplanation(path, kind, unexplained=["(the file itself)"])
    here = {**values, "api": _api_version(text or "")}
    out = FileExplanation(
        path,
        kind,
        what=entry.get("what", ""),
        ref=resolve_ref(entry["ref"], here) if entry.get("ref") else "",
        keys_explained=entry.get("keys", {}) is not False,
    )
    if text is None or not out.keys_explained:
        return out
    minor = int(values.get("minor", "0"))
    table = entry.get("keys") or {}
    for key, value in settings(path, text):
        spec = table.get(key)
        reason = _variant(spec, minor) if spec is not None else None
        if reason is None:
            out.unexplained.append(key)
            continue
        ref = reason.get("ref", entry.get("ref", ""))
        out.reasons.append(
            Reason(key, value, reason["what"], reason["why"], resolve_ref(ref, here) if ref else out.ref)
        )
    return out


def all_entries() -> dict[str, dict[str, Any]]:
    """Every file's entry (for the tests of the data itself)."""
    return dict(_tables()[1])


def all_refs() -> dict[str, str]:
    return dict(_tables()[0])


__all__ = ["FileExplanation", "Reason", "all_entries", "all_refs", "doc_values", "explain", "kind_of", "resolve_ref"]
