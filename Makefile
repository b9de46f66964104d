# Fenqun — `make help` lists the targets. `make report` and `make test` set everything up.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp is newer than pyproject.toml once the install succeeded: a second run installs nothing.
STAMP := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.installed-spark
CONFIG ?= reports/params/retail-demo.yaml
export PATH := $(abspath $(BIN)):$(PATH)
export MPLBACKEND := Agg
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: help setup report test bench lint lab clean golden

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# the Spark engine's tests need PySpark (and Java 17+): installed for `make test` and `make bench`
$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	@touch $(SPARK_STAMP)

setup: $(STAMP) ## create .venv and install Fenqun with its dev tools (once)

report: $(STAMP) ## render all reports on the bundled retail-demo data (CONFIG=... for another run)
	$(BIN)/python -m analysis run --config $(CONFIG)

test: $(SPARK_STAMP) ## run all tests: unit, notebooks (nbval) and the end-to-end run
	$(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg

bench: $(STAMP) ## time the summary and CLV models (vs lifetimes), segmentation, churn, clustering and evaluation at 1M customers
	$(BIN)/python -m analysis bench

lint: $(STAMP) ## ruff on src/, tests/ and notebooks
	$(BIN)/ruff check src tests notebooks

lab: $(STAMP) ## open JupyterLab on notebooks/
	$(BIN)/jupyter lab notebooks/

clean: ## remove generated runs, benchmark output and caches (keeps .venv)
	rm -rf reports/runs reports/bench .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +

golden: $(STAMP) ## re-run the notebooks and store their small golden cells (after a deliberate change)
	$(BIN)/python tests/refresh_golden_cells.py
