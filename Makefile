# rxguard: `make run` sets up and starts rxguard; `make test` sets up and passes the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench bench-quick clean venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

DEMO_DB := var/demo.db

run: $(STAMP)
	$(BIN)/rxguard packs validate
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	RXGUARD_DATABASE_URL=sqlite:///$(DEMO_DB) $(BIN)/rxguard demo load
	RXGUARD_DATABASE_URL=sqlite:///$(DEMO_DB) $(BIN)/rxguard audit verify
	$(BIN)/rxguard check --drug Tysabri --bundle examples/natalizumab-ms-patient.json --at 2026-01-05 --jurisdiction US

test: $(STAMP)
	$(BIN)/pytest

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
