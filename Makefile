# onestop — the two commands a newcomer needs are `make run` and `make test`.
# Everything else here is for developers and operators.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint types unit bench venv clean

# The environment is created when missing and refreshed when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

## run: settle the bundled sample claims (worked examples E1, E2, E4) and print their bills.
run: $(STAMP)
	@COLUMNS=$${COLUMNS:-160} $(BIN)/onestop tariffs check
	@for example in e1 e2 e4; do \
	  dir=docs/examples/$$example; \
	  level=$$(cat $$dir/hospital_level); \
	  acc=""; test -f $$dir/accumulators.json && acc="--accumulators $$dir/accumulators.json"; \
	  echo; echo "== $$dir: onestop settle $$dir/claim.json --person $$dir/person.json --hospital-level $$level $$acc"; \
	  COLUMNS=$${COLUMNS:-160} $(BIN)/onestop settle $$dir/claim.json --person $$dir/person.json \
	    --hospital-level $$level $$acc || exit 1; \
	done
	@echo; echo "Try your own: $(BIN)/onestop settle CLAIM.json --person PERSON.json --hospital-level 3 [--format json]"

## test: lint, types and the whole test suite.
test: lint types unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest

## bench: the engine benchmark (figures go to docs/performance.md).
bench: $(STAMP)
	$(BIN)/python -m settlement.bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
