# Two commands for a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck pytest openapi bench-ingest mutmut clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Create .venv, install, migrate the SQLite database under ./var/ and serve on port 8000.
run: $(STAMP)
	$(BIN)/touchpoint serve --host 0.0.0.0 --port 8000

## Lint, type-check and run the whole test suite (SQLite, and PostgreSQL when reachable).
test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

openapi: $(STAMP)
	$(BIN)/touchpoint openapi

bench-ingest: $(STAMP)
	$(BIN)/python bench/ingest.py

## Mutation testing of the pure domain modules ([tool.mutmut] in pyproject.toml). Slow, so not
## part of `make test`. One module at a time: make mutmut MUTANTS='app.lapse.rhythm.*'
MUTANTS ?= app.cashback.rules.* app.events.rules.* app.events.schemas.* app.stages.rules.* \
	app.lapse.rhythm.* app.webhooks.signing.* app.webhooks.ssrf.*
mutmut: $(STAMP)
	$(BIN)/mutmut run $(foreach m,$(MUTANTS),'$(m)')
	$(BIN)/python tools/mutmut_score.py $(MUTANTS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache mutants
