# The two commands a user types: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install bench bench-quick golden clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install only when the package metadata changed (editable install covers code changes).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,dask]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ocpp-workbench demo --out captures/demo.ocpp.jsonl

test: $(STAMP)
	$(BIN)/python -m pytest

# Benchmarks print their figures (ratios against a baseline measured in the same run); they are
# not tests. Record what they print in docs/performance.md.
bench: $(STAMP)
	$(BIN)/python bench/proxy_overhead.py
	$(BIN)/python bench/analyze.py
	$(BIN)/python bench/fuzzed_checks.py
	$(BIN)/python bench/import_speed.py
	$(BIN)/python bench/replay.py
	$(BIN)/python bench/fleet.py

bench-quick: $(STAMP)
	$(BIN)/python bench/proxy_overhead.py --quick
	$(BIN)/python bench/analyze.py --quick
	$(BIN)/python bench/fuzzed_checks.py --quick
	$(BIN)/python bench/import_speed.py --quick
	$(BIN)/python bench/replay.py --quick
	$(BIN)/python bench/fleet.py --quick

golden: $(STAMP)
	$(BIN)/python tests/golden/regenerate.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
