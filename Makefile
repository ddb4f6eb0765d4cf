# sgportal — the two commands of the quick start are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APT_PACKAGES := postgresql redis-server redis-tools chromium xmlsec1 docker-compose

.PHONY: help demo demo-reset test lint fmt system-deps venv bench clean

help:
	@echo "make demo   run the whole system on embedded defaults (SQLite, own Redis, AWS emulator, Slack stand-in)"
	@echo "            on port DEMO_PORT (default 8000): DEMO_PORT=8123 make demo; each start is a clean start"
	@echo "make demo-reset  remove the demo's data (demo-data/)"
	@echo "make test   install what is needed, start throwaway PostgreSQL + Redis, run checks and the whole suite"
	@echo "make lint   ruff check + format check"
	@echo "make bench  run the benchmarks in bench/ against throwaway PostgreSQL + Redis"

# Debian packages, installed only when missing (needs root or sudo).
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server redis-tools"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v xmlsec1 >/dev/null || missing="$$missing xmlsec1"; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	    || { echo "apt-get install$$missing failed" >&2; exit 1; }; \
	fi

$(STAMP): pyproject.toml
	@PYTHON=$$(scripts/find-python) || exit 1; \
	echo "Using $$PYTHON ($$($$PYTHON --version))"; \
	[ -x $(PY) ] || $$PYTHON -m venv $(VENV); \
	$(PY) scripts/requirements.py dev > $(VENV)/requirements.txt && \
	$(PY) -m pip install -q --upgrade pip && \
	$(PY) -m pip install -q -r $(VENV)/requirements.txt && touch $(STAMP)

venv: $(STAMP)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: system-deps venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	scripts/with-services $(PY) -m pytest $(PYTEST_ARGS)

bench: system-deps venv
	scripts/with-services $(PY) bench/run_all.py

demo: system-deps venv
	$(PY) scripts/demo.py

demo-reset:
	rm -rf demo-data

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache
