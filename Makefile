# Developer entry points. `make demo` and `make test` each set up what they need first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint typecheck unit emulator clean

$(INSTALLED): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Azurite (the storage emulator the queue and table tests run against) comes from npm.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

## demo: reset a seeded user's MFA on the emulated tenant through the HTTP function
demo: $(INSTALLED) node_modules/.installed
	$(PY) scripts/demo.py

## test: linters, type checks and the whole test suite (what CI runs)
test: lint typecheck node_modules/.installed
	$(PY) -m pytest

lint: $(INSTALLED)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(INSTALLED)
	$(PY) -m mypy

## emulator: run the Graph + managed identity emulator for `func start` (prints the app settings)
emulator: $(INSTALLED)
	$(PY) -m emulator --port 8765

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
