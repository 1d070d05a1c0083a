# Gatekey: `make run` serves the quickstart, `make test` sets up and passes every test.
# Both create the virtual environment they need.

VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
SUM     := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
STAMP   := $(VENV)/.installed-$(SUM)
RUNTIME := $(VENV)/.runtime-$(SUM)
HOST    ?= 127.0.0.1
PORT    ?= 8080
STATE   ?= .gatekey

.DEFAULT_GOAL := help
.PHONY: help venv tools run test lint format bench crds e2e clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# `python -m` puts the current folder first on sys.path, where ./operator would
# shadow the standard library's `operator`: use -I (isolated) or the venv's scripts.
# Two stamps: `make run` needs only the runtime dependencies ($(RUNTIME)), `make test`
# and `make lint` the development tools too ($(STAMP), on top of the runtime, with the
# same installer: uv when it could be had, else pip).
$(RUNTIME): pyproject.toml
	@scripts/install-runtime.sh $(VENV) $(PYTHON)
	@rm -f $(VENV)/.runtime-* && touch $@

$(STAMP): $(RUNTIME)
	@echo "==> installing the development tools into $(VENV)"
	@if [ -x $(VENV)/bin/uv ]; then \
		PYTHONWARNINGS=ignore $(VENV)/bin/uv pip install --quiet --python $(PY) -e '.[dev]'; \
	else \
		PYTHONWARNINGS=ignore $(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'; \
	fi
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP) ## Create the virtual environment and install Gatekey with its tools

run: $(RUNTIME) ## Serve examples/quickstart on $(HOST):$(PORT) and print curl lines to try
	@$(PY) examples/quickstart/curl_lines.py --state-dir $(STATE) --host $(HOST) --port $(PORT)
	@exec $(VENV)/bin/gatekey serve --manifests examples/quickstart --state-dir $(STATE) \
		--host $(HOST) --port $(PORT) --log-format text

tools: ## Install the tools the tests drive (nginx, redis, podman, helm, the Kubernetes control plane)
	@scripts/install-tools.sh
	@scripts/install-helm.sh >/dev/null
	@scripts/install-node-clients.sh
	@scripts/install-controlplane.sh >/dev/null

# The suite mostly waits (process start-ups, servers, the control plane): two workers halve
# its time even on two cores. Tests run in groups (tests/conftest.py: a module, or a package
# with a shared control plane or gateways), each whole on one worker, in the order collected
# (the longest group first). TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

test: venv tools ## Run every test (under CI=true a skipped test is a failure)
	$(VENV)/bin/pytest -q $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder)

# mypy and import-linter find modules by path, and know nothing of setuptools'
# package-dir mapping: give them a tree where gatekey/operator and gatekey/issuer exist.
TYPECHECK := build/typecheck

$(TYPECHECK)/gatekey:
	mkdir -p $@
	ln -sfn ../../../operator $@/operator
	ln -sfn ../../../issuer $@/issuer

lint: venv $(TYPECHECK)/gatekey ## ruff (format + lint), mypy --strict and the import-linter contracts
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy -p gatekey.operator -p gatekey.issuer
	PYTHONPATH=$(TYPECHECK) $(VENV)/bin/lint-imports

format: venv ## Format the code
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: venv ## Benchmarks against the aiohttp ceiling, measured in the same run
	@scripts/install-tools.sh --bench
	@cd bench/peers/oidc-provider && npm ci --no-audit --no-fund --loglevel=error
	$(PY) bench/issuance.py
	$(PY) bench/authz.py
	$(PY) bench/operator.py
	$(PY) bench/cluster.py

crds: venv ## Regenerate crds/ (and the chart's copies) from the model
	$(PY) -I -m gatekey.operator.crdgen crds
	cp crds/*.yaml charts/gatekey/crds/

e2e: venv ## Opt-in suite against a real cluster (kind); never part of make test
	$(PY) tests/e2e_cluster/run.py --kind

clean: ## Remove the virtual environment and the state dir
	rm -rf $(VENV) $(STATE)
