# hostlink: the two commands a new user needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test bench vectors models imx500-env firmware fuzz clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## setup: create .venv and install hostlink with its test tools
setup: $(STAMP)

## demo: upload the bundled model to each emulated board, capture, print the per-stage table
demo: setup
	$(BIN)/hostlink demo

## test: everything CI runs
test: setup
	$(BIN)/python tools/gen_vectors.py --check
	$(BIN)/python -m pytest -n auto

## bench: the benchmarks quoted in the README
bench: setup
	$(BIN)/python bench/bench_spine.py

## vectors: regenerate protocols/vectors after a reviewed protocol change
vectors: setup
	$(BIN)/python tools/gen_vectors.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
