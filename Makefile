# The two commands of the README: `make run` and `make test`.
# Both set up everything they need first (virtualenv, dependencies, database).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup bench clean

setup: $(VENV)/.installed

# Reinstalls only when the lock file changes, so a second run starts in seconds.
$(VENV)/.installed: requirements.lock
	@python="$${PYTHON:-$$(scripts/find-python)}" || exit 1; \
	if [ ! -x $(PY) ]; then echo "Creating $(VENV) with $$python"; "$$python" -m venv $(VENV) || exit 1; fi
	@echo "Installing dependencies from requirements.lock"
	@$(PY) -m pip install -qq --disable-pip-version-check -r requirements.lock
	@touch $@

run: setup
	@DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --no-input -v 0
	@DEBUG=$${DEBUG:-1} $(PY) manage.py demo --host $(HOST) --port $(PORT)
	@DEBUG=$${DEBUG:-1} $(PY) manage.py runserver --skip-checks $(HOST):$(PORT)

test: setup
	@$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	@$(PY) scripts/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var
