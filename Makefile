# Two commands on a fresh machine: `make demo` and `make test`.
# The virtualenv is created once (.venv) and reused; torch==2.13.0 (the local CPU wheel)
# is installed before the project so that pip never resolves a CUDA build of torch.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKSPACE ?= arena-data

.PHONY: setup demo test lint format clean browser

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Two nights of the cycle on tic_tac_toe (configs/nightly.toml: base preset and budgets).
# Exit status 3 (no promotion tonight) is an honest outcome, not a failure of the demo.
NIGHTLY := $(BIN)/arena --workspace $(WORKSPACE) nightly --config configs/nightly.toml
demo: $(STAMP)
	$(NIGHTLY) --night demo-1 || test $$? -eq 3
	$(NIGHTLY) --night demo-2 || test $$? -eq 3
	$(BIN)/arena --workspace $(WORKSPACE) registry --game tic_tac_toe

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The browser tests drive Debian's Chromium (never a downloaded one). Install it with apt where
# that works (root, or password-less sudo); otherwise say so: those tests then skip.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && \
	    { if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	      $$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || \
	      { $$SUDO apt-get update -q >/dev/null 2>&1 && $$SUDO apt-get install -y -q chromium >/dev/null 2>&1; }; } ; } || \
	  echo "note: Chromium not installed (apt-get install -y chromium); the browser tests will skip"

# Two pytest workers, each taking whole test modules (module fixtures such as the one real
# night stay in one process): 292 s against 398 s in one process on this 2-core machine
# (much of the suite waits on Ray start-up and subprocesses). PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2
test: $(STAMP) lint browser
	$(BIN)/python -m pytest -q -rs --durations=15 -n $(PYTEST_WORKERS) --dist loadfile

clean:
	rm -rf $(VENV) $(WORKSPACE) .pytest_cache .ruff_cache
