# Two commands for a fresh machine: `make run` and `make test` (README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint migrate bench demo clean

# The virtualenv is rebuilt when pyproject.toml changes; the stamp records what it holds.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/imaging-gateway serve

# A department's day played against the gateway that `make run` serves (README).
demo: $(BIN)/.installed
	$(BIN)/imaging-gateway simulate

migrate: $(BIN)/.installed
	$(BIN)/imaging-gateway migrate

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check --quiet .
	$(BIN)/python -m pytest

# Benchmarks (bench/README.md); BENCH_QUICK=1 for a short look. Needs PostgreSQL and DCMTK.
bench: $(BIN)/.installed
	@command -v storescp >/dev/null || (apt-get update -q && apt-get install -y -q dcmtk)
	$(BIN)/python -m bench.run

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
