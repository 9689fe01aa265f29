# rxguard: `make run` sets up and starts rxguard; `make test` sets up and passes the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench bench-quick clean venv reliability audit lock upgrade-lock

# The exact versions and hashes of requirements.lock (made by pip-compile from pyproject.toml),
# then rxguard itself without resolving anything again.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

LOCK_COMPILE = $(BIN)/pip-compile --quiet --extra dev --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links --output-file requirements.lock pyproject.toml

# After changing a dependency in pyproject.toml: keep what is locked, add what is new.
lock:
	test -x $(BIN)/pip-compile || $(BIN)/pip install --quiet 'pip-tools>=7.4'
	$(LOCK_COMPILE)

# Move every locked package to the newest version pyproject.toml allows (then run make test and make audit).
upgrade-lock:
	test -x $(BIN)/pip-compile || $(BIN)/pip install --quiet 'pip-tools>=7.4'
	$(LOCK_COMPILE) --upgrade

DEMO_DB := var/demo.db
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_ENV := RXGUARD_DATABASE_URL=sqlite:///$(DEMO_DB)

run: $(STAMP)
	$(BIN)/rxguard packs validate
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	$(DEMO_ENV) $(BIN)/rxguard db upgrade
	$(DEMO_ENV) $(BIN)/rxguard demo load
	$(DEMO_ENV) $(BIN)/rxguard audit verify
	$(BIN)/rxguard check --drug Tysabri --bundle examples/natalizumab-ms-patient.json --at 2026-01-05 --jurisdiction US
	@echo ""
	@echo "Demo sign-in (send 'Authorization: Bearer <token>' to http://$(HOST):$(PORT)/api/v1/...):"
	@$(DEMO_ENV) $(BIN)/rxguard user demo
	@echo ""
	@echo "Web application: http://$(HOST):$(PORT)/ — sign in with a name above:"
	@$(DEMO_ENV) $(BIN)/rxguard web demo-users
	@echo ""
	@echo "rxguard: http://$(HOST):$(PORT)  (API docs /docs, CDS Hooks /cds-services without a JWT in this local demo)"
	@echo "  e.g. curl -H 'Authorization: Bearer <ada token>' http://$(HOST):$(PORT)/api/v1/patients"
	$(DEMO_ENV) RXGUARD_CDS_ALLOW_UNAUTHENTICATED=true $(BIN)/rxguard serve --host $(HOST) --port $(PORT)

# CI: the dependency audit (it says loudly when the advisory data is out of reach), then the suite,
# including the reliability tests that fit in a few minutes (the soak is `make reliability` only).
# The suite runs on every core (pytest-xdist); TEST_WORKERS=0 runs it in one process, e.g. to debug.
TEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/python tests/reliability/dependency_audit.py
	$(BIN)/pytest -n $(TEST_WORKERS)

# Everything in docs/reliability.md: the full-size reliability runs, the five-minute soak and the
# API access matrix; figures in var/reliability/figures.json. RXGUARD_REQUIRE_AUDIT=1 fails the run
# when the dependency audit could not be done.
reliability: $(STAMP)
	$(BIN)/python tests/reliability/dependency_audit.py
	RXGUARD_RELIABILITY_FULL=1 $(BIN)/pytest -m "" tests/reliability tests/httpapi/test_api_access_matrix.py

audit: $(STAMP)
	$(BIN)/python tests/reliability/dependency_audit.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench conftest.py
	$(BIN)/ruff format --check src tests bench conftest.py
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix src tests bench conftest.py
	$(BIN)/ruff format src tests bench conftest.py

bench: $(STAMP)
	$(BIN)/python -m bench.run

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
