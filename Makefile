# The two commands of the README: `make run` and `make test`. Only Python 3.11 and
# make are needed; everything else is installed into .venv from pyproject.toml.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Seconds requests in flight get to finish after SIGTERM (Ctrl-C) before they are cut.
SHUTDOWN_DRAIN_SECONDS ?= 20

# The embedded default: SQLite and media under ./var, the WeChat stub mounted in
# the app so the demo people can log in (refused when APP_ENV=prod).
DEV_ENV := APP_ENV=dev WECHAT_DEV_STUB=true WECHAT_APPID=demo-appid WECHAT_SECRET=demo-secret \
	WECHAT_API_BASE=http://$(HOST):$(PORT)/dev/wechat/

.PHONY: run test test-quick lint openapi migrate clean browser echarts leaflet scale-tools

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

run: $(BIN)/.installed
	@mkdir -p var
	$(DEV_ENV) $(BIN)/alembic upgrade head
	@$(DEV_ENV) $(BIN)/python -m app.cli seed-demo
	@echo ""
	@echo "  创文通 is starting: http://$(HOST):$(PORT)/docs"
	@echo "  Log in with POST /api/v1/auth/wechat-login {\"code\": \"demo-district-admin\"}"
	@echo "  (other demo codes: demo-street-admin, demo-community-admin, demo-unit-admin, demo-member, demo-inspector)"
	@echo "  PC console: http://$(HOST):$(PORT)/console/ (dev login form, no phone needed)"
	@echo ""
	$(DEV_ENV) $(BIN)/uvicorn --factory app.main:create_app --host $(HOST) --port $(PORT) \
		--no-access-log --timeout-graceful-shutdown $(SHUTDOWN_DRAIN_SECONDS)

lint: $(BIN)/.installed
	$(BIN)/ruff check app tests benchmarks alembic/env.py
	$(BIN)/ruff format --check app tests benchmarks alembic/env.py
	$(BIN)/mypy app

# SQLite always; PostgreSQL too where TEST_POSTGRES_URL (default the local server)
# answers, else those tests are reported as skipped with the reason. One worker per
# core: each creates its own databases, so they never collide.
test: lint browser scale-tools
	$(BIN)/python -m pytest -q -rs -n auto

# The edit loop: ruff, then the SQLite half of the suite (the PostgreSQL half is
# deselected by its parameter id), stopping at the first failure. `make test` stays
# the gate: type checks, both databases, everything.
test-quick: $(BIN)/.installed
	$(BIN)/ruff check app tests benchmarks alembic/env.py
	$(BIN)/python -m pytest -q -x -n auto -k "not postgresql and not pgbouncer"

# The dashboard page's test drives Debian's Chromium (a browser download by a test
# tool is impossible here). Installed when missing and we may (root with apt-get);
# otherwise, or if that fails, the test is skipped with the reason.
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the dashboard page test"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends chromium; } >/dev/null 2>&1 \
			|| echo "  chromium could not be installed: the browser test will be skipped"; \
	fi

# The tests of a province's setup (README "Scaling out") run Debian's PgBouncer and
# nginx, and PostgreSQL's own binaries for a streaming replica. Installed when missing
# and we may (root with apt-get); otherwise those tests are skipped with the reason.
scale-tools:
	@missing=""; \
	command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing="$$missing pgbouncer"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's$$missing for the scaling tests"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $$missing; } >/dev/null 2>&1 \
			|| echo "  $$missing could not be installed: those tests will be skipped"; \
	fi

# Apache ECharts for the dashboard page is committed (app/static/vendor/echarts), so
# `make run` and `make test` never need npm. `make echarts` fetches the version its
# package.json pins again; `make echarts ECHARTS_VERSION=x.y.z` moves to another.
ECHARTS_DIR := app/static/vendor/echarts
ECHARTS_VERSION ?= $(shell sed -n 's/.*"echarts": "\([^"]*\)".*/\1/p' $(ECHARTS_DIR)/package.json)

echarts:
	@command -v npm >/dev/null || { echo "make echarts needs npm (Node.js)"; exit 1; }
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	cp $(ECHARTS_DIR)/package*.json "$$tmp"/ && \
	npm install --prefix "$$tmp" --save-exact --ignore-scripts --no-audit --no-fund \
		--omit-lockfile-registry-resolved "echarts@$(ECHARTS_VERSION)" && \
	pkg="$$tmp/node_modules/echarts" && \
	cp "$$pkg/dist/echarts.min.js" "$$pkg/LICENSE" "$$pkg/NOTICE" "$$pkg/licenses/LICENSE-d3" \
		"$$tmp/package.json" "$$tmp/package-lock.json" $(ECHARTS_DIR)/ && \
	echo "ECharts $$(sed -n 's/.*"version": "\([^"]*\)".*/\1/p' "$$pkg/package.json") is in $(ECHARTS_DIR)"

# Leaflet for the console's map picker (a task's place), committed the same way
# (app/static/vendor/leaflet): `make leaflet` fetches the version its package.json pins.
# No marker images: the picker draws its place and radius as vector layers.
# The map's tiles come from CONSOLE_MAP_TILES_URL (none by default: no map is drawn).
LEAFLET_DIR := app/static/vendor/leaflet
LEAFLET_VERSION ?= $(shell sed -n 's/.*"leaflet": "\([^"]*\)".*/\1/p' $(LEAFLET_DIR)/package.json)

leaflet:
	@command -v npm >/dev/null || { echo "make leaflet needs npm (Node.js)"; exit 1; }
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	cp $(LEAFLET_DIR)/package*.json "$$tmp"/ && \
	npm install --prefix "$$tmp" --save-exact --ignore-scripts --no-audit --no-fund \
		--omit-lockfile-registry-resolved "leaflet@$(LEAFLET_VERSION)" && \
	pkg="$$tmp/node_modules/leaflet" && \
	cp "$$pkg/dist/leaflet.js" "$$pkg/dist/leaflet.css" "$$pkg/LICENSE" \
		"$$tmp/package.json" "$$tmp/package-lock.json" $(LEAFLET_DIR)/ && \
	echo "Leaflet $$(sed -n 's/.*"version": "\([^"]*\)".*/\1/p' "$$pkg/package.json") is in $(LEAFLET_DIR)"

openapi: $(BIN)/.installed
	$(BIN)/python -m app.cli openapi

migrate: $(BIN)/.installed
	$(BIN)/alembic upgrade head

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
