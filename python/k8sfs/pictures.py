"""Pictures where people would rather look than read: the cluster's
topology, the PKI as a tree, a timeline of the last apply, and the path of
a request to a Service through kube-proxy's rules. Graphs are
drawn by Graphviz (the `dot` program, through the graphviz package), the
timeline by matplotlib; each is an SVG that Jupyter shows inline and the
CLI writes (`k8sfs picture ... --svg FILE | --html FILE`)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from k8sfs import _core
from k8sfs.service_rules import ServicePath
from k8sfs.spec import ClusterSpec
from k8sfs.state_paths import StateLayout

CONTROL, WORKER, CA, LEAF, FILE = "#dbe8f7", "#e3f1df", "#f7e3c6", "#f4f4f4", "#ffffff"
EXPIRING = "#f4b6b6"  # a certificate within pki.expiry_warning_days of expiry


@dataclass
class Picture:
    title: str
    svg: str

    def _repr_svg_(self) -> str:
        return self.svg

    def html(self) -> str:
        return (
            f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{escape(self.title)}</title></head>"
            f"<body><h1>{escape(self.title)}</h1>\n{self.svg}\n</body></html>\n"
        )

    def save(self, path: Path) -> Path:
        path.write_text(self.html() if path.suffix in (".html", ".htm") else self.svg)
        return path


def _graph(title: str, rankdir: str = "TB") -> Any:
    import graphviz

    g = graphviz.Digraph(
        title,
        graph_attr={"rankdir": rankdir, "fontname": "Helvetica", "label": title, "labelloc": "t", "fontsize": "16"},
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica", "fontsize": "10"},
        edge_attr={"fontname": "Helvetica", "fontsize": "8", "color": "#777777"},
    )
    return g


def _svg(graph: Any) -> str:
    return graph.pipe(format="svg").decode()


def _pod_ranges(spec: ClusterSpec) -> dict[str, str]:
    return spec.pod_subnets()


def topology(spec: ClusterSpec, states: dict[str, str] | None = None) -> Picture:
    """Hosts with their roles, components, addresses and pod ranges, and who
    talks to whom (kubelets and kube-proxy to the API, the API to etcd)."""
    runtime = spec.runtime.name
    pods = _pod_ranges(spec)
    g = _graph(f"cluster {spec.cluster_name}: Kubernetes {spec.kubernetes_version}")
    for h in spec.hosts:
        parts = []
        if h.etcd:
            parts.append("etcd")
        if h.control_plane:
            parts += ["kube-apiserver", "controller-manager", "scheduler"]
        if h.worker:
            parts += [runtime, "kubelet", "kube-proxy", f"pods {pods[h.name]}"]
        state = f"\n[{states[h.name]}]" if states and h.name in states else ""
        label = f"{h.name}\n{h.address}\n{', '.join(h.roles)}\n\n" + "\n".join(parts) + state
        g.node(h.name, label, fillcolor=CONTROL if h.control_plane else WORKER)
    planes = [h.name for h in spec.hosts if h.control_plane]
    for group in (planes, [h.name for h in spec.hosts if h.worker and not h.control_plane]):
        with g.subgraph() as same:
            same.attr(rank="same")
            for name in group:
                same.node(name)
    for h in spec.hosts:
        if h.worker:
            for i, p in enumerate(planes):
                g.edge(h.name, p, "kubelet, kube-proxy → :6443" if i == 0 else "")
    etcd = [h.name for h in spec.hosts if h.etcd]
    for i, a in enumerate(etcd):
        for b in etcd[i + 1 :]:
            g.edge(a, b, "etcd peers :2380", dir="none", style="dashed")
    g.attr(
        label=f"cluster {spec.cluster_name}: Kubernetes {spec.kubernetes_version}; services {spec.service_cidr}, "
        f"pods {spec.pod_cidr}"
    )
    return Picture(f"Topology of {spec.cluster_name}", _svg(g))


def pki_tree(spec: ClusterSpec, days_left: dict[str, int] | None = None) -> Picture:
    """CA → what it signs → which host holds which file. With `days_left`
    (pki.days_left: an issued PKI), each certificate shows its days left
    and those within pki.expiry_warning_days of expiry are red."""
    g = _graph(f"PKI of {spec.cluster_name}", rankdir="LR")
    materials = list(_core.cluster_materials(spec.pki_spec()))
    for m in materials:
        kind = str(m.kind)
        color = CA if "CertificateAuthority" in kind or m.name.endswith("ca") else LEAF
        label = m.name + (f"\nCN={m.common_name}" if m.common_name else "")
        if days_left is not None and m.name in days_left:
            label += f"\n{days_left[m.name]} days left"
            if days_left[m.name] < spec.pki.expiry_warning_days:
                color = EXPIRING
        g.node(f"m-{m.name}", label, fillcolor=color)
        if m.ca:
            g.edge(f"m-{m.ca}", f"m-{m.name}")
    for h in spec.hosts:
        g.node(
            f"h-{h.name}", f"{h.name}\n{h.address}", shape="folder", fillcolor=CONTROL if h.control_plane else WORKER
        )
    for m in materials:
        hosts = sorted({f.host for f in m.files})
        for host in hosts:
            paths = [f.remote for f in m.files if f.host == host]
            g.edge(f"m-{m.name}", f"h-{host}", "\n".join(Path(p).name for p in paths), color="#bbbbbb")
    return Picture(f"PKI of {spec.cluster_name}", _svg(g))


def timeline(record: dict[str, Any]) -> Picture:
    """The last apply: one row per host, a bar per step that did work,
    coloured by chapter, so what was slow and what ran in parallel shows."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    # Text stays text (searchable, readable by screen readers); no timestamp in the file.
    pyplot.rcParams["svg.fonttype"] = "none"
    steps = [s for s in record["steps"] if s.get("changed", True) and s.get("ended", 0) > s.get("started", 0)]
    start = record["started"]
    hosts = list(dict.fromkeys(s["host"] for s in record["steps"]))
    chapters = list(dict.fromkeys(s["chapter"] for s in steps))
    colors = pyplot.get_cmap("tab20")
    figure, axes = pyplot.subplots(figsize=(11, 1 + 0.6 * max(1, len(hosts))))
    for s in steps:
        row = hosts.index(s["host"])
        axes.broken_barh(
            [(s["started"] - start, s["ended"] - s["started"])],
            (row - 0.35, 0.7),
            color=colors(chapters.index(s["chapter"]) % 20),
            edgecolor="white",
        )
    axes.set_yticks(range(len(hosts)), hosts)
    axes.invert_yaxis()
    axes.set_xlabel("seconds since the apply started")
    axes.set_title(
        f"apply of {record.get('cluster', '')}: {record['ended'] - start:.1f} s, {len(steps)} steps did work"
    )
    handles = [matplotlib.patches.Patch(color=colors(i % 20), label=c) for i, c in enumerate(chapters)]
    if handles:
        axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    figure.tight_layout()
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata={"Date": None})
    pyplot.close(figure)
    return Picture(f"Last apply of {record.get('cluster', '')}", out.getvalue())


