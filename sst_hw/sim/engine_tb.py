"""cocotb testbench of a generated engine (SST or dense), driven by its JSON sidecar alone.

Run it through :func:`sst_hw.sim.runner.run_tests` with a configuration::

    {"sidecar": "/path/engine.json",   # required
     "seed": 1,                        # stimulus seed
     "rows": 24,                       # rows per scenario (scaled per test)
     "max_beats": 6}                   # longest random row, in beats

Everything about the DUT comes from the sidecar: port names, the offset and
width of every payload field, the latency, the parameters ``max_row_len``
and the weight format (SST codebook vectors, or the dense ``int8`` /
``ternary2`` fields), from which the model computes each expected
accumulator as the exact integer dot product (Python ints). Every output
beat is compared bit for bit with the packed expected payload.

Tests (run in order, each starting with a reset):
``test_latency``, ``test_one_beat_rows``, ``test_one_beat_rows_stalls``,
``test_long_rows_streaming``, ``test_long_rows_stalls``, ``test_extremes``,
``test_heavy_backpressure``.
"""

from __future__ import annotations

import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout

from sst_hw.sim.runner import load_config
from sst_hw.sim.sidecar import Sidecar
from sst_hw.sim.stream import CycleCounter, stream_drivers

CLOCK_NS = 10


class Row:
    """One row group: PE rows of the same length, as input beats and expected sums."""

    def __init__(self, beats, expected):
        self.beats = beats          # list of (act, code, last) nested lists
        self.expected = expected    # list of PE ints


