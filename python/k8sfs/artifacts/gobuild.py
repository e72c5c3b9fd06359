"""Build Kubernetes and cri-tools binaries from their Go modules.

This is how the lab gets real binaries without download sites: a small
wrapper module requires k8s.io/kubernetes at the wanted version, pins every
staging module (k8s.io/api, k8s.io/client-go, ...) to the matching v0.X.Y
with replace lines (the ones k8s.io/kubernetes points at ./staging in its
own go.mod), and `go build`s the commands with the version stamped in, so
`kubelet --version` prints the real version instead of v0.0.0-master.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from k8sfs.artifacts import catalog, openapi

CRITOOLS_COMMANDS = ("crictl",)

Progress = Callable[[str], None]


class BuildError(RuntimeError):
    """A go command failed; the message names the command and its stderr tail."""


GO_MISSING = (
    "go is not installed: building artifacts needs Go >= 1.24 (https://go.dev/dl/ into /usr/local/go, "
    "or Debian bookworm-backports); or fetch the official releases: k8sfs artifacts get --source fetch"
)


def _ticking(proc: subprocess.Popen, what: str) -> None:
    """Waits for `proc`; on a terminal, shows the seconds so a long build looks alive."""
    if not sys.stderr.isatty():
        proc.wait()
        return
    started = time.monotonic()
    while proc.poll() is None:
        sys.stderr.write(f"\r  {what}: {time.monotonic() - started:4.0f} s")
        sys.stderr.flush()
        try:
            proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
    sys.stderr.write("\r" + " " * (len(what) + 12) + "\r")


def _go(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> str:
    go = shutil.which("go", path=env["PATH"])
    if go is None:
        raise BuildError(GO_MISSING)
    with open(log, "a") as out:
        out.write(f"$ go {' '.join(args)}\n")
        out.flush()
        with tempfile.TemporaryFile("w+") as captured:
            proc = subprocess.Popen([go, *args], cwd=cwd, env=env, stdout=captured, stderr=subprocess.STDOUT, text=True)
            _ticking(proc, f"go {' '.join(args[:2])}")
            captured.seek(0)
            output = captured.read()
        out.write(output)
    if proc.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise BuildError(
            f"go {' '.join(args[:3])} ... failed (exit {proc.returncode}) in {cwd}; full log: {log}\n{tail}"
        )
    return output


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    if shutil.which("go", path=env.get("PATH")) is None:  # the usual place when PATH lacks it
        env["PATH"] = env.get("PATH", "") + ":/usr/local/go/bin"
    env.setdefault("CGO_ENABLED", "0")
    env["GOFLAGS"] = "-mod=mod -buildvcs=false"
    env.setdefault("GOTOOLCHAIN", "local")
    return env


def staging_replaces(kubernetes_gomod: str) -> list[str]:
    """Module paths that k8s.io/kubernetes's go.mod points at ./staging."""
    return re.findall(r"^\s*(\S+)\s+=>\s+\./staging/src/\S+", kubernetes_gomod, re.M)


def module_replaces(gomod: str) -> list[str]:
    """The go.mod's replace directives that point at another module version
    (`old [v] => new v`), not at a local directory. A replace binds only in
    the main module, so a wrapper that builds this module repeats them."""
    bodies = re.findall(r"^replace\s*\(\n(.*?)^\)", gomod, re.M | re.S)
    lines = [line.strip() for body in bodies for line in body.splitlines()]
    lines += re.findall(r"^replace\s+([^(\s].*)$", gomod, re.M)
    return [
        line
        for line in lines
        if "=>" in line
        and len(line.split("=>", 1)[1].split()) == 2
        and not line.split("=>", 1)[1].strip().startswith((".", "/"))
    ]


def go_directives(gomod: str) -> list[str]:
    """The `go` and `godebug` lines, carried over so the build behaves as upstream's."""
    return re.findall(r"^(?:go|godebug)\s+\S.*$", gomod, re.M)


def _version_ldflags(version: str) -> str:
    m = re.match(r"v(\d+)\.(\d+)\.\d+", version)
    if not m:
        raise ValueError(f"kubernetes version {version!r} is not of the form vMAJOR.MINOR.PATCH")
    values = {
        "gitVersion": version,
        "gitMajor": m.group(1),
        "gitMinor": m.group(2),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
    }
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X '{pkg}.{k}={v}'" for k, v in values.items()]
    return " ".join(flags)