def service_path(path: ServicePath) -> Picture:
    """A request to a Service from a pod on each worker: that node's
    KUBE-SERVICES rule, the Service's chain, one chain per endpoint with its
    share of new connections, and the pod (and node) its DNAT leads to.
    Read from the nodes' real rules (service_rules.gather)."""
    title = f"a request to {path.namespace}/{path.name} ({path.cluster_ip}:{path.port}), as kube-proxy's rules send it"
    g = _graph(title, rankdir="LR")
    pods_drawn: set[str] = set()
    for node, chain in path.per_node.items():
        client = f"client-{node}"
        g.node(client, f"a pod on {node}\nconnects to {path.cluster_ip}:{path.port}", fillcolor=WORKER)
        if chain is None:
            g.node(f"none-{node}", f"{node}: no rule for the Service\n(kube-proxy has not synced it)", fillcolor=CA)
            g.edge(client, f"none-{node}")
            continue
        g.node(f"svc-{node}", f"{node}: nat KUBE-SERVICES\n-d {path.cluster_ip} --dport {path.port}", fillcolor=LEAF)
        g.node(f"chain-{node}", f"{node}: {chain.service_chain}", fillcolor=LEAF)
        g.edge(client, f"svc-{node}")
        g.edge(f"svc-{node}", f"chain-{node}")
        for e in chain.endpoints:
            g.node(f"sep-{node}-{e.chain}", f"{e.chain}\nDNAT → {e.destination}", fillcolor=FILE)
            g.edge(f"chain-{node}", f"sep-{node}-{e.chain}", f"{e.share:.0%} of new connections")
            address = e.destination.rsplit(":", 1)[0]
            pod, where = path.pods.get(address, ("a pod k8sfs could not name", "?"))
            key = f"pod-{address}"
            if key not in pods_drawn:
                pods_drawn.add(key)
                g.node(key, f"{pod}\n{address}\non {where}", fillcolor=WORKER, shape="box3d")
            g.edge(f"sep-{node}-{e.chain}", key)
    return Picture(title, _svg(g))


def applies_since(state_dir: Path, since: float) -> dict[str, Any]:
    """The applies that started at or after `since` (epoch seconds) as one
    record for timeline(): a notebook applies chapter by chapter."""
    path = StateLayout(Path(state_dir)).applies
    records = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    records = [r for r in records if r["started"] >= since]
    if not records:
        raise ValueError(f"{path}: no apply started after {since:.0f}")
    return {
        "cluster": records[0]["cluster"],
        "started": records[0]["started"],
        "ended": records[-1]["ended"],
        "steps": [step for r in records for step in r["steps"]],
    }


def last_apply(state_dir: Path) -> dict[str, Any]:
    path = StateLayout(Path(state_dir)).last_apply
    if not path.exists():
        raise ValueError(f"{path} does not exist: no apply has finished for this cluster yet")
    record: dict[str, Any] = json.loads(path.read_text())
    return record
