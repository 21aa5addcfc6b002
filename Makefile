# The README's commands: `make run` (the production server, locally), `make dev`
# (Django's development server) and `make test`. Each sets up what it needs
# first (virtualenv, dependencies, database, static files).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -qq --disable-pip-version-check
HOST ?= 127.0.0.1
PORT ?= 8000
# The local run (jobqsite/settings.py): a secret key generated under var/,
# the loopback host names and HOST. Without JOBQ_LOCAL jobq is in production
# and insists on SECRET_KEY and ALLOWED_HOSTS.
LOCAL := JOBQ_LOCAL=1 HOST=$(HOST) PORT=$(PORT)

.PHONY: run dev test lint format setup setup-dev static bench clean

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev
static: staticfiles/staticfiles.json

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

# Hashed, compressed copies for WhiteNoise; again only when a static file changes.
staticfiles/staticfiles.json: $(VENV)/.installed $(shell find static -type f)
	@$(LOCAL) $(PY) manage.py collectstatic --no-input --clear -v 0

# The production server (gunicorn, jobqsite/gunicorn.conf.py) with DEBUG off.
run: setup static
	@$(LOCAL) DEBUG=0 $(PY) manage.py migrate --no-input -v 0
	@$(LOCAL) DEBUG=0 $(PY) manage.py demo --host $(HOST) --port $(PORT)
	@# The alert worker runs beside the server and stops with it.
	@$(LOCAL) DEBUG=0 $(PY) manage.py alert_worker -v 0 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(LOCAL) DEBUG=0 $(VENV)/bin/gunicorn -c jobqsite/gunicorn.conf.py

# Django's development server: reloads on code changes, DEBUG pages. Never on a network.
dev: setup
	@case "$(HOST)" in 127.0.0.1|localhost|::1) ;; *) echo "make dev serves DEBUG pages: loopback only (HOST=127.0.0.1). make run serves other addresses."; exit 1;; esac
	@$(LOCAL) DEBUG=1 $(PY) manage.py migrate --no-input -v 0
	@$(LOCAL) DEBUG=1 $(PY) manage.py demo --host $(HOST) --port $(PORT)
	@$(LOCAL) DEBUG=1 $(PY) manage.py alert_worker -v 0 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(LOCAL) DEBUG=1 $(PY) manage.py runserver $(HOST):$(PORT)

# The suite runs in TEST_WORKERS processes (pytest-xdist), whole modules each
# (--dist loadfile, in pyproject.toml): a module's servers, files and Redis
# database stay its own.
TEST_WORKERS ?= 2
test: setup-dev
	@$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

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
	rm -rf $(VENV) var staticfiles