def build_kubernetes(
    version: str,
    out_dir: Path,
    work_dir: Path,
    commands: tuple[str, ...] = catalog.KUBERNETES,
    progress: Progress = print,
) -> dict[str, Path]:
    """Build `commands` of k8s.io/kubernetes@version into out_dir."""
    return build_module(
        "k8s.io/kubernetes",
        version,
        [f"k8s.io/kubernetes/cmd/{c}" for c in commands],
        out_dir,
        work_dir,
        _version_ldflags(version),
        progress,
        pin_staging=True,
        prepare=openapi.prepare(version, _go, progress),
    )


def build_kubernetes_tests(
    version: str, out_dir: Path, work_dir: Path, progress: Progress = print, names: tuple[str, ...] = ()
) -> dict[str, Path]:
    """What `k8sfs verify conformance` runs, from k8s.io/kubernetes@version:
    e2e.test (the e2e package's test binary, as `go test -c` makes it),
    agnhost (the suite's many-purpose test server, put into an image),
    nnp (the program of the suite's nonewprivs image) and e2e-images (the
    image names the suite uses, as JSON). `names`: which of them are wanted
    (all by default); the small programs are built in any case, since the
    module set-up they share is needed anyway."""
    names = names or ("e2e.test", "agnhost", "nnp", "e2e-images")
    ldflags = _version_ldflags(version)
    built = build_module(
        "k8s.io/kubernetes",
        version,
        ["k8s.io/kubernetes/test/images/agnhost", "k8s.io/kubernetes/test/images/nonewprivs"],
        out_dir,
        work_dir,
        ldflags,
        progress,
        pin_staging=True,
        prepare=openapi.prepare(version, _go, progress),
    )
    built["nnp"] = built.pop("nonewprivs")
    env, log = _go_env(), work_dir / "build.log"
    if "e2e.test" in names:
        # -t: the requirements of the package's tests too (ginkgo, gomega, ...).
        _go(["get", "-t", f"k8s.io/kubernetes/test/e2e@{version}"], work_dir, env, log)
        start = time.monotonic()
        progress(f"building e2e.test {version} (go test -c; the largest binary here)")
        tmp = work_dir / ".e2e.test.tmp"
        argv = ["test", "-c", "-trimpath", "-ldflags", ldflags, "-o", str(tmp), "k8s.io/kubernetes/test/e2e"]
        _go(argv, work_dir, env, log)
        dest = out_dir / "e2e.test"
        shutil.move(tmp, dest)
        dest.chmod(0o755)
        built["e2e.test"] = dest
        progress(f"built e2e.test in {time.monotonic() - start:.0f} s")
    if "e2e-images" in names:
        # The image names this version's suite uses, from its own table.
        source = module_source_dir("k8s.io/kubernetes", version, work_dir)
        table = e2e_image_names((source / "test/utils/image/manifest.go").read_text())
        (out_dir / "e2e-images").write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
        built["e2e-images"] = out_dir / "e2e-images"
    return built


def module_source_dir(module: str, version: str, work_dir: Path) -> Path:
    """Where the go command keeps module@version's source (read-only),
    downloading it first when it is not in the module cache."""
    env, log = _go_env(), work_dir / "build.log"
    work_dir.mkdir(parents=True, exist_ok=True)
    if not (work_dir / "go.mod").exists():
        (work_dir / "go.mod").write_text("module k8sfs.local/build\n")
    return Path(json.loads(_go(["mod", "download", "-json", f"{module}@{version}"], work_dir, env, log))["Dir"])


def build_ginkgo(kubernetes_version: str, out_dir: Path, work_dir: Path, progress: Progress = print) -> dict[str, Path]:
    """Ginkgo's CLI, which runs e2e.test in parallel processes, at the
    version k8s.io/kubernetes@kubernetes_version requires: the CLI and the
    library compiled into e2e.test must match."""
    env, log = _go_env(), work_dir / "build.log"
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "go.mod").write_text("module k8sfs.local/build\n")
    (work_dir / "go.sum").unlink(missing_ok=True)
    info = json.loads(_go(["mod", "download", "-json", f"k8s.io/kubernetes@{kubernetes_version}"], work_dir, env, log))
    version = required_version(Path(info["GoMod"]).read_text(), GINKGO_MODULE)
    return build_module(GINKGO_MODULE, version, [f"{GINKGO_MODULE}/ginkgo"], out_dir, work_dir, progress=progress)


