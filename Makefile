# wattprint: `make demo` runs a real workload under `wattprint run`; `make test` runs every gate.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
DEMO_HOME ?= $(CURDIR)/.wattprint-demo

.PHONY: demo test lint typecheck pytest venv dev clean bench

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

venv: $(BIN)/activate
	$(PY) -m pip install --quiet -e .

# torch first, pinned to the CPU build: a plain `pip install torch` (asked for by the
# frameworks of the integration tests) picks the CUDA build from PyPI (several GB);
# 2.13.0 is satisfied by a local CPU wheel where one is provided.
TORCH ?= torch==2.13.0

dev: $(BIN)/activate
	$(MAKE) --no-print-directory test-system-deps
	$(PY) -m pip install --quiet '$(TORCH)'
	$(PY) -m pip install --quiet -e '.[dev]'

# Debian packages the test suite needs (headless Chromium for the HTML report check,
# the PostgreSQL server for the store tests, Open MPI and its headers for mpirun and mpi4py).
test-system-deps:
	@./scripts/ensure_system_deps.sh

demo: venv
	@mkdir -p $(DEMO_HOME)
	WATTPRINT_HOME=$(DEMO_HOME) $(BIN)/wattprint sensors
	WATTPRINT_HOME=$(DEMO_HOME) $(BIN)/wattprint run --project demo --name matmul --interval 0.5 -- $(PY) examples/demo_workload.py
	WATTPRINT_HOME=$(DEMO_HOME) $(BIN)/wattprint show last

lint: dev
	$(BIN)/ruff check src tests scripts bench

typecheck: dev
	$(BIN)/mypy

pytest: dev
	$(BIN)/pytest -q

test: dev
	$(BIN)/ruff check src tests scripts bench
	$(BIN)/mypy
	$(BIN)/pytest -q

bench: dev
	$(PY) bench/bench_overhead.py

clean:
	rm -rf $(VENV) $(DEMO_HOME) .mypy_cache .ruff_cache .pytest_cache
