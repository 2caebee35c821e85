# onestop — the two commands a newcomer needs are `make run` and `make test`.
# Everything else here is for developers and operators.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run examples test lint types unit bench loadtest soak mutate venv clean

# The environment is created when missing and refreshed when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

## run: migrate the SQLite file, seed demo data when empty, print the demo keys and a ready
## curl, and serve on 127.0.0.1:8000 (Ctrl-C stops it).
run: $(STAMP)
	@$(BIN)/onestop db upgrade
	@$(BIN)/onestop demo seed
	@echo
	@echo "Serving on http://127.0.0.1:8000 (OpenAPI at http://127.0.0.1:8000/docs); Ctrl-C stops."
	@$(BIN)/onestop serve --host 127.0.0.1 --port 8000

## examples: settle the worked examples with the database-free workbench: E1, E2, E4, and X1 (a
## cross-region claim), H1 (the health poverty fund) and R1 (a bill with rule-check findings).
examples: $(STAMP)
	@COLUMNS=$${COLUMNS:-160} $(BIN)/onestop tariffs check
	@for example in e1 e2 e4 x1 h1 r1; do \
	  dir=docs/examples/$$example; \
	  level=$$(cat $$dir/hospital_level); \
	  acc=""; test -f $$dir/accumulators.json && acc="--accumulators $$dir/accumulators.json"; \
	  region=""; test -f $$dir/hospital_region && region="--hospital-region $$(cat $$dir/hospital_region)"; \
	  echo; echo "== $$dir"; \
	  COLUMNS=$${COLUMNS:-160} $(BIN)/onestop settle $$dir/claim.json --person $$dir/person.json \
	    --hospital-level $$level $$region $$acc || exit 1; \
	done

## test: lint, types and the whole test suite (the API tests also run on PostgreSQL when
## ONESTOP_TEST_PG_URL names a server, as .ci/run does).
test: lint types unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

## unit: the suite on every core (pytest-xdist; each worker has its own databases), then the
## tests marked serial alone (they restart the PostgreSQL server the others use).
TEST_WORKERS ?= auto
unit: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not serial"
	$(BIN)/python -m pytest -m serial

## bench: the engine benchmark (figures go to docs/performance.md).
bench: $(STAMP)
	$(BIN)/python -m loadtests.bench

## loadtest: a fresh database and the service; wrk posts new claims for SETTLE_SECONDS to a bare
## FastAPI app of the same shape and then to the service (same claims, CONNECTIONS open) and
## prints both rates and their ratio; then locust runs the full mix headless. Prints
## settlements/s and latency, writes reports under var/loadtest/, exits 1 when a threshold is
## missed or any answer is wrong. Installs wrk (Debian's package) when missing.
## Variables: DB=sqlite|pg WORKERS USERS DURATION LINES PERSONS HOSPITALS MIN_RPS MAX_P99_MS
## SETTLE_SECONDS CONNECTIONS NHSA_PERCENT (the share of users that settle through /v1/nhsa)
DB ?= sqlite
WORKERS ?= 1
USERS ?= 16
DURATION ?= 60
LINES ?= 30
PERSONS ?= 100000
HOSPITALS ?= 20
MIN_RPS ?= 0
MAX_P99_MS ?= 0
SETTLE_SECONDS ?= 20
CONNECTIONS ?= 16
NHSA_PERCENT ?= 10
loadtest: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m loadtests.run --db $(DB) --workers $(WORKERS) --users $(USERS) \
	  --duration $(DURATION) --lines $(LINES) --persons $(PERSONS) --hospitals $(HOSPITALS) \
	  --min-rps $(MIN_RPS) --max-p99-ms $(MAX_P99_MS) --settle-seconds $(SETTLE_SECONDS) \
	  --connections $(CONNECTIONS) --nhsa-percent $(NHSA_PERCENT)

## soak: the long reliability runs (about 25 minutes; restarts the local PostgreSQL cluster):
## kills of the service and database restarts under load, contention, a long schemathesis
## run, then a 10-minute load test; each prints what it tried and what it lost.
soak: $(STAMP)
	ONESTOP_TEST_PG_URL=$${ONESTOP_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/postgres} \
	ONESTOP_SOAK_SECONDS=$${ONESTOP_SOAK_SECONDS:-600} ONESTOP_SOAK_KILLS=$${ONESTOP_SOAK_KILLS:-60} \
	ONESTOP_SOAK_DB_RESTARTS=$${ONESTOP_SOAK_DB_RESTARTS:-20} ONESTOP_SOAK_THREADS=$${ONESTOP_SOAK_THREADS:-12} \
	ONESTOP_CONTENTION_THREADS=$${ONESTOP_CONTENTION_THREADS:-32} \
	ONESTOP_CONTENTION_OPERATIONS=$${ONESTOP_CONTENTION_OPERATIONS:-100} \
	ONESTOP_SOAK_EXAMPLES=$${ONESTOP_SOAK_EXAMPLES:-1000} \
	$(BIN)/python -m pytest tests/api/routes/test_crash_safety.py tests/api/routes/test_contention.py \
	  tests/api/routes/test_hostile_input.py tests/api/routes/test_schemathesis.py -q -s
	$(BIN)/python -m loadtests.run --duration 600 --users 16 --name soak-$$(date +%Y%m%d-%H%M%S)

## mutate: mutation testing with mutmut (tests/support/mutate.py, docs/mutation.md), never part
## of `make test` or CI (it is slow): small bugs are put into copies of the code one at a time
## under var/mutate/<scope>/mutants/ (never the tree) and the tests run against each. Scopes:
## engine (settlement/ with the engine's and the tariffs' example tests), platform
## (api/core/nhsa.py, api/services/nhsa.py, api/core/exact_json.py with
## tests/api/routes/test_nhsa*.py on SQLite) and simulation (api/services/simulation.py with
## its in-process tests). Prints each scope's kill rate and every mutant not
## killed; a second run retests only what changed. Variables: MUTATE_SCOPES="engine platform simulation"
## MUTATE_CHILDREN (mutants tested at once) MUTATE_FLAGS (--fresh to start over,
## --retest-survivors, --only 'api.services.nhsa.x__reconcile*' for a few).
MUTATE_SCOPES ?= engine platform simulation
MUTATE_CHILDREN ?= 1
MUTATE_FLAGS ?=
mutate: $(STAMP)
	$(BIN)/python -m tests.support.mutate $(MUTATE_SCOPES) --max-children $(MUTATE_CHILDREN) $(MUTATE_FLAGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
