# The two commands of the README: `make repro` and `make test` (each sets up .venv when missing).
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
# Tests and stages find the offline mirror through this variable (see README).
PYTEST_ARGS ?=

.PHONY: venv repro repro-timed repro-quick check readme publish test test-fast lint format deps clean-venv

venv: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m pip check || true
	touch $@

repro: $(STAMP)
	$(BIN)/dvc repro $(DVC_ARGS)

# `make repro` measured: every line of dvc repro's output timestamped (.artifacts/repro.log),
# /usr/bin/time -v's figures (.artifacts/repro.time), then each stage's wall seconds.
repro-timed: SHELL := /bin/bash
repro-timed: $(STAMP)
	@mkdir -p .artifacts
	set -o pipefail; /usr/bin/time -v -o .artifacts/repro.time $(BIN)/dvc repro $(DVC_ARGS) 2>&1 \
	  | while IFS= read -r line; do printf '%s %s\n' "$$(date +%H:%M:%S)" "$$line"; done \
	  | tee .artifacts/repro.log
	$(BIN)/python tools/stage_times.py .artifacts/repro.log --stages

# The whole pipeline on a slice (profiles/quick.yaml) in quick/, sharing the DVC cache; its
# stages run the copy's sources (PYTHONPATH), the ones its dvc.lock hashes, not the checkout's.
QUICK_DIR ?= quick
repro-quick: $(STAMP)
	$(BIN)/python -m facecluster profile quick --out $(QUICK_DIR)
	cd $(QUICK_DIR) && PYTHONPATH=$(abspath $(QUICK_DIR))/src $(if $(FACECLUSTER_MIRROR),FACECLUSTER_MIRROR=$(abspath $(FACECLUSTER_MIRROR))) $(BIN)/dvc repro $(DVC_ARGS)

# After `make repro`: your dvc.lock and metrics against the published ones (git HEAD), a
# verdict per stage (identical / within tolerance / differs / not run); CHECK_ARGS e.g.
# --against v1.0 --tolerance 1e-4.
check: $(STAMP)
	$(BIN)/python -m facecluster check $(CHECK_ARGS)

# The README's headline table from reports/metrics.json (a test fails when they disagree).
readme: $(STAMP)
	$(BIN)/python -m facecluster readme

# After `make repro`: stage the published results for a commit (dvc.lock, the metrics and
# curve files, the compact reports/index.html: what .gitignore lets through) and the README
# headline written from them; refused while any stage is out of date.
publish: $(STAMP)
	@$(BIN)/dvc status --quiet || (echo "publish: the pipeline is not up to date (dvc status): make repro first" >&2 && false)
	$(BIN)/python -m facecluster readme
	git add dvc.lock README.md data reports
	git status --short dvc.lock README.md data reports

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not integration" $(PYTEST_ARGS)

# Notebooks are linted too (ruff reads .ipynb natively); tools/make_notebook.py writes them.
LINT_PATHS := src tests benchmarks tools notebooks

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/python tools/stage_deps.py >/dev/null || (echo "dvc.yaml deps drifted: make deps" && false)

format: $(STAMP)
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

# Regenerate the code deps of every stage in dvc.yaml from the stages' import closures.
deps: $(STAMP)
	$(BIN)/python tools/stage_deps.py --write

clean-venv:
	rm -rf $(VENV)