class EngineModel:
    """Stimulus generator and reference model built from the sidecar."""

    def __init__(self, side: Sidecar, rng: random.Random):
        self.side = side
        self.rng = rng
        p = side.params
        self.n, self.pe, self.simd = int(p["n"]), int(p["pe"]), int(p["simd"])
        self.max_row_len = int(p["max_row_len"])
        fi = side.streams["i"].fields
        self.act_lo, self.act_hi = fi["act"].lo, fi["act"].hi
        self.act_signed = fi["act"].signed
        acc = side.streams["o"].fields["acc"]
        self.acc_lo, self.acc_hi = acc.lo, acc.hi
        assert fi["act"].shape == [self.simd, self.n], fi["act"].shape
        assert fi["code"].shape == [self.pe, self.simd], fi["code"].shape
        assert acc.shape == [self.pe], acc.shape
        self.kind = side.kind
        if self.kind == "sst":
            self.used_codes = np.flatnonzero(side.used)
            self._nonzeros = np.abs(side.vectors).sum(axis=1)
        self._tail_codes = {}

    def codes_for(self, width: int) -> np.ndarray:
        """SST: used codes whose vector is zero beyond the first ``width`` positions."""
        if width >= self.n:
            return self.used_codes
        if width not in self._tail_codes:
            ok = self.side.used & ~self.side.vectors[:, width:].any(axis=1)
            self._tail_codes[width] = np.flatnonzero(ok)
        return self._tail_codes[width]

    def random_code(self, width: int) -> int:
        """A random code word whose weights beyond the first ``width`` are zero:
        a codebook member for SST; random bits in the first ``width`` fields
        for dense kinds (every field value, ternary2's unused ``10`` included)."""
        if self.kind == "sst":
            return int(self.rng.choice(self.codes_for(width)))
        bits = min(width, self.n) * self.side.bits_per_weight
        return self.rng.getrandbits(bits) if bits else 0

    def extreme_code(self, width: int, sign: int, big: int) -> int:
        """A code word for ``width`` weights that drives a row of activations
        ``big`` hard towards ``sign``. SST: the most non-zeros, all of sign
        ``sign``. Dense: every weight the end of the weight range that makes
        ``w * big`` largest in the direction ``sign`` (the extreme products:
        most negative weight x most negative or most positive activation)."""
        if self.kind == "sst":
            ok = self.codes_for(width)
            vec = self.side.vectors[ok]
            good = ok[~(vec == -sign).any(axis=1)]          # only `sign` non-zeros
            return int(good[np.argmax(self._nonzeros[good])])
        w = max(self.side.weight_range, key=lambda v: sign * v * big)
        return self.side.encode([w] * width + [0] * (self.n - width))

    def random_act(self):
        return [[self.rng.randint(self.act_lo, self.act_hi) for _ in range(self.n)]
                for _ in range(self.simd)]

    def row(self, row_len: int, *, act_fn=None, code_fn=None) -> Row:
        """A row group of ``row_len`` weights per PE (random unless overridden)."""
        assert 1 <= row_len <= self.max_row_len
        n, simd = self.n, self.simd
        subs = -(-row_len // n)
        nbeats = -(-subs // simd)
        acc = [0] * self.pe
        beats = []
        for b in range(nbeats):
            act = act_fn() if act_fn else self.random_act()
            code = [[self.side.zero_code] * simd for _ in range(self.pe)]
            for s in range(simd):
                sub = b * simd + s
                if sub >= subs:
                    continue          # padding subvector: zero code
                width = min(n, row_len - sub * n)
                for p in range(self.pe):
                    c = code_fn(p, width) if code_fn else self.random_code(width)
                    code[p][s] = c
                    vec = self.side.decode(c)
                    assert not any(vec[width:]), f"code {c} has weights beyond {width}"
                    acc[p] += sum(vec[j] * act[s][j] for j in range(n) if vec[j])
            beats.append((act, code, int(b == nbeats - 1)))
        for v in acc:
            assert self.acc_lo <= v <= self.acc_hi, f"model value {v} exceeds the accumulator"
        return Row(beats, acc)

    def random_row(self, max_beats: int) -> Row:
        per_beat = self.n * self.simd
        longest = min(self.max_row_len, max_beats * per_beat)
        return self.row(self.rng.randint(1, longest))

    def one_beat_row(self) -> Row:
        return self.row(self.rng.randint(1, min(self.max_row_len, self.n * self.simd)))


class TB:
    """The DUT with its clock, reset, stream drivers and checker."""

    def __init__(self, dut, *, p_idle=0.0, p_stall=0.0, seed_offset=0):
        self.dut = dut
        self.cfg = load_config()
        self.side = Sidecar.load(self.cfg["sidecar"])
        seed = int(self.cfg.get("seed", 1)) * 1000 + seed_offset
        self.rng = random.Random(seed)
        self.model = EngineModel(self.side, random.Random(seed + 1))
        self.rows_per_test = int(self.cfg.get("rows", 24))
        self.max_beats = int(self.cfg.get("max_beats", 6))
        si, so = self.side.streams["i"], self.side.streams["o"]
        self.si, self.so = si, so
        self.clk = getattr(dut, self.side.clock)
        self.rst = getattr(dut, self.side.reset)
        self.p_idle, self.p_stall = p_idle, p_stall
        self.latency = self.side.latency

    async def start(self):
        Clock(self.clk, CLOCK_NS, unit="ns").start()
        d = self.dut
        getattr(d, self.si.valid).value = 0
        getattr(d, self.so.ready).value = 0
        self.rst.value = 1 if self.side.reset_active_high else 0
        await ClockCycles(self.clk, 3)
        self.rst.value = 0 if self.side.reset_active_high else 1
        self.counter = CycleCounter(self.clk)
        self.source, self.sink = stream_drivers(self.clk, d, self.si, self.so, self.counter,
                                                self.rng, p_idle=self.p_idle,
                                                p_stall=self.p_stall)
        await RisingEdge(self.clk)

    def send_row(self, row: Row):
        for act, code, last in row.beats:
            self.source.send(self.si.pack(act=act, code=code, last=last))

    async def run_rows(self, rows, *, timeout_cycles=None):
        """Send all rows, wait for all outputs, compare them bit for bit."""
        start = len(self.sink.received)
        for r in rows:
            self.send_row(r)
        beats = sum(len(r.beats) for r in rows)
        if timeout_cycles is None:
            slow = 1.0 / max(0.05, (1 - self.p_idle) * (1 - self.p_stall))
            timeout_cycles = int((beats + len(rows) * (self.latency + 2)) * slow * 4) + 200
        await with_timeout(self.sink.wait_for(start + len(rows)), timeout_cycles * CLOCK_NS, "ns")
        self.check(rows, self.sink.received[start:start + len(rows)])

    def check(self, rows, received):
        acc = self.so.fields["acc"]
        for i, (r, (_, cycle, payload)) in enumerate(zip(rows, received)):
            want = self.so.pack(acc=r.expected)
            if payload != want:
                got = acc.unpack(payload)
                raise AssertionError(
                    f"row {i} (taken at cycle {cycle}, {len(r.beats)} beats): "
                    f"acc {got} != expected {r.expected} "
                    f"(payload {payload:#x} != {want:#x})")
        assert len(received) == len(rows)

    async def idle_check(self, cycles=None):
        """No spurious output beats after the expected ones."""
        count = len(self.sink.received)
        await ClockCycles(self.clk, cycles or self.latency + 8)
        assert len(self.sink.received) == count, "the DUT emitted an unexpected beat"

    def stop(self):
        self.source.stop()
        self.sink.stop()


@cocotb.test(timeout_time=20, timeout_unit="ms")
async def test_latency(dut):
    """Rows of one beat, one at a time: values and the sidecar's latency."""
    tb = TB(dut, seed_offset=1)
    await tb.start()
    for _ in range(min(8, tb.rows_per_test)):
        row = tb.model.one_beat_row()
        await tb.run_rows([row])
        accepted = tb.source.sent[-1][0]
        first_valid, taken, _ = tb.sink.received[-1]
        assert first_valid - accepted == tb.latency, (
            f"measured latency {first_valid - accepted} != sidecar latency {tb.latency}")
        assert taken == first_valid
    await tb.idle_check()
    tb.stop()


@cocotb.test(timeout_time=50, timeout_unit="ms")
async def test_one_beat_rows(dut):
    """Back-to-back rows of one beat, no stalls."""
    tb = TB(dut, seed_offset=2)
    await tb.start()
    rows = [tb.model.one_beat_row() for _ in range(tb.rows_per_test * 2)]
    await tb.run_rows(rows)
    await tb.idle_check()
    tb.stop()


@cocotb.test(timeout_time=50, timeout_unit="ms")
async def test_one_beat_rows_stalls(dut):
    """Rows of one beat with random idle cycles and ready stalls on both streams."""
    tb = TB(dut, p_idle=0.3, p_stall=0.4, seed_offset=3)
    await tb.start()
    rows = [tb.model.one_beat_row() for _ in range(tb.rows_per_test * 2)]
    await tb.run_rows(rows)
    await tb.idle_check()
    tb.stop()


@cocotb.test(timeout_time=50, timeout_unit="ms")
async def test_long_rows_streaming(dut):
    """Rows of many beats, no stalls; rows of at least `latency` beats must
    stream without a bubble when the output queue holds two rows."""
    tb = TB(dut, seed_offset=4)
    await tb.start()
    m = tb.model
    per_beat = m.n * m.simd
    min_beats = max(2, tb.latency)
    max_beats = max(min_beats, tb.max_beats)
    rows = []
    for _ in range(tb.rows_per_test):
        beats = m.rng.randint(min_beats, max_beats)
        rows.append(m.row(min(m.max_row_len, beats * per_beat)))
    await tb.run_rows(rows)
    long_enough = all(len(r.beats) >= tb.latency for r in rows)
    if int(tb.side.params.get("out_depth", 1)) >= 2 and long_enough:
        cycles = [c for c, _ in tb.source.sent]
        gaps = sum(b - a - 1 for a, b in zip(cycles, cycles[1:]))
        assert gaps == 0, f"input stalled {gaps} cycles on rows of >= latency beats"
    await tb.idle_check()
    tb.stop()


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def test_long_rows_stalls(dut):
    """Random rows (1 to max_beats beats) with random stalls on both streams."""
    tb = TB(dut, p_idle=0.25, p_stall=0.35, seed_offset=5)
    await tb.start()
    rows = [tb.model.random_row(tb.max_beats) for _ in range(tb.rows_per_test)]
    await tb.run_rows(rows)
    await tb.idle_check()
    tb.stop()


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def test_extremes(dut):
    """Rows of max_row_len weights at the largest |activation| (and, when
    signed, also at the most positive one) with every weight pushing one way
    (SST: every non-zero of one sign; dense: the end of the weight range with
    the extreme product, e.g. -128 x -128 and -128 x 127 for int8 x signed
    int8): the accumulators' full range, so an overflow would show."""
    tb = TB(dut, p_idle=0.1, p_stall=0.2, seed_offset=6)
    await tb.start()
    m, side = tb.model, tb.side
    # the largest |activation|, and for signed ones the most positive too
    bigs = [m.act_lo, m.act_hi] if m.act_signed else [m.act_hi]
    rows = []
    for big in bigs:
        for sign in (1, -1):
            signs = [sign if p % 2 == 0 else -sign for p in range(m.pe)]
            rows.append(m.row(m.max_row_len,
                              act_fn=lambda big=big: [[big] * m.n for _ in range(m.simd)],
                              code_fn=lambda p, w, signs=signs, big=big:
                                  m.extreme_code(w, signs[p], big)))
    # and a random-length extreme row
    big = bigs[0]
    rows.append(m.row(m.rng.randint(1, m.max_row_len),
                      act_fn=lambda: [[big] * m.n for _ in range(m.simd)],
                      code_fn=lambda p, w: m.extreme_code(w, 1 if p % 2 else -1, big)))
    await tb.run_rows(rows)
    fields = side.streams["o"].fields["acc"]
    got = fields.unpack(tb.sink.received[0][2])
    assert max(abs(v) for v in got) > 0
    await tb.idle_check()
    tb.stop()


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def test_heavy_backpressure(dut):
    """The output mostly stalled: the engine must hold its input, not lose rows."""
    tb = TB(dut, p_idle=0.0, p_stall=0.9, seed_offset=7)
    await tb.start()
    rows = [tb.model.random_row(2) for _ in range(tb.rows_per_test)]
    await tb.run_rows(rows, timeout_cycles=200 * len(rows) + 1000)
    await tb.idle_check()
    tb.stop()
