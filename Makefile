# Quick start: `make demo` (a real tracked training run, then inspected from the CLI)
#              `make test` (lint, type-check and the whole test suite)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint unit bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[all,dev]"
	touch $(STAMP)

demo: install
	$(BIN)/python examples/demo.py

lint: install
	$(BIN)/ruff check modelsync integrations tests benchmarks examples
	$(BIN)/mypy

unit: install
	$(BIN)/python -m pytest -q

test: lint unit

bench: install
	$(BIN)/python benchmarks/bench_add.py
	$(BIN)/python benchmarks/bench_checkpoints.py
	$(BIN)/python benchmarks/bench_metrics.py
	$(BIN)/python benchmarks/bench_lightning.py
	$(BIN)/python benchmarks/bench_sklearn.py
	$(BIN)/python benchmarks/bench_query.py
	$(BIN)/python benchmarks/bench_server.py

clean:
	rm -rf $(VENV) build dist *.egg-info demo-repo test-artifacts
