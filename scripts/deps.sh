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
  libssl-dev zlib1g-dev libfmt-dev nlohmann-json3-dev catch2
  # lab: hosts as systemd-nspawn containers on a bridge
  debootstrap systemd-container iproute2 iptables openssh-client
  # tests and benchmarks: OpenSSH's sftp client, the openssl CLI
  openssl
  # the lab's container images: a static busybox (k8sfs images)
  busybox-static
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
  "cryptography" "asyncssh" "fabric" "paramiko" "ansible-core" "pyyaml" \
  "jsonschema" "nbclient" "nbformat" "ipykernel" \
  "ruff==0.17.6" "mypy==2.4.1" "types-PyYAML" "pybind11-stubgen==3.0.0" "clang-format==23.1.3"

# Go builds the Kubernetes, etcd and crictl binaries from their modules
# (k8sfs artifacts build). These machines come with Go; 1.34 needs >= 1.24.
export PATH="$PATH:/usr/local/go/bin"
if ! go_version=$(go env GOVERSION 2>/dev/null); then
  echo "deps: Go is not installed (needed >= 1.24 for k8sfs artifacts build; see docs/artifacts.md)" >&2
  exit 1
fi
case "$go_version" in
  go1.2[4-9]*|go1.[3-9][0-9]*|go[2-9]*) ;;
  *) echo "deps: $go_version is too old; k8sfs artifacts build needs Go >= 1.24" >&2; exit 1 ;;
esac

# libssh 0.12 from Debian's source package (see docs/dependencies.md).
scripts/build-libssh.sh
