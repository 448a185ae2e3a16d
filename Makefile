# The two commands of the README: `make demo` and `make test`. Everything installs into .venv/.
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
PYTEST := $(VENV)/bin/pytest
POSTGRES_URL ?= postgresql://127.0.0.1:5432/test
REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install demo serve test test-sqlite test-postgres services bench soak lint

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet uv==0.13.9

install: $(UV)
	$(UV) sync --frozen --compile-bytecode

demo: install
	$(VENV)/bin/hub demo

serve: install
	$(VENV)/bin/hub serve

services:
	bash infra/services.sh

# The whole suite on the embedded default (SQLite), then again on PostgreSQL; Redis in both.
# Tests run in parallel (pytest-xdist): each has its own data folder, SQLite file or PostgreSQL
# schema, so they share nothing.
PYTEST_WORKERS ?= 3
test: install services
	$(MAKE) --no-print-directory test-sqlite test-postgres

test-sqlite:
	HUB_TEST_REDIS_URL=$(REDIS_URL) $(PYTEST) -n $(PYTEST_WORKERS)

test-postgres:
	HUB_TEST_DATABASE_URL=$(POSTGRES_URL) HUB_TEST_REDIS_URL=$(REDIS_URL) $(PYTEST) -n $(PYTEST_WORKERS)

bench: install
	$(VENV)/bin/python bench/ingest.py
	$(VENV)/bin/python bench/validate.py
	$(VENV)/bin/python bench/access.py
	$(VENV)/bin/python bench/harvest.py
	$(VENV)/bin/python bench/api.py

# Ten minutes of repeated harvests and concurrent reads against a real `hub serve`.
soak: install
	$(VENV)/bin/python bench/soak.py

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check hub pipelines tests bench
	$(VENV)/bin/mypy hub pipelines
