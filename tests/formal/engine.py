"""Proofs 2 and 3: the SST engine's streams and accumulator width.

The design is :func:`sst_hw.emit.engine.engine_verilog` of an
:class:`~sst_hw.rtl.engine.SSTEngine`, as ``sst-hw generate`` writes it;
``engine_harness.sv`` states the properties around it. A broken variant is
a text mutation of a copy of that Verilog (:data:`MUTATIONS`).
"""

from __future__ import annotations

import re
from pathlib import Path

from sst_hw.emit.engine import engine_verilog
from sst_hw.emit.write import describe_layout
from sst_hw.plan.engine import SSTParams
from sst_hw.rtl.engine import SSTEngine
from sst_hw.sim.formal import fill_template, write_design

from formal.datapath import decode_function

HERE = Path(__file__).parent
TEMPLATE = HERE / "engine_harness.sv"
TOP = "engine_harness"
DUT = "sst_engine"


def _sub(pattern: str, repl: str, count: int = 1):
    def mutate(text: str) -> str:
        new, n = re.subn(pattern, repl, text, count=count, flags=re.M)
        if n == 0:
            raise ValueError(f"mutation pattern {pattern!r} not found in the emitted Verilog")
        return new
    return mutate


#: Broken copies of the emitted engine, each a flow-control bug:
#: ``accept_ignores_ready``: a beat is taken whenever it is valid;
#: ``ready_one_row_late``: ``i.ready`` admits ``out_depth + 1`` pending rows
#: (``pending_next <= depth`` instead of ``<``), so a row overwrites another;
#: ``pop_ignores_ready``: the output queue drops its head whether or not
#: ``o.ready``.
MUTATIONS = {
    "accept_ignores_ready": _sub(r"^(\s*assign accept = i__valid) & i__ready;", r"\1;"),
    "ready_one_row_late": _sub(r"^(\s*assign \\\$\d+\s+= \\\$\d+\s*\[\d+:0\]) < ", r"\1 <= "),
    "pop_ignores_ready": _sub(r"^(\s*assign pop = o__valid) & o__ready;", r"\1;"),
}


def write_proof(folder, p: SSTParams, *, mutate=None, flip: int | None = None,
                extra_beats: int = 0) -> tuple[list[Path], str]:
    """The engine's Verilog (``sst_engine.v``) and its harness
    (``engine_harness.sv``) in ``folder``: ``(files, top)``. ``mutate`` is
    one of :data:`MUTATIONS` (or any ``text -> text``); ``flip`` breaks the
    reference table; ``extra_beats`` lets rows run that many beats past
    ``max_row_len`` (the accumulators may then overflow)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    engine = SSTEngine(p)
    text = engine_verilog(engine, DUT)
    design = write_design(folder, DUT, text, mutate)

    fields = describe_layout(p.in_layout)
    beats = max(1, p.max_row_len // (p.n * p.simd)) + extra_beats
    cb = p.codebook
    fill = {
        "PE": p.pe, "SIMD": p.simd, "N": p.n, "A": p.act_width, "ASIGNED": int(p.act_signed),
        "B": cb.bits, "W": p.acc_width, "RW": p.acc_width + 4, "LAT": p.latency,
        "DEPTH": p.out_depth, "MAXBEATS": beats, "IW": p.in_layout.size,
        "ACT_OFF": fields["act"]["offset"], "CODE_OFF": fields["code"]["offset"],
        "LAST_BIT": fields["last"]["offset"], "DUT": DUT,
        "DECODE": decode_function(cb, flip=flip),
    }
    return [fill_template(TEMPLATE, folder, fill), design], TOP


def depth_for(p: SSTParams, rows: int = 2, margin: int = 4) -> int:
    """A BMC depth covering ``rows`` full rows (``max_row_len``) back to back,
    the latency, and ``margin`` more cycles (stalls, the reset cycle)."""
    beats = max(1, p.max_row_len // (p.n * p.simd))
    return rows * beats + p.latency + margin
