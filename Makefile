# The two README commands: `make demo` and `make test`. Both install everything they need into .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= tiny
PYTEST_WORKERS ?= 2

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export RAY_USAGE_STATS_ENABLED := 0
export MPLBACKEND := Agg

.PHONY: install demo test test-fast corpus curate features repro bench lint clean

install: $(STAMP)

$(STAMP): requirements/lock.txt requirements/nodeps.txt pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/lock.txt
	$(BIN)/pip install --quiet --no-deps -r requirements/nodeps.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python -m omnihuman_pipeline.plots_offline  # `dvc plots show` without a CDN (skipped without the npm registry)
	touch $(STAMP)

corpus: install
	$(BIN)/python -m omnihuman_pipeline.corpus --out data/01_raw --profile $(PROFILE)

curate: install
	$(BIN)/kedro run --pipeline=curate --env=$(PROFILE)

features: install
	$(BIN)/kedro run --pipeline=features --env=$(PROFILE)

# the whole lifecycle on the tiny profile: curate -> features -> 3 training stages -> generate -> evaluate and
# both ablations, as the DVC DAG (params.yaml: profile tiny); then where every result is
demo: corpus
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro
	@$(BIN)/python -m omnihuman_pipeline.curation.show data/08_reporting/curate_summary.json
	@$(BIN)/python -m omnihuman_pipeline.results

repro: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

test: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile -q

test-fast: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile -q -m "not slow"

bench: install
	$(BIN)/python benchmarks/curate_speed.py

lint: install
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf data/02_intermediate/* data/03_primary/* data/04_feature/* data/08_reporting/*
	git checkout -- data 2>/dev/null || true
