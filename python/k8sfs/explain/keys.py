"""The settings a file k8sfs writes carries, as (key, value) pairs, by
the file's kind: the flags of a systemd unit's ExecStart, the fields of a
YAML configuration (dotted), the keys of a TOML file (dotted, tables
included), the fields of a CNI configuration (each plugin by its type),
and sysctl and module lines. What these keys are, and why k8sfs sets each
value, is in the reasons (explain/reasons/*.yaml)."""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import yaml

from k8sfs._core import layout

CRIO_DROP_INS = layout.CRIO_CONFIG.rsplit("/", 1)[0] + "/"  # /etc/crio/crio.conf.d/

KINDS = ("unit", "yaml", "toml", "json", "shell", "sysctl", "modules", "pem", "text")


def kind_of(path: str) -> str:
    """How a file is read (and highlighted)."""
    name = path.rsplit("/", 1)[-1]
    if name.endswith((".service", ".socket", ".timer")) or ".service.d/" in path:
        return "unit"
    if (
        name.endswith((".yaml", ".yml"))
        or name in ("config", "kubelet.conf", "admin.conf")
        or path.endswith(".kube/config")
    ):
        return "yaml"
    if path.startswith("/etc/kubernetes/") and name.endswith(".conf") and "/cni/" not in path:
        return "yaml"  # kubeconfigs
    if name.endswith(".toml") or path.startswith(CRIO_DROP_INS) or name == "registries.conf":
        return "toml"
    if name.endswith((".conflist", ".json")) or (path.startswith("/etc/cni/net.d/") and name.endswith(".conf")):
        return "json"
    if path.startswith("/etc/sysctl.d/"):
        return "sysctl"
    if path.startswith("/etc/modules-load.d/"):
        return "modules"
    if name.endswith((".crt", ".key", ".pub", ".pem")):
        return "pem"
    if name.endswith(".sh") or path.startswith(("/usr/local/sbin/", "/usr/local/bin/")):
        return "shell"
    return "text"


def unit_flags(text: str) -> list[tuple[str, str]]:
    """The `--flag=value` words of ExecStart (one per continued line)."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        if not line.startswith("ExecStart="):
            continue
        for word in line.split()[1:]:
            if word.startswith("--"):
                name, _, value = word.partition("=")
                out.append((name, value))
    return out


def _flatten(value: Any, prefix: str, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        if not value and prefix:
            out.append((prefix, "{}"))
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
        for item in value:
            _flatten(item, f"{prefix}[]", out)
    else:
        out.append((prefix, json.dumps(value) if not isinstance(value, str) else value))


def yaml_fields(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for doc in yaml.safe_load_all(text):
        if isinstance(doc, dict):
            _flatten({k: v for k, v in doc.items() if k not in ("apiVersion", "kind")}, "", out)
    return out


def toml_keys(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    _flatten(tomllib.loads(text), "", out)
    return out


def cni_fields(text: str) -> list[tuple[str, str]]:
    """A CNI network: its own fields, then each plugin's as plugins[TYPE].field."""
    doc = json.loads(text)
    out: list[tuple[str, str]] = []
    plugins = doc.pop("plugins", None)
    if plugins is None and "type" in doc:  # a single-plugin .conf
        plugins = [{k: doc.pop(k) for k in list(doc) if k not in ("cniVersion", "name")}]
    _flatten(doc, "", out)
    for plugin in plugins or []:
        kind = plugin.get("type", "?")
        _flatten({k: v for k, v in plugin.items() if k != "type"}, f"plugins[{kind}]", out)
    return out


def sysctl_lines(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            key, _, value = line.partition("=")
            out.append((key.strip(), value.strip()))
    return out


def module_lines(text: str) -> list[tuple[str, str]]:
    return [(line.strip(), "") for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def settings(path: str, text: str) -> list[tuple[str, str]]:
    """The (key, value) pairs of a file, by its kind ([] for kinds without keys)."""
    kind = kind_of(path)
    if kind == "unit":
        return unit_flags(text)
    if kind == "yaml":
        return yaml_fields(text)
    if kind == "toml":
        return toml_keys(text)
    if kind == "json":
        return cni_fields(text) if path.startswith("/etc/cni/") else []
    if kind == "sysctl":
        return sysctl_lines(text)
    if kind == "modules":
        return module_lines(text)
    return []
