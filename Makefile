# Two entry points: `make demo` and `make test`. Each creates .venv when missing and
# (re)installs the package with its dev extras whenever pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/rnnkit demo

test: $(STAMP)
	$(VENV)/bin/lint-imports --no-logo
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/lint-imports --no-logo

# Rewrite the results tables of docs/RESULTS.md and docs/MEMORY.md from docs/results/.
.PHONY: docs-tables
docs-tables: $(STAMP)
	$(PY) -m rnnkit.experiments.docs_tables

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
