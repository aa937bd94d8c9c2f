# Charter: `make run` starts the portal with demo data; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000
export PORT
HONCHO := import sys, honcho.manager, honcho.command; honcho.manager.KILL_WAIT = 30; \
	sys.argv[0] = "honcho"; honcho.command.main()

.PHONY: install lock run test test-fast lint fmt check migrations-check e2e bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Re-resolve the ranges in pyproject.toml and record the exact versions in constraints.txt.
lock:
	$(PY) -m pip install --quiet --upgrade -e '.[dev]'
	{ sed -n '1,2p' constraints.txt; $(PY) -m pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py bootstrap_roles
	$(PY) manage.py seed_demo
	@$(PY) manage.py portal_banner
	@# honcho stops everything on Ctrl-C; its built-in 5 s before SIGKILL is too short for a
	@# warm Celery shutdown (finish the running task) on a busy machine, so give it 30 s.
	@# `-e /dev/null`: every step reads the same shell environment (.env is for docker compose).
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -c "$(HONCHO)" start -f Procfile -e /dev/null || test $$? -eq 130

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations-check: install
	DJANGO_SETTINGS_MODULE=config.test_settings $(PY) manage.py makemigrations --check --dry-run

check: lint migrations-check test

bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) var
