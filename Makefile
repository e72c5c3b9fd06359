# k8sfs: the two commands of the README's quick start are `make demo` and
# `make test`; both install what they need first (scripts/deps.sh).
PYTHON ?= python3
CPP_BUILD := build/cpp

.PHONY: deps build artifacts cpp-test py-test lint format test demo bench clean lab-down
C_SOURCES = $(shell git ls-files 'cpp/*.cpp' 'cpp/*.h' 'bindings/*.cpp' 'tests/cpp/*.cpp')
PY_SOURCES = python tests/python bench scripts

deps:
	scripts/deps.sh

# Installs the package (the extension builds incrementally in build/).
build: deps
	$(PYTHON) -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-build-isolation .

# Kubernetes, etcd, crictl and CoreDNS binaries into ~/.cache/k8sfs/artifacts:
# the official releases when their site answers, else built from Go modules
# (about 7-20 minutes cold on 2 cores; cached afterwards). K8SFS_ARTIFACT_SOURCE
# = fetch | build forces one way.
artifacts: build
	k8sfs artifacts get

cpp-test: deps
	cmake -S . -B $(CPP_BUILD) -G Ninja -DK8SFS_BUILD_TESTS=ON -DK8SFS_BUILD_PYTHON=OFF >/dev/null
	cmake --build $(CPP_BUILD)
	ctest --test-dir $(CPP_BUILD) --output-on-failure

py-test: artifacts
	$(PYTHON) -m pytest -v -rs tests/python

# Style and types: ruff (lint and format), clang-format, mypy, and the
# _core type stub matching the built extension.
lint: build
	ruff check $(PY_SOURCES)
	ruff format --check $(PY_SOURCES)
	clang-format --dry-run --Werror $(C_SOURCES)
	mypy
	$(PYTHON) scripts/gen-stubs.py --check

format:
	ruff check --fix $(PY_SOURCES)
	ruff format $(PY_SOURCES)
	clang-format -i $(C_SOURCES)

# Everything: Catch2 unit tests through ctest, the style and type checks,
# then pytest (unit tests and the integration tests on labs of their own).
test: cpp-test lint py-test

# The main job as far as it exists today.
demo: build
	k8sfs demo

bench: artifacts
	$(PYTHON) bench/ssh_exec.py
	$(PYTHON) bench/pki.py
	$(PYTHON) bench/apply.py

lab-down:
	k8sfs lab down

clean:
	rm -rf build
