# The README's two promises: `make run` (set up, then run the pipeline on the bundled
# sample) and `make test` (the whole test suite, as CI runs it).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
SAMPLE_COUNT ?= 100
MLFLOW_PORT ?= 5000
LINT_PATHS := $(wildcard src tests benchmarks docs/*.py)
MLFLOW_HOST ?= 127.0.0.1
MLFLOW_SERVER_DIR ?= mlflow-server

# The venv first on PATH, so `kedro` in dvc.yaml's stage commands is the locked one.
export PATH := $(BIN):$(PATH)
# No usage reporting from any tool (no network for patient-data work): belt and braces
# on top of .telemetry (Kedro) and .dvc/config (DVC).
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export KEDRO_DISABLE_TELEMETRY := 1
export DVC_NO_ANALYTICS := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup sample key run test lint format lock ui server clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}' \
	  | sed -e 's|$$(MLFLOW_PORT)|$(MLFLOW_PORT)|g' -e 's|$$(MLFLOW_SERVER_DIR)|$(MLFLOW_SERVER_DIR)|g'

$(STAMP): requirements.lock pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11+ is required (python3.11 or python3 on PATH)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Python 3.11+ is required, found $$($(PYTHON) --version)"; exit 1; }
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --quiet --no-deps -e .
	@touch $@

setup: $(STAMP)  ## Create .venv and install the locked dependencies

# raw.folder in params.yaml names the raw folder (docs/reproducibility.md).
sample: $(STAMP)  ## Put the raw data in place and in the DVC cache: dvc pull, else generate the bundled sample
	@python -m pneumothorax.commands.raw_setup --count $(SAMPLE_COUNT)

key: $(STAMP)  ## Create a random de-identification key in conf/local/ unless one is set (the sample needs none)
	@python -m pneumothorax.commands.deid_key

run: sample key  ## Set up, then `dvc repro` the pipeline on the raw data
	dvc repro
	@python -m pneumothorax.commands.summary

test: $(STAMP)  ## Run the whole test suite (what CI runs)
	python -m pytest

lint: $(STAMP)  ## ruff lint and format check, mypy type check of src/
	ruff check $(LINT_PATHS)
	ruff format --check $(LINT_PATHS)
	mypy  # the files and settings: [tool.mypy] in pyproject.toml

format: $(STAMP)  ## ruff fix and format
	ruff check --fix $(LINT_PATHS)
	ruff format $(LINT_PATHS)

lock: $(STAMP)  ## Re-resolve requirements.lock from pyproject.toml (then commit it)
	pip-compile --quiet --extra dev --strip-extras --no-emit-index-url --no-emit-find-links \
	  --output-file requirements.lock pyproject.toml

ui: $(STAMP)  ## Open the MLflow UI on the project's store (http://127.0.0.1:$(MLFLOW_PORT))
	mlflow ui --backend-store-uri "$$(python -c 'from pathlib import Path; from pneumothorax.tracking.store import relocate_store, tracking_uri; relocate_store(Path.cwd()); print(tracking_uri(Path.cwd()))')" \
	  --host 127.0.0.1 --port $(MLFLOW_PORT) --workers 1

server: $(STAMP)  ## Run a team MLflow server: sqlite + artifact store in $(MLFLOW_SERVER_DIR)/
	@mkdir -p $(MLFLOW_SERVER_DIR)
	@echo "Teammates: export MLFLOW_TRACKING_URI=http://$(MLFLOW_HOST):$(MLFLOW_PORT)"
	mlflow server --backend-store-uri "sqlite:///$(abspath $(MLFLOW_SERVER_DIR))/mlflow.db" \
	  --artifacts-destination "$(abspath $(MLFLOW_SERVER_DIR))/artifacts" \
	  --host $(MLFLOW_HOST) --port $(MLFLOW_PORT)

clean:  ## Remove derived data and caches (keeps raw data, the venv and MLflow runs)
	rm -rf data/02_intermediate/train.csv data/02_intermediate/rejected.csv \
	  data/02_intermediate/img_train data/02_intermediate/img_train_log.csv .pytest_cache .ruff_cache
