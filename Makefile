# Every check is one target; .ci/run runs exactly these.
# uv comes from PATH, or is installed into the Python that .python-version selects.
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PGDATA_DIR := .pgdata
LOCAL_PORT ?= 54329
LOCAL_URL := postgresql://$(if $(filter 0,$(shell id -u)),postgres,$(USER))@127.0.0.1:$(LOCAL_PORT)/postgres

.PHONY: help bootstrap sync run db-local key-local test lint format bench clean-local

help:
	@echo "make run        run the API on http://127.0.0.1:8000 with a local PostgreSQL under $(PGDATA_DIR)/ (no Docker)"
	@echo "make key-local  print a read,write API key for that local API"
	@echo "make test       run every test (starts a throwaway PostgreSQL unless DATABASE_URL is set)"
	@echo "make lint       ruff, ruff format --check"
	@echo "make bench      the side-by-side benchmark against pgbench (writes bench/results/)"

bootstrap:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv

sync: bootstrap
	$(UV) sync --frozen

db-local: sync
	$(UV) run python -m tests.local_db start --root $(PGDATA_DIR) --port $(LOCAL_PORT)
	DATABASE_URL=$(LOCAL_URL) $(UV) run coffer db upgrade >&2

run: db-local
	DATABASE_URL=$(LOCAL_URL) $(UV) run coffer serve --host 127.0.0.1 --port 8000

key-local: db-local
	@DATABASE_URL=$(LOCAL_URL) $(UV) run coffer keys create --name local-$$(date +%s) --scopes read,write

clean-local:
	-$(UV) run python -m tests.local_db stop --root $(PGDATA_DIR) --port $(LOCAL_PORT)
	rm -rf $(PGDATA_DIR)

test: sync
	$(UV) run pytest

lint: sync
	$(UV) run ruff check .
	$(UV) run ruff format --check .

format: sync
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

bench: sync
	$(UV) run python -m bench.run
