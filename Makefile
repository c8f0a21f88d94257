# Two commands do all set-up on a fresh machine: `make run` and `make test`. Each installs the Debian packages it
# needs (.ci/system-packages.sh: only what is missing) and creates .venv when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint typecheck importlint pytest bench clean system-run system-test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

system-run system-test:
	@.ci/system-packages.sh $(@:system-%=%)

## run: seed the demo world on the embedded SQLite default and serve the backend with the contrib plugins
##      (`make run PORT=8001` picks the port)
run: system-run $(STAMP)
	$(BIN)/pixsim-hooks serve --demo --host $(HOST) --port $(PORT)

## test: lint, type-check, import contracts, then the test suite
test: system-test lint typecheck importlint pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

importlint: $(STAMP)
	$(BIN)/lint-imports

pytest: system-test $(STAMP)
	$(BIN)/pytest

## bench: ratios against baselines measured in the same run
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
