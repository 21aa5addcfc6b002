# The two commands of the README: `make run` and `make test`.
# Both set up everything they need first (virtualenv, dependencies, database).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -qq --disable-pip-version-check
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format setup setup-dev bench clean

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

$(PY):
	@python="$${PYTHON:-$$(scripts/find-python)}" || exit 1; \
	echo "Creating $(VENV) with $$python"; "$$python" -m venv $(VENV)

# Reinstall only when a requirements file changes, so a second run starts in seconds.
# `make run` installs what the server needs; tests and linters add the dev tree.
$(VENV)/.installed: requirements.txt | $(PY)
	@echo "Installing run-time dependencies from requirements.txt"
	@$(PIP) -r requirements.txt
	@touch $@

# (integrations/scrapy is installed editable: only its dependencies need a reinstall.)
$(VENV)/.installed-dev: requirements-dev.txt requirements.txt requirements-redis.txt integrations/scrapy/pyproject.toml | $(PY)
	@echo "Installing development dependencies from requirements-dev.txt"
	@$(PIP) -r requirements-dev.txt
	@touch $@ $(VENV)/.installed

run: setup
	@DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --no-input -v 0
	@DEBUG=$${DEBUG:-1} $(PY) manage.py demo --host $(HOST) --port $(PORT)
	@# The alert worker runs beside the server and stops with it.
	@DEBUG=$${DEBUG:-1} $(PY) manage.py alert_worker -v 0 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	DEBUG=$${DEBUG:-1} $(PY) manage.py runserver --skip-checks $(HOST):$(PORT)

test: setup-dev
	@$(PY) -m pytest $(PYTEST_ARGS)

# What CI checks besides the tests: lint, formatting, types.
lint: setup-dev
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy

format: setup-dev
	@$(VENV)/bin/ruff check --fix .
	@$(VENV)/bin/ruff format .

bench: setup-dev
	@$(PY) scripts/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var
