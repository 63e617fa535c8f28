# Two commands on a fresh machine: `make run` (demo on SQLite) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BOARD := dispatch_api/board

.PHONY: install frontend run test lint bench-scheduler bench-api clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,mobile]'
	touch $(STAMP)

install: $(STAMP) frontend

# Front-end libraries for the dispatcher board, pinned in package-lock.json.
frontend:
	@if [ -f $(BOARD)/package.json ]; then \
	  cd $(BOARD) && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; }; \
	fi

run: install
	$(PY) -m dispatch_api demo

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .

bench-scheduler: install
	$(PY) bench/scheduler_bench.py

bench-api: install
	$(PY) bench/api_bench.py --technicians 200 --jobs 30 --rate 1000

clean:
	rm -rf $(VENV) var .pytest_cache