def build_sample_apiserver(
    kubernetes_version: str, out_dir: Path, work_dir: Path, progress: Progress = print
) -> dict[str, Path]:
    """k8s.io/sample-apiserver, the aggregated API server the suite's
    Aggregator spec deploys, at the release that goes with this Kubernetes
    (v0.<minor>.<patch>; upstream's image builds an older one the same way)."""
    version = "v0." + kubernetes_version[len("v1.") :]
    return build_module(
        "k8s.io/sample-apiserver", version, ["k8s.io/sample-apiserver"], out_dir, work_dir, progress=progress
    )


GINKGO_MODULE = "github.com/onsi/ginkgo/v2"


def required_version(gomod: str, module: str) -> str:
    """The version of `module` a go.mod requires (in a require block or on a
    require line of its own)."""
    found = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", gomod, re.M)
    if not found:
        raise BuildError(f"the go.mod does not require {module}")
    return found.group(1)


def e2e_image_names(manifest_go: str) -> dict[str, str]:
    """test/utils/image/manifest.go's default registries and image configs
    as {"Agnhost": "registry.k8s.io/e2e-test-images/agnhost:2.56", ...}."""
    registries = {
        name[0].lower() + name[1:]: value
        for name, value in re.findall(r'^\s*(\w+Registry):\s*"([^"]+)"', manifest_go, re.M)
    }
    out = {}
    pattern = r'configs\[(\w+)\]\s*=\s*Config\{(?:list\.)?(\w+),\s*"([^"]+)",\s*"([^"]+)"\}'
    for key, registry, name, tag in re.findall(pattern, manifest_go):
        registry = registry[0].lower() + registry[1:]
        if registry in registries:
            out[key] = f"{registries[registry]}/{name}:{tag}"
    return out


# Modules the checksum database has no entry for, pinned here instead: the
# go.sum lines (module zip, go.mod) k8sfs verifies them against, taken from
# the module proxy once and reviewed in this file like any other change.
PINNED_SUMS = {
    # CRI-O for Kubernetes 1.21, the walkthrough's runtime.
    ("github.com/cri-o/cri-o", "v1.21.0"): (
        "h1:DbfDGdckTJmWJbt8TkEc3MomhpGfoMXoX08BktlXd+k=",
        "h1:IRUQ7f0jF+S0zTlOZz5p5lRIMIxi0tuQ9hlb8FvW6ic=",
    ),
    ("github.com/aquasecurity/kube-bench", "v0.14.0"): (
        "h1:LBt4OyzKIDP654v+IWtfbeCG40Q+mhdbBnXZRuewpvY=",
        "h1:f2yV6jN7eug4JJOGYDxpu4RxSOb4VbEE//8b+7Yqwqc=",
    ),
}


def _pinned_sum_lines(module: str, version: str) -> list[str]:
    pinned = PINNED_SUMS.get((module, version))
    if not pinned:
        return []
    return [f"{module} {version} {pinned[0]}", f"{module} {version}/go.mod {pinned[1]}"]


