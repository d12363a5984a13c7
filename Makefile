# supportdesk — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := wsgi:app
export SUPPORTDESK_TEST_PG_URL ?= postgresql://postgres@127.0.0.1:5432/postgres

.PHONY: help install lock audit run run-new-password serve db-upgrade db-migrate test test-thorough test-sqlite test-postgresql lint lint-migrations fmt check bench profile bench-chart clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint requirements.lock -e '.[test]'
	@touch $(STAMP)

NODE_STAMP := node_modules/.installed

# The browser and markup checks' tools (axe-core, html-validate) from the npm registry,
# pinned by package-lock.json; skipped where npm is missing (those tests then say so).
$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error && touch $(NODE_STAMP); \
	  else echo "npm not found: the axe and html-validate checks will be skipped"; fi

install: $(STAMP) ## Create .venv and install the project with its test tools

lock: ## Re-resolve dependencies to their newest allowed versions and rewrite requirements.lock
	rm -rf $(VENV)-lock && $(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/python -m pip install --quiet --upgrade pip
	$(VENV)-lock/bin/python -m pip install --quiet -e '.[test]'
	{ sed -n '1,2p' requirements.lock; $(VENV)-lock/bin/python -m pip freeze --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf $(VENV)-lock

audit: install ## pip-audit the locked dependencies, bandit the package (waivers: security/)
	$(BIN)/python security/audit.py

PORT ?= 5000

# The demo's links in email (a forgotten password) point at the local server.
run: export SUPPORTDESK_BASE_URL ?= http://127.0.0.1:$(PORT)
run: install ## Migrate, demo admin and tickets, the mail worker in the background, serve http://127.0.0.1:5000 (PORT=5001)
	@$(BIN)/flask db upgrade 2>&1 | tail -n 1
	@echo "Replies to customers and password links are written to instance/outbox/*.eml by the worker started here."
	@$(BIN)/flask demo --port $(PORT)
	@$(BIN)/flask worker --name make-run > instance/worker.log 2>&1 & worker=$$!; \
	  trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/flask run --host 127.0.0.1 --port $(PORT)

run-new-password: install ## Give the demo admin a new one-time password and print it
	@$(BIN)/flask demo --port $(PORT) --new-password

serve: install ## Serve with gunicorn (production-style; migrate first)
	$(BIN)/gunicorn -c gunicorn.conf.py

db-upgrade: install ## Apply migrations to the configured database
	$(BIN)/flask db upgrade

db-migrate: install ## Autogenerate a migration: make db-migrate m="add ticket priority"
	$(BIN)/flask db migrate -m "$(m)"

lint: install ## ruff format --check, ruff check and mypy
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

fmt: install ## Format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test-sqlite: install $(NODE_STAMP) ## Run the suite on SQLite
	$(BIN)/pytest --backend=sqlite $(PYTEST_ARGS)

test-postgresql: install $(NODE_STAMP) ## Run the suite on PostgreSQL (SUPPORTDESK_TEST_PG_URL)
	$(BIN)/pytest --backend=postgresql $(PYTEST_ARGS)

lint-migrations: install ## Lint every revision's PostgreSQL SQL with squawk (waivers: SQUAWK_WAIVERS in the revision)
	$(BIN)/python migrations/lint.py

test: install $(NODE_STAMP) ## Lint, type-check, lint migrations, audit and the whole suite on SQLite and PostgreSQL, side by side (time table at the end)
	$(BIN)/python tests/phases.py \
	  "lint=make --no-print-directory lint" \
	  "migrations=$(BIN)/python migrations/lint.py" \
	  "audit=$(BIN)/python security/audit.py" \
	  "sqlite=$(BIN)/pytest -p no:cacheprovider --backend=sqlite $(PYTEST_ARGS)" \
	  "postgresql=$(BIN)/pytest -p no:cacheprovider --backend=postgresql --part=rest $(PYTEST_ARGS)" \
	  "postgresql-heavy=$(BIN)/pytest -p no:cacheprovider --backend=postgresql --part=heavy $(PYTEST_ARGS)"

test-thorough: install ## make test with today's deeper counts (500 fuzz examples per form)
	TEST_FUZZ_EXAMPLES=500 $(MAKE) --no-print-directory test

check: test ## Alias of test

clean: ## Remove caches (keeps .venv and instance/)
	rm -rf .pytest_cache .ruff_cache .mypy_cache .hypothesis test-results build $(VENV)-lock

bench: install ## Benchmark at 1M tickets on PostgreSQL (BENCH_TICKETS=100000 for a quick run)
	$(BIN)/python bench/run.py

profile: install ## Flame graphs of the bench pages (pyinstrument) into bench/profiles/
	$(BIN)/python bench/profile.py

bench-chart: install ## Chart server time against desk size (docs/scaling.svg) from bench/results/
	$(BIN)/python bench/scaling.py
