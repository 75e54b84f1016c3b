# Two commands: `make run` (set up and serve the portal with a demo dataset) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MO := portal/translations/es/LC_MESSAGES/messages.mo portal/translations/en/LC_MESSAGES/messages.mo

.PHONY: run test install translations lint bench clean-instance

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) $(MO)

portal/translations/%/LC_MESSAGES/messages.mo: portal/translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -d portal/translations -l $* >/dev/null

translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -o portal/translations/messages.pot . >/dev/null
	$(BIN)/pybabel update -i portal/translations/messages.pot -d portal/translations --no-fuzzy-matching >/dev/null

# `npm ci`: installs exactly the lock (which records anvil's binaries for every platform the
# registry serves) and never rewrites it, so `make test` leaves a fresh clone's tree clean.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch node_modules/.package-lock.json

# Sets everything up, loads the demo dataset into an empty database and serves it (`veraz serve`:
# address, workers and threads come from the settings WEB_BIND, WEB_WORKERS, WEB_THREADS).
# The evidence-log watcher (`veraz anchor --watch`: seals checkpoints, anchors them; it alone
# owns the embedded chain) runs in the background and stops with the server.
run: install
	$(BIN)/veraz demo
	$(BIN)/veraz anchor --watch & WATCHER=$$!; trap 'kill $$WATCHER 2>/dev/null' EXIT INT TERM; \
	$(BIN)/veraz serve

# Lint and format are checked first (a second each); mypy is `make lint` (slower, and a new
# release of it may find new things: a reason to look, not to stop the suite).
test: install node_modules/.package-lock.json
	$(BIN)/ruff check --quiet $(LINTED)
	$(BIN)/ruff format --check --quiet $(LINTED)
	$(BIN)/pytest -q -n auto

LINTED := portal ocds anchoring tests bench tools migrations

lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/ingest.py --orders 100000
