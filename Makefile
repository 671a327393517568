# The two commands of the README: `make run` and `make test`. Only Python 3.11 and
# make are needed; everything else is installed into .venv from pyproject.toml.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

# The embedded default: SQLite and media under ./var, the WeChat stub mounted in
# the app so the demo people can log in (refused when APP_ENV=prod).
DEV_ENV := APP_ENV=dev WECHAT_DEV_STUB=true WECHAT_APPID=demo-appid WECHAT_SECRET=demo-secret \
	WECHAT_API_BASE=http://$(HOST):$(PORT)/dev/wechat/

.PHONY: run test lint openapi migrate clean

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
	@echo "  (other demo codes: demo-street-admin, demo-community-admin, demo-member, demo-inspector)"
	@echo ""
	$(DEV_ENV) $(BIN)/uvicorn --factory app.main:create_app --host $(HOST) --port $(PORT)

lint: $(BIN)/.installed
	$(BIN)/ruff check app tests benchmarks alembic/env.py
	$(BIN)/ruff format --check app tests benchmarks alembic/env.py
	$(BIN)/mypy app

# SQLite always; PostgreSQL too where TEST_POSTGRES_URL (default the local server)
# answers, else those tests are reported as skipped with the reason. One worker per
# core: each creates its own databases, so they never collide.
test: lint
	$(BIN)/python -m pytest -q -rs -n auto

openapi: $(BIN)/.installed
	$(BIN)/python -m app.cli openapi

migrate: $(BIN)/.installed
	$(BIN)/alembic upgrade head

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