def build_module(
    module: str,
    version: str,
    packages: list[str],
    out_dir: Path,
    work_dir: Path,
    ldflags: str = "-s -w",
    progress: Progress = print,
    pin_staging: bool = False,
    upstream_sums: bool = False,
    upstream_replaces: bool = False,
    tags: list[str] | None = None,
    cgo: bool = False,
    stubs: tuple[str, ...] = (),
    extra_replaces: tuple[str, ...] = (),
    prepare: Callable[[Path, dict[str, str], Path], str] | None = None,
) -> dict[str, Path]:
    """Build `packages` of module@version through a small wrapper module.

    `prepare(work_dir, env, log)` runs once the modules are resolved; what it
    returns is appended to the wrapper's go.mod (a `replace`).

    With `pin_staging` (k8s.io/kubernetes), every module that the upstream
    go.mod points at ./staging is replaced by its v0.<minor>.<patch> release.
    With `upstream_sums`, the wrapper's go.sum starts as the module's own
    go.sum (verified by the go command with the module itself), so every
    dependency is checked against the hashes its maintainers pinned, also
    those the checksum database has no entry for; nothing is unverified.
    With `upstream_replaces`, the module's own replace directives to other
    module versions are repeated in the wrapper (CRI-O 1.21 pins Kubernetes'
    staging modules that way). `stubs`: module paths replaced by an empty
    local module (see CRIO_GRAPH_STUBS); `extra_replaces`: more replace
    directives (see CRIO_GO_FIXES)."""
    env = _go_env()
    if cgo:
        env["CGO_ENABLED"] = "1"
    work_dir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = work_dir / "build.log"
    pinned = _pinned_sum_lines(module, version)
    if pinned:  # go mod download checks a module's go.sum before the checksum database
        (work_dir / "go.mod").write_text("module k8sfs.local/build\n")
        (work_dir / "go.sum").write_text("\n".join(pinned) + "\n")
    info = json.loads(_go(["mod", "download", "-json", f"{module}@{version}"], work_dir, env, log))
    upstream = Path(info["GoMod"]).read_text()
    lines = ["module k8sfs.local/build", "", *go_directives(upstream), "", f"require {module} {version}", ""]
    replaces = [*(module_replaces(upstream) if upstream_replaces else []), *extra_replaces]
    for stub in stubs:  # an empty module of that path: needs no download, no checksum
        (work_dir / "stubs" / stub).mkdir(parents=True, exist_ok=True)
        (work_dir / "stubs" / stub / "go.mod").write_text(f"module {stub}\n")
        replaces.append(f"{stub} => ./stubs/{stub}")
    if replaces:
        lines += ["replace (", *(f"\t{r}" for r in replaces), ")", ""]
    if pin_staging:
        minor_patch = version[len("v1.") :]
        lines += ["replace (", *(f"\t{mod} => {mod} v0.{minor_patch}" for mod in staging_replaces(upstream)), ")", ""]
    (work_dir / "go.mod").write_text("\n".join(lines))
    (work_dir / "go.sum").unlink(missing_ok=True)
    if upstream_sums:
        shutil.copyfile(Path(info["Dir"]) / "go.sum", work_dir / "go.sum")
    if pinned:
        with open(work_dir / "go.sum", "a") as sums:
            sums.write("\n".join(pinned) + "\n")
    progress(f"resolving modules for {module} {version}")
    # @version on each package: a bare `go get pkg` would upgrade to the newest release.
    _go(["get", *(f"{p}@{version}" for p in packages)], work_dir, env, log)
    if prepare:
        extra = prepare(work_dir, env, log)
        if extra:
            with open(work_dir / "go.mod", "a") as gomod:
                gomod.write("\n" + extra)
    return _build(packages, version, out_dir, work_dir, env, log, ldflags, progress, tags or [])


# Modules in CRI-O 1.21's module graph (Go 1.15: no graph pruning) that no
# proxy serves any more, reached only through its release tooling's
# dependencies and never compiled into crio: an empty local module stands
# in, so the graph resolves. Were one compiled in, the build would fail.
CRIO_GRAPH_STUBS = ("vbom.ml/util",)
# Dependencies of old CRI-O releases that break at run time when built with
# a newer Go, raised to the first release that fixes it (no-ops where the
# module already requires that or later):
# - reflect2 before 1.0.2 walks Go's map internals as of Go 1.17 and
#   crashed CRI-O 1.21 at its first RunPodSandbox (nil pointer in
#   maps.(*Iter).Next via json-iterator).
CRIO_GO_FIXES = ("github.com/modern-go/reflect2 => github.com/modern-go/reflect2 v1.0.2",)


