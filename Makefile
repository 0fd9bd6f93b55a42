# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
TOOLS := .venv-tools
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test lint typecheck template build unit integration e2e bench cli clean

$(VENV)/.stamp: requirements/runtime.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	# Make the billow package importable from the venv (python -m billow), without a build step.
	$(PY) -c "import site, pathlib; pathlib.Path(site.getsitepackages()[0], 'billow.pth').write_text(str(pathlib.Path('shared').resolve()) + '\n')"
	touch $@

$(TOOLS)/.stamp: requirements/tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/tools.txt
	touch $@

## Start the whole system locally (embedded AWS emulator + HTTP API on $$BILLOW_PORT, default 3000).
run: $(VENV)/.stamp
	PYTHONPATH=shared $(PY) -m billow.local

## Everything CI checks: linters, types, the SAM template, and the whole test suite.
test: lint typecheck template
	PYTHONPATH=shared $(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint: $(VENV)/.stamp
	$(VENV)/bin/ruff check shared functions tests
	$(VENV)/bin/ruff format --check shared functions tests

typecheck: $(VENV)/.stamp
	$(VENV)/bin/mypy

## cfn-lint, sam validate --lint and sam build (no container) on template.yaml.
template: $(TOOLS)/.stamp
	$(TOOLS)/bin/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 $(TOOLS)/bin/sam validate --lint --region eu-central-1
	SAM_CLI_TELEMETRY=0 $(TOOLS)/bin/sam build --region eu-central-1

unit: $(VENV)/.stamp
	PYTHONPATH=shared $(PY) -m pytest tests/unit $(PYTEST_ARGS)

integration: $(VENV)/.stamp
	PYTHONPATH=shared $(PY) -m pytest tests/integration $(PYTEST_ARGS)

e2e: $(VENV)/.stamp
	PYTHONPATH=shared $(PY) -m pytest tests/e2e $(PYTEST_ARGS)

## Benchmarks: print their figures as JSON (not part of `make test`).
bench: $(VENV)/.stamp
	@PYTHONPATH=shared $(PY) tests/performance/run_all.py

## The operator CLI against the running local stack: make cli ARGS="tenants create --name X"
cli: $(VENV)/.stamp
	PYTHONPATH=shared $(PY) -m billow $(ARGS)

## Regenerate the event table of docs/events.md from billow.domain.event_catalog.
.PHONY: catalog
catalog: $(VENV)/.stamp
	PYTHONPATH=shared $(PY) -m billow.event_catalog --write docs/events.md

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .billow .pytest_cache .mypy_cache .ruff_cache
