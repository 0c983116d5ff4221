# Developer entry points. `make demo` and `make test` each set up what they need first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint typecheck unit emulator bench connector clean

$(INSTALLED): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# checkov scans infra/ in the infrastructure tests; it lives in its own venv because it pins an
# older Bicep parser than the structural tests use.
CHECKOV_VENV ?= .venv-checkov
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

# Azurite (the storage emulator the queue and table tests run against) comes from npm.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

## demo: reset a seeded user's MFA on the emulated tenant through the HTTP function
demo: $(INSTALLED) node_modules/.installed
	$(PY) scripts/demo.py

## test: linters, type checks and the whole test suite (what CI runs)
test: lint typecheck node_modules/.installed $(CHECKOV_VENV)/.installed
	CHECKOV=$(CHECKOV_VENV)/bin/checkov $(PY) -m pytest

lint: $(INSTALLED)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(INSTALLED)
	$(PY) -m mypy

## bench: how fast the app's reset is against a step-by-step admin script, and its cold start (tables)
bench: $(INSTALLED) node_modules/.installed
	$(PY) -m benchmarks

## connector: regenerate connector/ from the models and routes
connector: $(INSTALLED)
	$(PY) scripts/connector.py

## emulator: run the Graph + managed identity emulator for `func start` (prints the app settings)
emulator: $(INSTALLED)
	$(PY) -m emulator --port 8765

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .mypy_cache .ruff_cache