def build_crio(version: str, out_dir: Path, work_dir: Path, progress: Progress = print) -> dict[str, Path]:
    """CRI-O with cgo for seccomp (libseccomp-dev), the Go OpenPGP code
    instead of gpgme, and no btrfs, ostree, SELinux or AppArmor: what a
    Debian host without those needs. Its own go.sum seeds the wrapper's.
    Also pinns, the small static C program in the same module that CRI-O
    runs to pin a pod's namespaces, built with the system's compiler."""
    ldflags = f"-s -w -X 'github.com/cri-o/cri-o/internal/version.Version={version.lstrip('v')}'"
    tags = [
        "containers_image_ostree_stub",
        "containers_image_openpgp",
        "seccomp",
        "exclude_graphdriver_btrfs",
        "exclude_graphdriver_devicemapper",
        "btrfs_noversion",
    ]
    built = build_module(
        "github.com/cri-o/cri-o",
        version,
        ["github.com/cri-o/cri-o/cmd/crio"],
        out_dir,
        work_dir,
        ldflags,
        progress,
        upstream_sums=True,
        upstream_replaces=True,
        tags=tags,
        cgo=True,
        stubs=CRIO_GRAPH_STUBS,
        extra_replaces=CRIO_GO_FIXES,
    )
    info = json.loads(
        _go(
            ["mod", "download", "-json", f"github.com/cri-o/cri-o@{version}"],
            work_dir,
            _go_env(),
            work_dir / "build.log",
        )
    )
    sources = sorted(str(p) for p in (Path(info["Dir"]) / "pinns" / "src").glob("*.c"))
    cc = shutil.which("cc") or "cc"
    progress(f"building pinns {version}")
    proc = subprocess.run(
        [cc, "-std=c99", "-Os", "-static", "-s", "-o", str(out_dir / "pinns"), *sources], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise BuildError(f"building pinns failed: {proc.stderr.strip()[-800:]}")
    built["pinns"] = out_dir / "pinns"
    return built


def build_containerd(version: str, out_dir: Path, work_dir: Path, progress: Progress = print) -> dict[str, Path]:
    """containerd 2, its runc shim and ctr, static (no cgo): no btrfs
    snapshotter, which needs cgo and btrfs headers; overlayfs is the one
    the CRI plugin uses. runc itself comes from the host's packages."""
    module = "github.com/containerd/containerd/v2"
    ldflags = f"-s -w -X '{module}/version.Version={version}'"
    return build_module(
        module,
        version,
        [f"{module}/cmd/{name}" for name in catalog.CONTAINERD],
        out_dir,
        work_dir,
        ldflags,
        progress,
        tags=["no_btrfs", "no_devmapper", "no_zfs"],
    )


def build_kube_bench(version: str, out_dir: Path, work_dir: Path, progress: Progress = print) -> dict[str, Path]:
    """kube-bench (the CIS Kubernetes Benchmark checker) and its check
    definitions: the module's cfg/ folder as a tarball (kube-bench-cfg).
    Its own go.sum seeds the wrapper's (some of its dependencies have no
    checksum-database entry)."""
    module = "github.com/aquasecurity/kube-bench"
    ldflags = f"-s -w -X '{module}/cmd.KubeBenchVersion={version}'"
    built = build_module(module, version, [module], out_dir, work_dir, ldflags, progress, upstream_sums=True)
    info = json.loads(
        _go(["mod", "download", "-json", f"{module}@{version}"], work_dir, _go_env(), work_dir / "build.log")
    )
    cfg = out_dir / "kube-bench-cfg"
    with tarfile.open(cfg, "w:gz") as tar:
        # Fixed owner and mtime: the same definitions give the same digest.
        def normalized(info: tarfile.TarInfo) -> tarfile.TarInfo:
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            info.mode = 0o755 if info.isdir() else 0o644
            return info

        for path in sorted((Path(info["Dir"]) / "cfg").rglob("*")):
            tar.add(path, arcname=str(path.relative_to(info["Dir"])), recursive=False, filter=normalized)
    built["kube-bench-cfg"] = cfg
    return built


def build_registry(version: str, out_dir: Path, work_dir: Path, progress: Progress = print) -> dict[str, Path]:
    """The lab's image registry: CNCF distribution's `registry` command.
    Its own go.sum seeds the wrapper's."""
    module = "github.com/distribution/distribution/v3"
    ldflags = f"-s -w -X '{module}/version.version={version}'"
    return build_module(
        module, version, [f"{module}/cmd/registry"], out_dir, work_dir, ldflags, progress, upstream_sums=True
    )


def build_critools(version: str, out_dir: Path, work_dir: Path, progress: Progress = print) -> dict[str, Path]:
    ldflags = f"-s -w -X 'sigs.k8s.io/cri-tools/pkg/version.Version={version}'"
    return build_module(
        "sigs.k8s.io/cri-tools", version, ["sigs.k8s.io/cri-tools/cmd/crictl"], out_dir, work_dir, ldflags, progress
    )


def command_name(package: str) -> str:
    """The binary a package builds: its last path element that is not a major-version suffix."""
    parts = [p for p in package.split("/") if not re.fullmatch(r"v\d+", p)]
    return {"server": "etcd"}.get(parts[-1], parts[-1])


def _build(
    packages: list[str],
    version: str,
    out_dir: Path,
    work_dir: Path,
    env: dict[str, str],
    log: Path,
    ldflags: str,
    progress: Progress,
    tags: list[str],
) -> dict[str, Path]:
    built: dict[str, Path] = {}
    for pkg in packages:
        name = command_name(pkg)
        start = time.monotonic()
        progress(f"building {name} {version}")
        tmp = work_dir / f".{name}.tmp"
        tag_args = ["-tags", ",".join(tags)] if tags else []
        _go(["build", "-trimpath", *tag_args, "-ldflags", ldflags, "-o", str(tmp), pkg], work_dir, env, log)
        dest = out_dir / name
        shutil.move(tmp, dest)  # same filesystem: the cache never holds half a binary
        dest.chmod(0o755)
        built[name] = dest
        progress(f"built {name} in {time.monotonic() - start:.0f} s")
    return built
