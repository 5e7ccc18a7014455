# Every target sets itself up: a fresh clone needs only Python 3.11+, Go, make and (for Redis) Debian's apt.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup binaries kuberay redis test test-unit test-integration lint demo demo-simulated bench bench-quick crd clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

binaries:
	bash hack/build-binaries >/dev/null

# KubeRay's own operator, built from its Go module: the reference tests and benchmarks compare against.
kuberay:
	bash hack/build-binaries kuberay >/dev/null

# Redis unpacked from Debian's packages: the external store of the fault-tolerance tests.
redis:
	bash hack/build-binaries redis >/dev/null

lint: setup
	$(BIN)/ruff check kuberay_py tests hack benchmarks
	$(BIN)/ruff format --check kuberay_py tests hack benchmarks
	$(BIN)/mypy kuberay_py

test-unit: setup
	$(BIN)/pytest -q tests/unit

test-integration: setup binaries kuberay redis
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -q tests/integration

# Set up and run every test: lint, unit tests, then integration tests against the real control plane.
test: setup binaries kuberay redis lint
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -q --durations=15 tests

# Real Ray: pods run as processes in namespaces of their own (root), a job, the autoscaler scaling for it.
demo: setup binaries redis
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/kuberay-py demo --ray

# The same without Ray or root: a simulated kubelet only writes pod statuses.
demo-simulated: setup binaries
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/kuberay-py demo

bench: setup binaries kuberay
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m benchmarks

bench-quick: setup binaries kuberay
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m benchmarks --quick

# Regenerate the CRDs from the API models, for kustomize and for the Helm chart.
crd: setup
	$(BIN)/python -m kuberay_py crd --output-dir config/crd
	cp config/crd/ray.io_rayclusters.yaml config/crd/ray.io_rayjobs.yaml helm-chart/kuberay-py/crds/

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
