# The two commands of the README: `make demo` and `make test`. Everything installs into .venv/.
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
PYTEST := $(VENV)/bin/pytest
POSTGRES_URL ?= postgresql://127.0.0.1:5432/test
REDIS_URL ?= redis://127.0.0.1:6379/15
ASSETS := hub/ui/assets
VENDOR := hub/ui/static/vendor

.PHONY: install demo serve test test-sqlite test-postgres services bench soak lint

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet uv==0.13.9

install: $(UV) $(VENDOR)/.stamp
	$(UV) sync --frozen --compile-bytecode

# The UI's browser libraries, from the npm registry as pinned by hub/ui/assets/package-lock.json:
# `npm ci` (the npm cache first, the registry only for what it lacks; axe-core, which the tests
# run in pages, stays in node_modules), then only the files pages load are copied into hub/ui/static/vendor (gitignored; a wheel carries it as an artifact). The
# stamp is newer than the lock file once done, so it is redone only when the lock file changes.
$(VENDOR)/.stamp: $(ASSETS)/package-lock.json
	@command -v npm >/dev/null || { echo "make install needs npm (apt-get install npm)" >&2; exit 1; }
	cd $(ASSETS) && npm ci --prefer-offline --include=dev --ignore-scripts --no-audit --no-fund --loglevel=error
	rm -rf $(VENDOR).new && mkdir -p $(VENDOR).new
	cp $(ASSETS)/node_modules/uplot/dist/uPlot.iife.min.js $(ASSETS)/node_modules/uplot/dist/uPlot.min.css \
		$(ASSETS)/node_modules/leaflet/dist/leaflet.js $(ASSETS)/node_modules/leaflet/dist/leaflet.css \
		$(VENDOR).new/
	cp $(ASSETS)/node_modules/uplot/LICENSE $(VENDOR).new/LICENSE-uplot.txt
	cp $(ASSETS)/node_modules/leaflet/LICENSE $(VENDOR).new/LICENSE-leaflet.txt
	rm -rf $(VENDOR) && mv $(VENDOR).new $(VENDOR)
	touch $@

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
	$(VENV)/bin/python bench/ui.py

# Ten minutes of repeated harvests and concurrent reads against a real `hub serve`.
soak: install
	$(VENV)/bin/python bench/soak.py

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check hub pipelines tests bench
	$(VENV)/bin/mypy hub pipelines
