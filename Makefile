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

demo: $(STAMP)
	$(BIN)/arena --workspace $(WORKSPACE) demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

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

test: $(STAMP) lint browser
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) $(WORKSPACE) .pytest_cache .ruff_cache
