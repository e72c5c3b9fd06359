# k8sfs: the two commands of the README's quick start are `make demo` and
# `make test`; both install what they need first (scripts/deps.sh).
PYTHON ?= python3
CPP_BUILD := build/cpp

# Every C/C++ build (ctest, sanitizers, fuzzers, the extension pip builds)
# goes through ccache, so a fresh clone on a warm machine (CI) recompiles
# nothing that an earlier build of the same sources compiled. Paths are
# hashed relative to the checkout, so the cache holds across clones.
ifneq ($(shell command -v ccache),)
export CMAKE_C_COMPILER_LAUNCHER ?= ccache
export CMAKE_CXX_COMPILER_LAUNCHER ?= ccache
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= 1
endif

.PHONY: book notebooks test-long test-versions conformance deps build artifacts cpp-test cpp-sanitize py-test lint format test demo bench fuzz clean lab-down fuzz-short fuzz-spec
C_SOURCES = $(shell git ls-files 'cpp/*.cpp' 'cpp/*.h' 'bindings/*.cpp' 'tests/cpp/*.cpp' 'tests/fuzz/*.cpp')
PY_SOURCES = python tests/python bench scripts

deps:
	scripts/deps.sh

# Installs the package (the extension builds incrementally in build/).
build: deps
	$(PYTHON) -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-build-isolation .

# Kubernetes, etcd, crictl, CoreDNS (and for the CRI-O test crio and pinns;
# for verify cis kube-bench; for verify conformance e2e.test and agnhost;
# for the add-ons local-path-provisioner and metrics-server; helm)
# binaries into ~/.cache/k8sfs/artifacts:
# the official releases when their site answers, else built from Go modules
# (about 7-20 minutes cold on 2 cores; cached afterwards). K8SFS_ARTIFACT_SOURCE
# = fetch | build forces one way.
# The upgrade test and notebook 07 start from UPGRADE_FROM (the newest 1.33
# whose staging modules the module proxy serves here).
UPGRADE_FROM ?= v1.33.13
artifacts: build
	k8sfs artifacts get --runtime crio
	k8sfs artifacts get --version $(UPGRADE_FROM)
	k8sfs artifacts build kube-bench kube-bench-cfg e2e.test agnhost nnp e2e-images sample-apiserver ginkgo registry \
		local-path-provisioner metrics-server helm

cpp-test: deps
	cmake -S . -B $(CPP_BUILD) -G Ninja -DK8SFS_BUILD_TESTS=ON -DK8SFS_BUILD_PYTHON=OFF -DK8SFS_WERROR=ON >/dev/null
	cmake --build $(CPP_BUILD)
	ctest --test-dir $(CPP_BUILD) --output-on-failure

# A skip whose reason is not on conftest.ALLOWED_SKIPS fails the run; the
# last line says passed / skipped / failed.
py-test: artifacts
	K8SFS_STRICT_SKIPS=1 K8SFS_RESULTS_NAME=make-test K8SFS_RESULTS_COMMAND="make test" \
	  $(PYTHON) -m pytest -v -rs --durations=30 -m "not long" tests/python

# The Catch2 suite once more, built with AddressSanitizer and
# UndefinedBehaviorSanitizer; any report fails it.
cpp-sanitize: deps
	cmake -S . -B build/sanitize -G Ninja -DK8SFS_BUILD_TESTS=ON -DK8SFS_BUILD_PYTHON=OFF \
	  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" >/dev/null
	cmake --build build/sanitize
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build/sanitize --output-on-failure

# libFuzzer (clang) on the parsers of text a user or a host controls:
# ssh_config, known_hosts, PEM, kubeconfig, remote command output. Each
# target runs FUZZ_SECONDS with its corpus in build/fuzz/corpus; a crash or
# sanitizer report fails it (the input is kept in build/fuzz/).
FUZZ_SECONDS ?= 60
FUZZERS = fuzz_ssh_config fuzz_known_hosts fuzz_pem fuzz_kubeconfig fuzz_remote_output
fuzz: deps
	CC=clang-14 CXX=clang++-14 cmake -S . -B build/fuzz -G Ninja -DK8SFS_BUILD_FUZZERS=ON -DK8SFS_BUILD_PYTHON=OFF \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" \
	  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
	cmake --build build/fuzz --target $(FUZZERS)
	@for f in $(FUZZERS); do mkdir -p build/fuzz/corpus/$$f build/fuzz/findings; \
	  build/fuzz/tests/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=build/fuzz/findings/$$f- build/fuzz/corpus/$$f > build/fuzz/$$f.log 2>&1; status=$$?; \
	  echo "$$f: $(FUZZ_SECONDS) s, $$(sed -n 's/^stat::number_of_executed_units: *//p' build/fuzz/$$f.log) executions, exit $$status"; \
	  if [ $$status -ne 0 ]; then tail -40 build/fuzz/$$f.log; exit 1; fi; \
	done

# The spec loader under 10^5 generated specs (about 45 minutes here).
fuzz-spec: build
	$(PYTHON) bench/spec_fuzz.py --examples 100000

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
test: cpp-test cpp-sanitize lint fuzz-short py-test

# The longer suites make test leaves out (pytest -m long): the HA cluster
# of five hosts (roll, dead worker, etcd restore, restart), apply killed at
# ten random points, notebooks 06 and 07.
test-long: artifacts
	K8SFS_STRICT_SKIPS=1 K8SFS_RESULTS_NAME=make-test-long K8SFS_RESULTS_COMMAND="make test-long" \
	  $(PYTHON) -m pytest -v -rs --durations=30 -m "long or scan" tests/python

# Every version and runtime k8sfs claims, each a lab cluster from scratch
# through the smoke test (scripts/version-matrix.py; builds what is missing).
test-versions: build
	$(PYTHON) scripts/version-matrix.py

# The whole [Conformance] suite on a lab cluster of its own (docs/conformance.md).
conformance: artifacts
	$(PYTHON) scripts/conformance-suite.py --parallel 4

# The fuzz targets for a short while (the longer run is make fuzz).
fuzz-short:
	$(MAKE) fuzz FUZZ_SECONDS=10

# The main job as far as it exists today.
demo: build
	k8sfs demo

bench: artifacts
	$(PYTHON) bench/ssh_exec.py
	$(PYTHON) bench/pki.py
	$(PYTHON) bench/apply.py
	$(PYTHON) bench/ha.py
	$(PYTHON) bench/day_two.py --from $(UPGRADE_FROM)

lab-down:
	k8sfs lab down

# The walkthrough as a book: every notebook run on fresh labs of its own,
# the executed notebooks kept in docs/book/ (committed) and HTML pages in
# build/book/ (open build/book/index.html). About BOOK_MINUTES here.
book: artifacts
	$(PYTHON) scripts/book.py

# JupyterLab on the notebooks, with a kernel that imports k8sfs (this
# Python, where make build installed it). Prints the URL to open.
notebooks: build
	$(PYTHON) -m pip install -q --disable-pip-version-check --root-user-action=ignore jupyterlab
	cd notebooks && $(PYTHON) -m jupyter lab --allow-root --no-browser --ip 127.0.0.1

clean:
	rm -rf build
