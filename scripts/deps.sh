#!/usr/bin/env bash
# Installs everything k8sfs needs to build, test, benchmark and run its lab
# on a fresh Debian bookworm machine (as root). Idempotent and quick when
# everything is already there. Used by `make deps` (and so by make demo,
# make test and .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"

apt_packages=(
  # build
  build-essential cmake ninja-build pkg-config dpkg-dev
  # the Makefile compiles through ccache when it is there (fresh clones rebuild fast)
  ccache
  libssl-dev zlib1g-dev libfmt-dev nlohmann-json3-dev catch2
  # CRI-O is built with cgo for seccomp
  libseccomp-dev
  # lab: hosts as systemd-nspawn containers on a bridge
  debootstrap systemd-container iproute2 iptables openssh-client
  # tests and benchmarks: OpenSSH's sftp client, the openssl CLI, parallel-ssh
  openssl pssh
  # verify conformance: the tools inside the suite's agnhost and dnsutils images
  netcat-openbsd curl bind9-dnsutils bash iproute2
  # the lab's container images: a static busybox (k8sfs images); podman
  # for `k8sfs image push --daemon podman` (its save needs no daemon)
  busybox-static podman
  # pictures: Graphviz draws the topology and the PKI tree
  graphviz
  # the book's test reads its pages in headless Chromium, as a reader would
  chromium
  # make fuzz: libFuzzer with clang
  clang-14 libclang-rt-14-dev
)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python build and test tools (PyPI: newer pybind11 and scikit-build-core
# than Debian's; cryptography checks our certificates independently;
# all must match the interpreter that runs k8sfs).
"$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore \
  "scikit-build-core>=0.10" "pybind11>=2.12" "pytest>=7" "pytest-timeout" \
  "cryptography" "bcrypt" "asyncssh" "fabric" "paramiko" "ansible-core" "pyyaml" \
  "jsonschema" "nbclient" "nbformat" "ipykernel" "nbconvert" "pygments" "graphviz" "matplotlib" "hypothesis" \
  "ruff==0.17.6" "mypy==2.4.1" "types-PyYAML" "pybind11-stubgen==3.0.0" "clang-format==23.1.3"

# Go is needed only to build the binaries from their modules (where the
# release sites cannot be reached, as on the lab machines); fetching the
# official releases needs none. K8SFS_ARTIFACT_SOURCE=build makes Go required.
export PATH="$PATH:/usr/local/go/bin"
source="${K8SFS_ARTIFACT_SOURCE:-auto}"
go_hint="get Go >= 1.24 from https://go.dev/dl/ (unpack it into /usr/local/go) or from Debian bookworm-backports"
go_problem=""
if ! go_version=$(go env GOVERSION 2>/dev/null); then
  go_problem="Go is not installed"
else
  case "$go_version" in
    go1.2[4-9]*|go1.[3-9][0-9]*|go[2-9]*) ;;
    *) go_problem="$go_version is too old (Kubernetes 1.33+ needs Go >= 1.24)" ;;
  esac
fi
if [ -n "$go_problem" ]; then
  if [ "$source" = build ]; then
    echo "deps: $go_problem, and K8SFS_ARTIFACT_SOURCE=build builds from Go modules: $go_hint" >&2
    exit 1
  fi
  echo "deps: $go_problem: artifacts will only be fetched from the release sites (k8sfs artifacts get);" \
       "to build them where those cannot be reached, $go_hint" >&2
fi

# libssh 0.12 from Debian's source package (see docs/dependencies.md).
scripts/build-libssh.sh
