# The README's two commands: `make run` (the main job on the embedded default) and `make test` (everything CI runs).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint typecheck pytest airflow-env bench bench-extract bench-store bench-api clean system-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps re-install only when pyproject.toml changes.
$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# torch is pinned to the local CPU wheel before the extras, so that pip never resolves a newer one.
$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev,embed,spark,api,dashboard,backtest,browser]'
	touch $@ $(VENV)/.runtime

run: $(VENV)/.runtime
	$(BIN)/tiktrend run

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy

# Airflow in its own environment with tiktrend, as a deployment installs it: Airflow pins many libraries, and the
# DAG tests run `airflow dags test` from here. Only Airflow is pinned (3.1.8, the version the DAG is tested on);
# its official constraint files are on GitHub, out of reach here, and the resolution pip makes without them
# (SQLAlchemy 2.1, pandas 3) passes the tests. Rebuilt when pyproject.toml changes.
AIRFLOW_VENV    ?= .venv-airflow
AIRFLOW_VERSION := 3.1.8

$(AIRFLOW_VENV)/.airflow: pyproject.toml
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet 'apache-airflow==$(AIRFLOW_VERSION)' -e '.[postgres]'
	touch $@

airflow-env: $(AIRFLOW_VENV)/.airflow

# pytest exits 5 when it collected no test: that fails the target like any other failure.
pytest: $(VENV)/.dev $(AIRFLOW_VENV)/.airflow
	$(BIN)/python -m pytest

# System tools the tests use (Debian packages; needs root, as on CI): tesseract for OCR, chromium for the
# dashboard's and the browser session's tests, docker-compose (v1) to validate the compose file, openssl for the
# browser session tests' certificate, and wrk, the API bench's load generator. A missing tool skips its tests.
SYSTEM_TOOLS := tesseract:tesseract-ocr chromium:chromium docker-compose:docker-compose openssl:openssl wrk:wrk
system-deps:
	@missing=""; for pair in $(SYSTEM_TOOLS); do command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; } \
			|| echo "could not install$$missing: the tests that need them will be skipped"; \
	fi

test: system-deps lint typecheck pytest

bench: $(VENV)/.runtime
	$(BIN)/python benches/ingest.py

# Extraction figures (text speed, OCR, embeddings, Spark local[1] vs local[2] on 1,000,000 videos, quality).
bench-extract: $(VENV)/.dev
	$(BIN)/python benches/extract.py

# API latency under 50 concurrent clients (wrk), DuckDB and PostgreSQL (MENTIONS=10000000 by default).
bench-api: system-deps $(VENV)/.dev
	$(BIN)/python benches/api.py $(if $(MENTIONS),--mentions $(MENTIONS),)

# Store figures, DuckDB and the local PostgreSQL side by side (SIZES=1000000,10000000 by default).
bench-store: $(VENV)/.dev
	$(BIN)/python benches/store.py $(if $(SIZES),--sizes $(SIZES),)

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) data .pytest_cache .mypy_cache .ruff_cache
