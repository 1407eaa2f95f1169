# 合规台账 — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
PORT ?= 5000
PG_URL ?= $(TRACKER_TEST_DATABASE_URL)

.PHONY: run test screenshots lint format translations extract-messages bench bench-ledger clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

## Compile the interface translations (.po → .mo); run by `make run` and `make test`.
translations: $(VENV)/.runtime
	$(BIN)/pybabel compile --use-fuzzy -d tracker/translations -D messages --statistics 2>&1 | tail -n 2

## Re-extract messages from code and templates and merge them into the catalogues.
extract-messages: $(VENV)/.dev
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o tracker/translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i tracker/translations/messages.pot -d tracker/translations -D messages --no-fuzzy-matching

## Install, migrate, load the catalogue and the demo bureau, serve on http://127.0.0.1:$(PORT).
run: $(VENV)/.runtime translations
	$(FLASK) db upgrade
	$(FLASK) tracker bootstrap --demo
	TRACKER_SCHEDULER=on $(FLASK) tracker serve --port $(PORT)

## Lint, format check, then the whole suite on SQLite and (when configured) on PostgreSQL.
test: $(VENV)/.dev translations lint
	TRACKER_TEST_DATABASE_URL= TRACKER_REQUIRE_POSTGRES=0 $(BIN)/python -m pytest
	@if [ -n "$(PG_URL)" ]; then \
		echo "== PostgreSQL: $(PG_URL)"; \
		TRACKER_TEST_DATABASE_URL="$(PG_URL)" $(BIN)/python -m pytest -m "not e2e"; \
	else echo "== PostgreSQL suite not run: set TRACKER_TEST_DATABASE_URL to run it."; fi

## Rewrite the README's screenshots (docs/screenshots/) from the browser journeys.
screenshots: $(VENV)/.dev translations
	TRACKER_DOCS_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest tests/e2e -q

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Generate 10k/100k/1M-item bureaus and measure pages, reminders, upload, export, load (bench/README.md; BENCH_DATABASE_URL=postgresql+psycopg://…/bench for PostgreSQL: its bench_<scale> databases are emptied; BENCH_ARGS for more options).
bench: $(VENV)/.runtime translations
	$(BIN)/python bench/measure.py $(if $(BENCH_DATABASE_URL),--database-url "$(BENCH_DATABASE_URL)") $(BENCH_ARGS)

## Only the 200,000-row ledger export (time and peak memory of `tracker export-ledger`).
bench-ledger: $(VENV)/.runtime translations
	$(BIN)/python bench/ledger_export.py $(if $(BENCH_DATABASE_URL),--database-url "$(BENCH_DATABASE_URL)")

## The production topology on loopback (PostgreSQL, S3, SMTP, gunicorn, one scheduler) under 50 users for 60 s.
## LOAD_POSTGRES_URL: a server whose user may create databases (a throwaway one is used and dropped).
.PHONY: load
LOAD_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
load: $(VENV)/.dev translations
	$(BIN)/python -m ops.topology --users $(or $(USERS),50) --duration $(or $(DURATION),60) --workers $(or $(WORKERS),4) --postgres "$(LOAD_POSTGRES_URL)"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
