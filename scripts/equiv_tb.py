"""cocotb 2.x lock-step testbench of ``scripts/check_equivalence.py``.

The DUT is a generated wrapper (``equiv_pair``) that instantiates the *base*
and the *new* network core on the same inputs and exposes both output sets as
``base__<port>`` and ``new__<port>``. One coroutine drives every input on every
cycle from a seeded random stream:

* reset: a few cycles at the start, then the resets listed in the
  configuration (mid-run, and for a loadable core once while its image is
  being written);
* every input stream of the sidecar (``i``, and ``load`` for the spram cores
  of older trees): valid/payload beats with random idle cycles; a beat, once
  offered, is held until taken; while ``valid`` is low the payload carries
  random junk; ``load`` sends the code image (again after every reset), ``i``
  sends the prepared inference inputs one feature per beat;
* the ``image`` port of a loadable core (the configuration's ``image``: the
  sidecar's ``image`` entry plus the ``words`` of each memory): after every
  reset, with ``use_loaded`` 0, every code word then every table row is
  written (``we``, one word per cycle, random idle cycles between), then
  every word is read back (``re``) and checked against what was written
  ``read_latency`` cycles later; then ``use_loaded`` goes to 1 and only then
  does ``i`` start sending inputs. While ``we`` and ``re`` are low, ``sel``,
  ``addr`` and ``wdata`` carry random junk;
* every output stream (``o``): random ``ready``;
* any other input port: random bits.

In the read-only phase of every cycle it compares each output port of the two
cores (handshakes and payloads, whether valid or not) and fails at the first
difference. It also counts the completed inferences (output groups ending
with ``last``), maps them to the inputs sent since the last reset and, when
the configuration carries golden outputs, compares them, so that the check
cannot pass on cores that produce nothing. Statistics go to a JSON file for
the caller.

The configuration is a JSON file named by the environment variable
:data:`CONFIG_ENV`; nothing here imports ``sst_hw``.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

CONFIG_ENV = "SST_EQUIV_TB_CONFIG"
CLOCK_NS = 10


def _config() -> dict:
    path = os.environ.get(CONFIG_ENV)
    if not path:
        raise RuntimeError(f"{CONFIG_ENV} is not set: run through scripts/check_equivalence.py")
    return json.loads(Path(path).read_text())


def _field(payload: int, info: dict) -> int:
    width = int(info["width"])
    v = (payload >> int(info["offset"])) & ((1 << width) - 1)
    if info.get("element", {}).get("signed") and v >> (width - 1):
        v -= 1 << width
    return v


def _int(value) -> int:
    """A cocotb 2.x value (Logic or LogicArray) as an unsigned int."""
    to_unsigned = getattr(value, "to_unsigned", None)
    return int(to_unsigned()) if to_unsigned is not None else int(value)


def _pack(value: int, info: dict) -> int:
    width = int(info["width"])
    return (int(value) & ((1 << width) - 1)) << int(info["offset"])


class _Source:
    """One input stream: a queue of payload integers, held until taken."""

    def __init__(self, dut, info, rng):
        self.valid = getattr(dut, info["valid"])
        self.payload = getattr(dut, info["payload"])
        self.ready = info["ready"]
        self.width = int(info["width"])
        self.rng = rng
        self.queue = []
        self.order = []
        self.pos = 0
        self.current = None
        self.p_idle = 0.0
        self.taken = 0

    def reset(self, queue):
        self.queue, self.pos, self.current = list(queue), 0, None

    def drive(self):
        if self.current is None and self.pos < len(self.queue) and \
                not (self.p_idle and self.rng.random() < self.p_idle):
            self.current = self.queue[self.pos]
            self.pos += 1
        if self.current is None:
            self.valid.value = 0
            self.payload.value = self.rng.getrandbits(self.width)
        else:
            self.valid.value = 1
            self.payload.value = self.current

    def fired(self, ready: int) -> bool:
        """Called in the read-only phase: True if the offered beat is taken at the coming edge."""
        if self.current is not None and ready:
            self.current = None
            self.taken += 1
            return True
        return False


class _ImageDriver:
    """The ``image`` port of a loadable core (both cores get the same writes).

    ``info``: the sidecar's ``image`` entry plus ``words`` (``{"code": [...],
    "table": [...]}``). Per reset epoch: write every word, read every word
    back (unless ``readback`` is false), then ``use_loaded`` 1 and the callback
    that lets the inputs go.
    """

    INPUTS = ("sel", "addr", "wdata", "we", "re", "use_loaded")

    def __init__(self, dut, info, rng, out_index, outputs, stats):
        self.rng = rng
        self.h = {m: getattr(dut, info[m]) for m in self.INPUTS}
        self.widths = {m: int(info["widths"][m]) for m in info["widths"]}
        self.latency = int(info.get("read_latency", 1))
        self.rdata = outputs[out_index[info["rdata"]]][1]        # the base core's rdata
        self.use_loaded = int(info.get("use_loaded_value", 1))
        self.readback = bool(info.get("readback", True))
        mems = info["memories"]
        self.writes, self.masks = [], {}
        for name in ("code", "table"):
            words = [int(w) for w in info["words"].get(name) or []]
            if name not in mems:
                if words:
                    raise ValueError(f"image words for {name}, which the port does not reach")
                continue
            if len(words) != int(mems[name]["words"]):
                raise ValueError(f"the {name} image has {len(words)} words, the port's "
                                 f"memory {mems[name]['words']}")
            self.masks[name] = (1 << int(mems[name]["word_bits"])) - 1
            self.writes += [(name, int(mems[name]["sel"]), a, w) for a, w in enumerate(words)]
        self.stats = stats
        stats.update(image_words_written=0, images_written=0, readback_checked=0,
                     readback_mismatches=[])
        self.p_idle = 0.0
        self.state, self.pos, self.pending, self.on_done = "reset", 0, {}, None
        self.just_done = self.released = False

    def start(self, on_done):
        """A new reset epoch: write the image again."""
        self.state, self.pos, self.pending, self.on_done = "write", 0, {}, on_done
        self.just_done = self.released = False

    def _junk(self):
        for m in ("sel", "addr", "wdata"):
            self.h[m].value = self.rng.getrandbits(self.widths[m])

    def drive(self, cycle, in_reset):
        """Set the port for the coming cycle (right after a rising edge)."""
        h = self.h
        h["we"].value = 0
        h["re"].value = 0
        if in_reset:
            self.state, self.pending = "reset", {}
            h["use_loaded"].value = 0
            self._junk()
            return
        if self.state == "done":
            h["use_loaded"].value = self.use_loaded
            self._junk()
            if not self.released:           # use_loaded is 1 from this cycle on
                self.released = self.just_done = True
            return
        h["use_loaded"].value = 0
        if self.pos < len(self.writes) and self.p_idle and self.rng.random() < self.p_idle:
            self._junk()
            return
        if self.pos >= len(self.writes):            # nothing to write or read
            self._finish()
            self._junk()
            return
        name, sel, addr, word = self.writes[self.pos]
        h["sel"].value = sel
        h["addr"].value = addr
        if self.state == "write":
            h["wdata"].value = word
            h["we"].value = 1
            self.stats["image_words_written"] += 1
        else:                                       # "read"
            h["wdata"].value = self.rng.getrandbits(self.widths["wdata"])
            h["re"].value = 1
            self.pending[cycle + self.latency] = (name, addr, word)
        self.pos += 1
        if self.pos == len(self.writes):
            if self.state == "write":
                self.state, self.pos = "read", 0
                self.stats["images_written"] += 1
                if not self.readback:
                    self._finish()
            else:
                self._finish()

    def _finish(self):
        self.state = "done"

    def sample(self, cycle):
        """Read-only phase: check a word read back ``read_latency`` cycles ago."""
        want = self.pending.pop(cycle, None)
        if want is None:
            return
        name, addr, word = want
        self.stats["readback_checked"] += 1
        try:
            got = _int(self.rdata.value) & self.masks[name]
        except ValueError:
            got = str(self.rdata.value)
        if got != word:
            self.stats["readback_mismatches"].append(
                {"cycle": cycle, "memory": name, "addr": addr, "got": str(got),
                 "written": str(word)})

    def after_cycle(self):
        """End of a cycle: once ``use_loaded`` is 1, let the inputs go (from the
        next cycle on)."""
        if self.just_done:
            self.just_done = False
            if self.on_done is not None:
                self.on_done()


@cocotb.test()
async def lockstep(dut):
    """Base and new core, same random stimulus: every output equal on every cycle."""
    cfg = _config()
    rng = random.Random(int(cfg["seed"]))
    clk = getattr(dut, cfg["clock"])
    rst = getattr(dut, cfg["reset"])
    rst_on = 1 if cfg.get("reset_active", "high") == "high" else 0
    Clock(clk, CLOCK_NS, unit="ns").start()

    outputs = [(p["name"], getattr(dut, "base__" + p["name"]), getattr(dut, "new__" + p["name"]))
               for p in cfg["outputs"]]
    out_index = {name: i for i, (name, _, _) in enumerate(outputs)}
    streams = cfg["streams"]
    sources = {name: _Source(dut, info, random.Random(rng.random()))
               for name, info in streams.items() if info["direction"] == "input"}
    sinks = {name: info for name, info in streams.items() if info["direction"] == "output"}
    sink_ready = {name: getattr(dut, info["ready"]) for name, info in sinks.items()}
    misc = [(getattr(dut, p["name"]), int(p["width"])) for p in cfg["other_inputs"]]

    data_stream = cfg["data_stream"]            # "i"
    result_stream = cfg["result_stream"]        # "o"
    load_stream = cfg.get("load_stream")        # "load" or None
    features = int(cfg["features"])
    group = int(cfg["classes"]) + 1
    inputs = cfg["inputs"]
    expected = cfg.get("expected")
    d_field = streams[data_stream]["fields"]["data"]
    o_data = sinks[result_stream]["fields"]["data"]
    o_last = sinks[result_stream]["fields"]["last"]
    code_image = [int(w) for w in cfg.get("code_image") or []]
    l_field = streams[load_stream]["fields"]["data"] if load_stream else None

    cycles = int(cfg["cycles"])
    resets = {}
    for start, length in cfg["resets"]:
        for c in range(int(start), int(start) + int(length)):
            resets[c] = True
    phase_lo, phase_hi = cfg.get("phase_cycles", [200, 900])
    idle_choices = cfg.get("p_idle", [0.0, 0.0, 0.2, 0.5, 0.8])
    stall_choices = cfg.get("p_stall", [0.0, 0.0, 0.3, 0.6, 0.9])

    stats = {"cycles": 0, "resets": 0, "compared_signals": [n for n, _, _ in outputs],
             "beats": {n: 0 for n in streams}, "inferences_sent": 0, "inferences_completed": 0,
             "golden_checked": 0, "golden_mismatches": [], "bad_groups": [], "mismatch": None,
             "load_words": 0}
    image = _ImageDriver(dut, cfg["image"], random.Random(rng.random()), out_index, outputs,
                         stats) if cfg.get("image") else None

    # Per reset epoch: the inferences whose inputs were all taken, and the output beats.
    next_inference = 0
    sent_this_epoch = []
    feature_count = 0
    current_inference = None
    out_beats = []
    groups_this_epoch = 0

    def start_epoch():
        nonlocal sent_this_epoch, feature_count, current_inference, out_beats
        nonlocal groups_this_epoch
        sent_this_epoch, feature_count, current_inference = [], 0, None
        out_beats, groups_this_epoch = [], 0
        # The inputs go in as one long queue of beats, inference after inference.
        queue = []
        order = []
        for k in range(next_inference, len(inputs)):
            order.append(k)
            queue += [_pack(v, d_field) for v in inputs[k]]
        sources[data_stream].reset(queue if image is None else [])
        sources[data_stream].order = order
        if image is not None:
            # The inputs wait until the image is written, read back and in use.
            image.start(lambda: sources[data_stream].reset(queue))
        if load_stream:
            sources[load_stream].reset([_pack(w, l_field) for w in code_image])
        for name, src in sources.items():
            if name not in (data_stream, load_stream):
                src.reset([])

    start_epoch()
    next_phase = 0
    in_reset_prev = True
    mismatch = None
    for cycle in range(cycles):
        await RisingEdge(clk)
        in_reset = cycle < int(cfg.get("initial_reset", 3)) or cycle in resets
        if in_reset and not in_reset_prev:
            stats["resets"] += 1
        if not in_reset and in_reset_prev:
            start_epoch()
        in_reset_prev = in_reset
        if cycle >= next_phase:
            next_phase = cycle + rng.randint(phase_lo, phase_hi)
            for src in sources.values():
                src.p_idle = rng.choice(idle_choices)
            p_stall = {name: rng.choice(stall_choices) for name in sinks}
            if image is not None:
                image.p_idle = image.rng.choice(idle_choices)
        rst.value = rst_on if in_reset else 1 - rst_on
        if image is not None:
            image.drive(cycle, in_reset)
        for src in sources.values():
            src.drive()
        readies = {}
        for name, h in sink_ready.items():
            readies[name] = int(not (p_stall[name] and rng.random() < p_stall[name]))
            h.value = readies[name]
        for h, w in misc:
            h.value = rng.getrandbits(w)

        await ReadOnly()
        for name, hb, hn in outputs:
            vb, vn = hb.value, hn.value
            if vb != vn:
                mismatch = {"cycle": cycle, "signal": name, "base": str(vb), "new": str(vn)}
                break
        if mismatch is not None:
            break
        stats["cycles"] = cycle + 1
        if in_reset:
            continue
        if image is not None:
            image.sample(cycle)
        for name, src in sources.items():
            ready = _int(outputs[out_index[streams[name]["ready"]]][1].value)
            if src.fired(ready):
                stats["beats"][name] += 1
                if name == load_stream:
                    stats["load_words"] += 1
                elif name == data_stream:
                    feature_count += 1
                    if feature_count == features:
                        k = src.order[len(sent_this_epoch)]
                        sent_this_epoch.append(k)
                        next_inference = k + 1
                        feature_count = 0
                        stats["inferences_sent"] += 1
        for name, info in sinks.items():
            valid = _int(outputs[out_index[info["valid"]]][1].value)
            if valid and readies[name]:
                stats["beats"][name] += 1
                if name != result_stream:
                    continue
                payload = _int(outputs[out_index[info["payload"]]][1].value)
                out_beats.append((_field(payload, o_data), _field(payload, o_last)))
                if out_beats[-1][1]:
                    values = [v for v, _ in out_beats]
                    lasts = [l for _, l in out_beats]
                    out_beats = []
                    stats["inferences_completed"] += 1
                    if len(values) != group or lasts != [0] * (group - 1) + [1]:
                        stats["bad_groups"].append({"cycle": cycle, "beats": len(values)})
                    elif groups_this_epoch < len(sent_this_epoch) and expected is not None:
                        k = sent_this_epoch[groups_this_epoch]
                        stats["golden_checked"] += 1
                        if values != [int(v) for v in expected[k]]:
                            stats["golden_mismatches"].append(
                                {"inference": k, "got": values, "golden": expected[k]})
                    groups_this_epoch += 1
        if image is not None:
            image.after_cycle()

    stats["mismatch"] = mismatch
    Path(cfg["stats"]).write_text(json.dumps(stats, indent=2))
    if mismatch is not None:
        raise AssertionError(f"cores diverge at cycle {mismatch['cycle']} on "
                             f"{mismatch['signal']}: base {mismatch['base']}, "
                             f"new {mismatch['new']}")
    need = int(cfg.get("min_inferences", 1))
    if stats["inferences_completed"] < need:
        raise AssertionError(f"only {stats['inferences_completed']} inferences completed in "
                             f"{cycles} cycles (at least {need} required): the comparison "
                             f"would be vacuous")
