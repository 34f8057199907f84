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

.PHONY: demo test lint bench bench-e2e bench-tools quality venv system-tools clean

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
	$(BIN)/ruff check src tests alembic bench hatch_build.py
	$(BIN)/ruff format --check src tests alembic bench hatch_build.py
	$(BIN)/lint-imports
	$(BIN)/mypy

# Real tools some tests drive: SpamAssassin and Chromium (Debian packages). Installed when
# missing and we may (root with apt-get); otherwise those tests skip locally, and fail in CI.
SYSTEM_TOOLS := spamassassin:spamassassin chromium:chromium
system-tools:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
	    command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	elif [ -n "$$missing" ]; then echo "not installed:$$missing (some tests will skip)"; fi

test: lint system-tools
	$(BIN)/pytest

# Postfix's smtp-sink, the SMTP server the sending benchmarks write to (Debian: postfix).
bench-tools:
	@if [ ! -x /usr/sbin/smtp-sink ] && ! command -v smtp-sink >/dev/null; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix; \
	    else echo "smtp-sink not installed: apt-get install postfix"; exit 1; fi; fi

# Timings (figures quoted in the README); never run as part of the tests. About 3 minutes.
bench: $(STAMP) bench-tools
	$(BIN)/python bench/build.py 5000
	cd bench && ../$(BIN)/python render.py
	$(BIN)/python bench/import_subscribers.py 100000
	$(BIN)/python bench/send.py 2000

# End to end, both engines, into smtp-sink (PostgreSQL and Redis on 127.0.0.1); about 15 minutes.
bench-e2e: $(STAMP) bench-tools
	$(BIN)/python bench/e2e.py 100000
	$(BIN)/python bench/e2e.py --memory 100000
	$(BIN)/python bench/e2e.py --memory 1000000

# Classification and clustering figures on the hand-labelled set, with every miss listed.
quality: $(STAMP)
	$(BIN)/python bench/quality.py

clean:
	rm -rf $(VENV) var build dist src/digest/model
