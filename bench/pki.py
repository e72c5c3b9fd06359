#!/usr/bin/env python3
"""Benchmark: the full PKI of a 3-host cluster (3 CAs, the service-account
pair, 11 leaf certificates, 7 kubeconfigs), made by k8sfs in process
against the Kubernetes-the-hard-way way: one openssl CLI command per key,
CSR and signature, and `kubectl config` commands for each kubeconfig, in
the same run (compare the ratios; this machine is noisy).

    python bench/pki.py [--rounds N] [--key-type ecdsa-p256|rsa-2048]

Both sides produce the same set of files with the same key type; the
openssl side gets the subjects, SANs and usages from k8sfs's table so that
both do the same work.

Then whole commands as a user runs them, each a new process: `k8sfs pki
init` against kubeadm's certificate and kubeconfig phases (kubeadm from
the artifact cache), with the same key type.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from k8sfs import _core, results
from k8sfs.artifacts import ArtifactCache
from k8sfs.spec import ClusterSpec
from k8sfs.table import render_table
from k8sfs.versions import LAB_KUBERNETES_VERSION


def spec(key_type: str):
    s = ClusterSpec()
    s.pki.key_type = key_type
    return s.pki_spec()


def run_k8sfs(pki_spec, directory: Path) -> None:
    _core.PkiStore(str(directory)).apply(pki_spec)


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def _genkey(key_type: str, path: Path) -> None:
    if key_type == "ecdsa-p256":
        _sh("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
    else:
        _sh(
            "openssl",
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            f"rsa_keygen_bits:{key_type.split('-')[1]}",
            "-out",
            str(path),
        )


def run_openssl(pki_spec, directory: Path, key_type: str, kubectl: str | None) -> None:
    """What KTHW's lab 04/05 do, for the same table."""
    cas: dict[str, tuple[Path, Path]] = {}
    for m in _core.cluster_materials(pki_spec):
        base = directory / m.path
        base.parent.mkdir(parents=True, exist_ok=True)
        key, crt = Path(f"{base}.key"), Path(f"{base}.crt")
        if m.kind == "ca":
            _genkey(key_type, key)
            _sh(
                "openssl",
                "req",
                "-x509",
                "-new",
                "-key",
                str(key),
                "-sha256",
                "-days",
                "3650",
                "-subj",
                f"/CN={m.common_name}",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign,cRLSign",
                "-out",
                str(crt),
            )
            cas[m.name] = (crt, key)
            continue
        if m.kind == "key pair":
            _genkey(key_type, key)
            _sh("openssl", "pkey", "-in", str(key), "-pubout", "-out", f"{base}.pub")
            continue
        if m.kind == "kubeconfig":
            key, crt = Path(f"{base}.key"), Path(f"{base}.crt")
        _genkey(key_type, key)
        subject = "".join(f"/O={o}" for o in m.organizations) + f"/CN={m.common_name}"
        csr = Path(f"{base}.csr")
        _sh("openssl", "req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
        eku = (
            "serverAuth,clientAuth"
            if m.name.startswith("etcd-server") or m.name.startswith("etcd-peer")
            else ("serverAuth" if m.name == "apiserver" or m.name.startswith("kubelet@") else "clientAuth")
        )
        ext = [
            "basicConstraints=critical,CA:FALSE",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            f"extendedKeyUsage={eku}",
            "subjectKeyIdentifier=hash",
            "authorityKeyIdentifier=keyid",
        ]
        sans = [f"DNS:{d}" for d in m.dns_names] + [f"IP:{i}" for i in m.ip_addresses]
        if sans:
            ext.append("subjectAltName=" + ",".join(sans))
        extfile = Path(f"{base}.ext")
        extfile.write_text("\n".join(ext) + "\n")
        ca_crt, ca_key = cas[{"etcd-ca": "etcd-ca", "front-proxy-ca": "front-proxy-ca"}.get(m.ca, "ca")]
        _sh(
            "openssl",
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(ca_crt),
            "-CAkey",
            str(ca_key),
            "-set_serial",
            str(int.from_bytes(os.urandom(15), "big")),
            "-days",
            "365",
            "-sha256",
            "-extfile",
            str(extfile),
            "-out",
            str(crt),
        )
        if m.kind == "kubeconfig" and kubectl:
            conf = str(base)
            cas_crt = str(cas["ca"][0])
            _sh(
                kubectl,
                "config",
                "set-cluster",
                "kubernetes",
                "--certificate-authority",
                cas_crt,
                "--embed-certs=true",
                "--server",
                m.server,
                "--kubeconfig",
                conf,
            )
            _sh(
                kubectl,
                "config",
                "set-credentials",
                m.common_name,
                "--client-certificate",
                str(crt),
                "--client-key",
                str(key),
                "--embed-certs=true",
                "--kubeconfig",
                conf,
            )
            _sh(
                kubectl,
                "config",
                "set-context",
                "default",
                "--cluster",
                "kubernetes",
                "--user",
                m.common_name,
                "--kubeconfig",
                conf,
            )
            _sh(kubectl, "config", "use-context", "default", "--kubeconfig", conf)


# kubeadm's certificate and kubeconfig phases for the walkthrough's
# control-plane host (kubeadm makes one node's material; k8sfs the whole
# cluster's, so ITEMS differ and the figures are per command, as a user runs them).
KUBEADM_CONFIG = """apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 192.168.50.10
nodeRegistration:
  name: k8s-master
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: {version}
encryptionAlgorithm: {algorithm}
certificatesDir: {directory}/pki
"""
KUBEADM_ALGORITHMS = {"ecdsa-p256": "ECDSA-P256", "rsa-2048": "RSA-2048", "rsa-4096": "RSA-4096"}


def run_k8sfs_cli(key_type: str, directory: Path) -> None:
    """`k8sfs pki init` as a user runs it: a new process, spec read from a file."""
    spec_file = directory / "cluster.yaml"
    spec_file.write_text(f"pki:\n  key_type: {key_type}\n")
    _sh(sys.executable, "-m", "k8sfs.cli", "pki", "init", "--spec", str(spec_file), "--dir", str(directory / "pki"))


def run_kubeadm(kubeadm: str, key_type: str, directory: Path) -> None:
    config = directory / "kubeadm.yaml"
    config.write_text(
        KUBEADM_CONFIG.format(
            version=LAB_KUBERNETES_VERSION, algorithm=KUBEADM_ALGORITHMS[key_type], directory=directory
        )
    )
    _sh(kubeadm, "init", "phase", "certs", "all", "--config", str(config))
    _sh(kubeadm, "init", "phase", "kubeconfig", "all", "--config", str(config), "--kubeconfig-dir", str(directory))


def median_time(fn, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as d:
            start = time.perf_counter()
            fn(Path(d))
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--key-type",
        action="append",
        choices=["ecdsa-p256", "rsa-2048", "rsa-4096"],
        help="repeatable (default: ecdsa-p256 and rsa-2048)",
    )
    args = parser.parse_args()
    kubectl_artifact = ArtifactCache().lookup("kubectl", LAB_KUBERNETES_VERSION)
    kubectl = str(kubectl_artifact.path) if kubectl_artifact else None
    if kubectl is None:
        print(
            "note: no kubectl in the artifact cache; the openssl side skips its kubectl config commands",
            file=sys.stderr,
        )
    rows = []
    for key_type in args.key_type or ["ecdsa-p256", "rsa-2048"]:
        s = spec(key_type)
        count = len(_core.cluster_materials(s))
        ours = median_time(lambda d, s=s: run_k8sfs(s, d), args.rounds)
        theirs_certs = median_time(lambda d, s=s, k=key_type: run_openssl(s, d, k, None), args.rounds)
        theirs_all = (
            median_time(lambda d, s=s, k=key_type: run_openssl(s, d, k, kubectl), args.rounds) if kubectl else None
        )
        rows.append(
            [
                key_type,
                count,
                f"{ours * 1000:.0f} ms",
                f"{theirs_certs * 1000:.0f} ms",
                f"{theirs_certs / ours:.1f}x",
                f"{theirs_all * 1000:.0f} ms" if theirs_all else "-",
                f"{theirs_all / ours:.1f}x" if theirs_all else "-",
            ]
        )
    print(
        render_table(
            ["KEYS", "ITEMS", "K8SFS (IN PROCESS)", "OPENSSL CLI", "RATIO", "OPENSSL + KUBECTL CONFIG", "RATIO"], rows
        )
    )
    print(f"\nmedian of {args.rounds} rounds, each into a fresh directory; ratio = peer time / k8sfs time")
    openssl = results.tool_version(["openssl", "version"])
    results.record(
        "bench-pki",
        {
            "table": results.table(
                ["KEYS", "ITEMS", "K8SFS (IN PROCESS)", "OPENSSL CLI", "RATIO", "OPENSSL + KUBECTL CONFIG", "RATIO"],
                rows,
            )
        },
        peers={"openssl": openssl},
        notes=[
            f"median of {args.rounds} rounds, each into a fresh directory; ratio = peer time / k8sfs time",
            "not like for like: k8sfs issues every item in one process (OpenSSL in process), the openssl CLI "
            "starts one process per key, request and signature; the like-for-like figure is bench-pki-processes",
        ],
    )

    kubeadm_artifact = ArtifactCache().lookup("kubeadm", LAB_KUBERNETES_VERSION)
    if kubeadm_artifact is None:
        print("\nno kubeadm in the artifact cache (make artifacts builds it): whole-command comparison skipped")
        return 0
    rows = []
    for key_type in args.key_type or ["ecdsa-p256", "rsa-2048"]:
        ours = median_time(lambda d, k=key_type: run_k8sfs_cli(k, d), args.rounds)
        theirs = median_time(lambda d, k=key_type: run_kubeadm(str(kubeadm_artifact.path), k, d), args.rounds)
        rows.append([key_type, f"{ours * 1000:.0f} ms", f"{theirs * 1000:.0f} ms", f"{theirs / ours:.2f}x"])
    print("\nWhole commands as processes: `k8sfs pki init` (3 hosts, 20 items) against kubeadm's")
    print("`init phase certs all` + `init phase kubeconfig all` (its control-plane host, 5 kubeconfigs)")
    print(render_table(["KEYS", "K8SFS PKI INIT", "KUBEADM PHASES", "RATIO"], rows))
    results.record(
        "bench-pki-processes",
        {"table": results.table(["KEYS", "K8SFS PKI INIT", "KUBEADM PHASES", "RATIO"], rows)},
        peers={"kubeadm": LAB_KUBERNETES_VERSION},
        notes=[
            "like for like: both are whole commands started as processes; `k8sfs pki init` makes 3 hosts' "
            "20 items, kubeadm's `init phase certs all` + `init phase kubeconfig all` its control-plane host's",
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
