# One command per job; the README, this file and .ci/run use the same ones.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint audit check ci bench messages clean

$(BIN)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(BIN)/.dev: $(BIN)/.runtime requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## run: the portal on its embedded default (SQLite, files under var/, a real worker, no Redis)
run: $(BIN)/.runtime
	$(BIN)/python -m tipline.embedded

## test: the whole suite against real PostgreSQL, Redis, Celery, exiftool and age
test: $(BIN)/.dev
	scripts/system-deps
	scripts/services-up
	$(BIN)/python -m pytest

lint: $(BIN)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

audit: $(BIN)/.dev
	scripts/audit

check: $(BIN)/.dev
	PY=$(BIN)/python scripts/check-deploy

ci: lint audit check test

## bench: every benchmark of bench/README.md, one table at the end (about 15 minutes)
bench: $(BIN)/.dev
	scripts/system-deps
	scripts/services-up
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## messages: refresh and compile the Spanish translations
messages: $(BIN)/.dev
	TIPLINE_SECRET_KEY=x TIPLINE_RECEIPT_SALT=x $(BIN)/python manage.py makemessages -l es \
		--no-location --ignore=.venv --ignore=var
	TIPLINE_SECRET_KEY=x TIPLINE_RECEIPT_SALT=x $(BIN)/python manage.py compilemessages \
		--ignore=.venv

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
