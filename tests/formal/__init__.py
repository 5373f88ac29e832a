"""Formal proofs' harnesses (SystemVerilog, next to the design they check) and
the Python that fills them in and emits the design under proof.

* ``datapath_harness.sv`` and :mod:`formal.datapath`: decoder -> sign-select
  lanes -> adder tree against a constant table of the codebook's vectors.
* ``engine_flow.sv`` and :mod:`formal.engine`: the SST engine's streams (one
  output beat per row, in order; payload stable while stalled) and its
  accumulators (no overflow up to ``max_row_len``).
* ``frames_harness.sv`` and :mod:`formal.frames`: the UART frame receiver.

The proofs run from ``tests/test_formal_*.py`` through
:mod:`sst_hw.sim.formal`; a harness only reads the emitted Verilog, never
edits it (a broken variant is a separate, mutated copy).
"""
