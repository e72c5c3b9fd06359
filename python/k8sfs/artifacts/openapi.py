"""The OpenAPI definitions that older k8s.io/kubernetes modules lack.

kube-apiserver and kube-controller-manager import
`k8s.io/kubernetes/pkg/generated/openapi`, whose `zz_generated.openapi.go`
the release build generated with openapi-gen before compiling. Before it
was committed to the source tree (v1.21.6's module has only doc.go), a
build from the module stops at `undefined:
generatedopenapi.GetOpenAPIDefinitions`. This generates the file the same
way (openapi-gen at the version kubernetes's go.mod pins, over every
package that carries a `+k8s:openapi-gen=` tag) into a writable copy of the
module, which the build then uses through a `replace`. The module cache is
never written.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

GENERATED = "pkg/generated/openapi/zz_generated.openapi.go"
TAG = "+k8s:openapi-gen="
SKIPPED_PARTS = {"vendor", "testdata", "test", "hack", "cmd"}

Go = Callable[[list[str], Path, dict[str, str], Path], str]


def tagged_packages(module_dir: Path, import_path: str) -> list[str]:
    """Import paths of the packages in a module that carry an openapi-gen tag."""
    found = set()
    for path in module_dir.rglob("*.go"):
        rel = path.relative_to(module_dir)
        if path.name.endswith("_test.go") or SKIPPED_PARTS & set(rel.parts[:-1]):
            continue
        try:
            if TAG in path.read_text(errors="replace"):
                found.add("/".join([import_path, *rel.parts[:-1]]))
        except OSError:
            continue
    return sorted(found)


def pinned_version(gomod: str, module: str) -> str:
    m = re.search(rf"^\s*{re.escape(module)}\s+(v\S+)", gomod, re.M)
    if not m:
        raise ValueError(f"{module} is not required in k8s.io/kubernetes's go.mod")
    return m.group(1)


def prepare(version: str, go: Go, progress: Callable[[str], None]) -> Callable[[Path, dict[str, str], Path], str]:
    """A build_module hook: "" when the module has the file, else the
    `replace` line that points the build at a copy that has it."""

    def run(work_dir: Path, env: dict[str, str], log: Path) -> str:
        info = json.loads(go(["mod", "download", "-json", f"k8s.io/kubernetes@{version}"], work_dir, env, log))
        module_dir = Path(info["Dir"])
        if (module_dir / GENERATED).exists():
            return ""
        progress(f"generating {GENERATED} (the {version} module lacks it) with openapi-gen")
        upstream = Path(info["GoMod"]).read_text()
        tools = work_dir / "openapi-gen-tool"
        tools.mkdir(exist_ok=True)
        pinned = pinned_version(upstream, "k8s.io/kube-openapi")
        (tools / "go.mod").write_text(f"module k8sfs.local/openapi-gen\n\nrequire k8s.io/kube-openapi {pinned}\n")
        gen = work_dir / "openapi-gen"
        go(["build", "-o", str(gen), "k8s.io/kube-openapi/cmd/openapi-gen"], tools, env, log)
        packages = tagged_packages(module_dir, "k8s.io/kubernetes")
        staging = re.findall(r"^\s*(\S+)\s+=>\s+\./staging/src/\S+", upstream, re.M)
        for module in staging:
            try:
                staged = json.loads(go(["mod", "download", "-json", f"{module}@v0.{version[3:]}"], work_dir, env, log))
            except RuntimeError:  # a sample module the proxy does not serve; no command imports it
                continue
            packages += tagged_packages(Path(staged["Dir"]), module)
        out = work_dir / "openapi-out"
        shutil.rmtree(out, ignore_errors=True)
        proc = subprocess.run(
            [
                str(gen),
                "--input-dirs",
                ",".join(packages),
                "--output-package",
                "k8s.io/kubernetes/pkg/generated/openapi",
                "--output-file-base",
                "zz_generated.openapi",
                "--go-header-file",
                str(module_dir / "hack" / "boilerplate" / "boilerplate.generatego.txt"),
                "--output-base",
                str(out),
                "--report-filename",
                str(out / "violations.report"),
            ],
            cwd=work_dir,
            env=env,
            capture_output=True,
            text=True,
        )
        with open(log, "a") as f:
            f.write(f"$ openapi-gen ({len(packages)} packages)\n{proc.stderr[-4000:]}\n")
        generated = out / "k8s.io" / "kubernetes" / GENERATED
        if proc.returncode != 0 or not generated.exists():
            raise RuntimeError(f"openapi-gen failed (exit {proc.returncode}); see {log}")
        source = work_dir / "kubernetes-src"
        if not (source / GENERATED).exists():
            shutil.rmtree(source, ignore_errors=True)
            shutil.copytree(module_dir, source, symlinks=True)
            for path in [source, *source.rglob("*")]:  # the module cache's copies are read-only
                if not path.is_symlink():
                    path.chmod(path.stat().st_mode | stat.S_IWUSR)
            shutil.copyfile(generated, source / GENERATED)
        return "replace k8s.io/kubernetes => ./kubernetes-src\n"

    return run
