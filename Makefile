# Two commands on a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench bench-peer lint deadcode lock clean

# The two plug-in departments (plugins/: their own packages, found by entry point) are
# installed for the demo and the tests; `pip uninstall` them and the hub serves the five.
PLUGINS := plugins/construction_permit plugins/ecology

$(STAMP): pyproject.toml constraints.txt $(addsuffix /pyproject.toml,$(PLUGINS))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps $(addprefix -e ,$(PLUGINS))
	touch $(STAMP)

# `make run PORT=8001` when port 8000 is taken (HOST=0.0.0.0 to listen beyond loopback).
run: $(STAMP)
	$(BIN)/onematter serve $(if $(PORT),--port $(PORT)) $(if $(HOST),--host $(HOST))

# Node tools for tests/gateway (federation composition, GraphQL-over-HTTP audits);
# without npm those tests skip with a message.
NODE_STAMP := tests/federation/node_modules/.installed
$(NODE_STAMP): tests/federation/package.json tests/federation/package-lock.json
	npm ci --prefix tests/federation --no-audit --no-fund --silent && touch $@ \
	  || echo "warning: npm ci failed; the federation and GraphQL-over-HTTP audit tests will skip" >&2

# The federation router of deploy/ (Hive Gateway, exact versions from its lock) for
# tests/ops/test_topology.py; without node that test skips, in CI it fails when missing.
ROUTER_STAMP := deploy/router/node_modules/.installed
$(ROUTER_STAMP): deploy/router/package.json deploy/router/package-lock.json
	npm ci --prefix deploy/router --no-audit --no-fund --silent && touch $@

test: $(STAMP) $(if $(shell command -v npm),$(NODE_STAMP) $(ROUTER_STAMP))
	$(BIN)/python -m pytest

# The peer for the bench: Hive Gateway with GraphQL Mesh composition, exact versions
# from bench/peer/package-lock.json.
PEER_STAMP := bench/peer/node_modules/.installed
$(PEER_STAMP): bench/peer/package.json bench/peer/package-lock.json
	npm ci --prefix bench/peer --no-audit --no-fund --silent && touch $@

# The full suite includes the comparison with the peer when npm can install it.
bench: $(STAMP) $(if $(shell command -v npm),$(PEER_STAMP))
	$(BIN)/python -m bench

bench-peer: $(STAMP) $(PEER_STAMP)
	$(BIN)/python -m bench --peer

# Style, formatting, the import-layer contract ([tool.importlinter]) and strict types.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# Unused code (vulture over the packages, fixtures, bench and tests; [tool.vulture]
# and vulture_whitelist.py list what frameworks use by name). Unused variables in
# schema/ and tests/ are not reported: Strawberry types declare their GraphQL fields
# as class attributes, which only GraphQL reads, and tests name fixtures as
# parameters and plug-in objects in "module:NAME" strings.
deadcode: $(STAMP)
	@found=$$($(BIN)/vulture 2>&1 | grep -Ev '^(schema|tests)/[^:]*:[0-9]*: unused variable'); \
	if [ -n "$$found" ]; then echo "$$found"; exit 1; fi

# Refresh the constraints file from what the current venv resolved.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache
