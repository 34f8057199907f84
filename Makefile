# Two commands on a fresh machine: `make demo` and `make test`. Both build the virtual
# environment they need first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DATE ?= 2024-06-24
DEMO_EMAIL ?= reader@example.com
# The demo runs on the built-in defaults: SQLite and a Maildir outbox under var/.
DIGEST := $(BIN)/digest

.PHONY: demo test lint bench quality venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(DIGEST) db upgrade
	$(DIGEST) ingest samples/
	$(DIGEST) subscribers add $(DEMO_EMAIL) --name "Demo Reader"
	$(DIGEST) build --date $(DEMO_DATE)
	$(DIGEST) preview --date $(DEMO_DATE) --out var/preview
	$(DIGEST) send --date $(DEMO_DATE)

lint: $(STAMP)
	$(BIN)/ruff check src tests alembic bench
	$(BIN)/ruff format --check src tests alembic bench
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

# Timings (figures quoted in the README); never run as part of the tests.
bench: $(STAMP)
	$(BIN)/python bench/build.py 5000

# Classification and clustering figures on the hand-labelled set, with every miss listed.
quality: $(STAMP)
	$(BIN)/python bench/quality.py

clean:
	rm -rf $(VENV) var build dist
