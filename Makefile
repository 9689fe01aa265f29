# rxguard: `make run` sets up and starts rxguard; `make test` sets up and passes the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench bench-quick clean venv reliability audit

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

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
test: $(STAMP)
	$(BIN)/python tests/reliability/dependency_audit.py
	$(BIN)/pytest

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
