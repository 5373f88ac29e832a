"""``ConvFeed``: the window generator and sequencer of the CNN core.

For every pooling window of a pass (one output position when the pass has
no pool), for every group of PE output channels, for every position of the
window, it issues the
pass's gather program (:class:`~sst_hw.plan.convnet.Step`), one step per
cycle: each step reads one stored word (a pixel's channel group) of the map
the pass reads, and fills some lanes of the beat being assembled; a step
whose pixel lies in the zero padding fills zeros and its read is ignored.
When a beat is complete it goes to the engine with its code word, which is
read again for every position.

Pipeline (all stages move together on ``adv``; while the engine stalls,
the memories hold their read data)::

    S0 issue: step ROM read, window origin registered
    S1 step:  pixel address, padding test (registered)
    R  read:  map (or input) read; code read on a beat's last step
    S2 merge: read word -> beat lanes (zeros in the padding)
    S3 beat:  to the engine (``o``)

Groups start ``T`` (the pass's ``period``) cycles apart, so neither the
engine nor the serialiser ever stalls (:meth:`ConvPlan.pass_cycles
<sst_hw.plan.convnet.ConvPlan.pass_cycles>`).

The input origin of conv output position ``(oy, ox)`` is ``(oy*s - pad_h,
ox*s - pad_w)`` and its pixel word ``(y0*W + x0)*Cg`` (negative in the
padding); the counters ``dx, dy`` (inside a pooling window) and ``px, py``
(windows) move it, and the window's origin, by per-pass constants, so no
multiplier is needed. A window's positions are consecutive for each group so
that the pool unit after the engine can max its accumulators.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from sst_hw.core.conv.constants import PassConstants, by_index
from sst_hw.core.conv._component import ConvComponent
from sst_hw.plan.convnet import lane_sources, step_fields
from sst_hw.rtl._util import mux_tree

__all__ = ["ConvFeed", "step_layout", "step_image"]


def step_layout(plan) -> data.StructLayout:
    """A step ROM word (:func:`~sst_hw.plan.convnet.step_fields`) as a layout."""
    return data.StructLayout({name: unsigned(w) for name, w in step_fields(plan).items()})


def step_image(plan) -> list:
    """The step ROM: every pass's program, in pass order, as ints."""
    layout, srcs = step_layout(plan), lane_sources(plan)
    words = []
    for p in plan.passes:
        for st in p.steps:
            v = {"ky": st.ky, "kx": st.kx, "offset": st.offset, "first": int(st.first),
                 "beat_last": int(st.beat_last), "row_last": int(st.row_last),
                 "en": sum(1 << t for t, u in enumerate(st.src) if u >= 0)}
            for t, u in enumerate(st.src):
                if len(srcs[t]) > 1:
                    v[f"sel{t}"] = srcs[t].index(u) if u >= 0 else 0
            word = 0
            for name, val in v.items():
                f = layout[name]
                word |= (int(val) & ((1 << f.width) - 1)) << f.offset
            words.append(word)
    return words


class ConvFeed(ConvComponent):
    """Issues every pass's beats to the engine.

    Parameters
    ----------
    plan : ConvPlan

    Members
    -------
    start : ``In(1)``
        Run pass 0 (an input image is in the input buffer).
    next : ``In(1)``
        Run the next pass (the current one has written its last word).
    in_addr, in_en : ``Out``; in_data : ``In``
        The input buffer's read port (word within the image's bank).
    map_addr, map_en : ``Out``; map_data : ``In``
        The map memories' read port (word within the region read).
    map_region : ``Out(1)``
        The map region the pass reads (a register).
    code_addr, code_en : ``Out``; code_data : ``In``
        The code memory's read port.
    o : ``Out(stream.Signature(plan.engine.in_layout))``
        The engine's input beats.
    pass_index : ``Out(range(passes))``
        The pass in flight (changes only on ``start``/``next``).
    """

    def __init__(self, plan):   # checked by check()
        P = len(plan.passes)
        super().__init__({
            "start": In(1),
            "next": In(1),
            "in_addr": Out(range(max(2, plan.in_bank_words))),
            "in_en": Out(1),
            "in_data": In(unsigned(plan.in_word_bits)),
            "map_addr": Out(range(max(2, max(plan.map_region_words)))),
            "map_region": Out(1),
            "map_en": Out(1),
            "map_data": In(unsigned(plan.map_word_bits)),
            "code_addr": Out(range(max(2, plan.code_words))),
            "code_en": Out(1),
            "code_data": In(unsigned(plan.code_word_bits)),
            "o": Out(stream.Signature(plan.engine.in_layout)),
            "pass_index": Out(range(max(2, P))),
        })

    def elaborate(self, platform):
        m = Module()
        plan = self.plan
        ps = plan.passes
        A, lanes = plan.act_width, plan.lanes

        # -- per-pass constants -------------------------------------------------------
        def d(p, what):
            k, ps_ = p.pool
            st, W, cg = p.stride, p.in_shape[1], p.src_cg
            wp = p.out_shape[1]
            return {"dx_pix": st * cg,
                    "dy_x": -(k - 1) * st, "dy_pix": (st * W - (k - 1) * st) * cg,
                    "px_x": ps_ * st, "px_pix": ps_ * st * cg,
                    "py_y": ps_ * st, "py_x": -(wp - 1) * ps_ * st,
                    "py_pix": (ps_ * st * W - (wp - 1) * ps_ * st) * cg}[what]

        c = PassConstants(
            "c_",
            nsteps=[p.nsteps for p in ps], period=[p.period for p in ps],
            groups=[p.groups for p in ps], step_base=[p.step_base for p in ps],
            code_base=[p.code_base for p in ps], rewind=[p.beats - 1 for p in ps],
            pk=[p.pool[0] for p in ps], stride=[p.stride for p in ps],
            wp=[p.out_shape[1] for p in ps], hp=[p.out_shape[0] for p in ps],
            h=[p.in_shape[0] for p in ps], w=[p.in_shape[1] for p in ps],
            region=[p.read_region for p in ps],
            from_input=[int(p.reads_input) for p in ps],
            **{f"d_{what}": [d(p, what) for p in ps]
               for what in ("dx_pix", "dy_x", "dy_pix", "px_x", "px_pix", "py_y", "py_x",
                            "py_pix")})
        P = len(ps)
        pass_index = Signal(range(max(2, P)), name="pass_index")
        m.d.comb += self.pass_index.eq(pass_index)

        # -- S0: issue ------------------------------------------------------------------
        max_y = max(max(p.in_shape[0], p.in_shape[1]) + max(p.pad) + 8 for p in ps)
        coord = signed(max(2, (max_y * 2).bit_length() + 1))
        pix_shape = signed(max(4, (plan.map_words + plan.in_bank_words + 1).bit_length() + 2))
        y0, x0 = Signal(coord, name="y0"), Signal(coord, name="x0")
        pix0 = Signal(pix_shape, name="pix0")
        wy0, wx0 = Signal(coord, name="win_y0"), Signal(coord, name="win_x0")
        wpix0 = Signal(pix_shape, name="win_pix0")
        dx = Signal(range(4), name="dx")
        dy = Signal(range(4), name="dy")
        px = Signal(range(max(p.out_shape[1] for p in ps) + 1), name="px")
        py = Signal(range(max(p.out_shape[0] for p in ps) + 1), name="py")
        issuing = Signal(name="issuing")
        st = Signal(range(max(2, plan.step_count)), name="st")
        steps_left = Signal(range(max(p.nsteps for p in ps) + 1), name="steps_left")
        slots_left = Signal(range(max(p.period for p in ps) + 1), name="slots_left")
        groups_left = Signal(range(max(p.groups for p in ps) + 1), name="groups_left")

        layout = step_layout(plan)
        rom = Memory(shape=unsigned(layout.size), depth=max(2, plan.step_count),
                     init=step_image(plan))
        m.submodules.step_rom = rom
        rom_rd = rom.read_port(domain="sync")

        o = self.o
        adv = Signal(name="adv")
        s3_valid = Signal(name="s3_valid")
        m.d.comb += adv.eq(~s3_valid | o.ready)

        issue = Signal(name="issue")
        m.d.comb += [issue.eq(issuing & (steps_left != 0)), rom_rd.addr.eq(st),
                     rom_rd.en.eq(adv)]
        s1_valid = Signal(name="s1_valid")
        s1_y0, s1_x0 = Signal(coord, name="s1_y0"), Signal(coord, name="s1_x0")
        s1_pix0 = Signal(pix_shape, name="s1_pix0")
        s1_inner_last = Signal(name="s1_inner_last")   # the window's last position
        s1_group_last = Signal(name="s1_group_last")   # ... of the window's last group
        inner_last = Signal(name="inner_last")
        m.d.comb += inner_last.eq((dx == c["pk"] - 1) & (dy == c["pk"] - 1))
        with m.If(adv):
            m.d.sync += [s1_valid.eq(issue), s1_y0.eq(y0), s1_x0.eq(x0), s1_pix0.eq(pix0),
                         s1_inner_last.eq(inner_last), s1_group_last.eq(groups_left == 1)]
            with m.If(issue):
                m.d.sync += [st.eq(st + 1), steps_left.eq(steps_left - 1)]
            with m.If(issuing):
                with m.If(slots_left == 1):
                    m.d.sync += [slots_left.eq(c["period"]), steps_left.eq(c["nsteps"]),
                                 st.eq(c["step_base"])]
                    self._next_group(m, c, dict(
                        dx=dx, dy=dy, px=px, py=py, y0=y0, x0=x0, pix0=pix0, wy0=wy0,
                        wx0=wx0, wpix0=wpix0, groups_left=groups_left, issuing=issuing))
                with m.Else():
                    m.d.sync += slots_left.eq(slots_left - 1)

        # -- S1: address ---------------------------------------------------------------------
        step = data.View(layout, rom_rd.data)
        y = Signal(coord, name="s1_y")
        x = Signal(coord, name="s1_x")
        addr = Signal(pix_shape, name="s1_addr")
        inside = Signal(name="s1_inside")
        m.d.comb += [y.eq(s1_y0 + step.ky), x.eq(s1_x0 + step.kx),
                     addr.eq(s1_pix0 + step.offset),
                     inside.eq((y >= 0) & (y < c["h"]) & (x >= 0) & (x < c["w"]))]
        # Registered (S1 -> R): the address sum and the padding test get a cycle
        # of their own, off the path into the memories.
        r = dict(valid=Signal(name="r_valid"), inside=Signal(name="r_inside"),
                 first=Signal(name="r_first"), beat_last=Signal(name="r_beat_last"),
                 row_last=Signal(name="r_row_last"), en=Signal(lanes, name="r_en"),
                 inner_last=Signal(name="r_inner_last"), group_last=Signal(name="r_group_last"),
                 addr=Signal(pix_shape, name="r_addr"))
        r_sels = {name: Signal(layout[name].shape, name=f"r_{name}")
                  for name, _ in layout if name.startswith("sel")}
        with m.If(adv):
            m.d.sync += [r["valid"].eq(s1_valid), r["inside"].eq(inside), r["addr"].eq(addr),
                         r["first"].eq(step.first), r["beat_last"].eq(step.beat_last),
                         r["row_last"].eq(step.row_last), r["en"].eq(step.en),
                         r["inner_last"].eq(s1_inner_last), r["group_last"].eq(s1_group_last)]
            m.d.sync += [sig.eq(getattr(step, name)) for name, sig in r_sels.items()]

        # -- R: memory reads -----------------------------------------------------------------
        m.d.comb += [self.in_addr.eq(r["addr"][:len(self.in_addr)]), self.in_en.eq(adv),
                     self.map_addr.eq(r["addr"][:len(self.map_addr)]),
                     self.map_region.eq(c["region"]), self.map_en.eq(adv)]
        code_ptr = Signal(range(max(2, plan.code_words + 1)), name="code_ptr")
        m.d.comb += [self.code_addr.eq(code_ptr),
                     self.code_en.eq(adv & r["valid"] & r["beat_last"])]
        # A group's codes again for each position of its window, then the next
        # group's; the pass's again for the next window.
        with m.If(adv & r["valid"] & r["beat_last"]):
            with m.If(r["row_last"] & ~r["inner_last"]):
                m.d.sync += code_ptr.eq(code_ptr - c["rewind"])
            with m.Elif(r["row_last"] & r["group_last"]):
                m.d.sync += code_ptr.eq(c["code_base"])
            with m.Else():
                m.d.sync += code_ptr.eq(code_ptr + 1)
        s2 = dict(valid=Signal(name="s2_valid"), inside=Signal(name="s2_inside"),
                  first=Signal(name="s2_first"), beat_last=Signal(name="s2_beat_last"),
                  row_last=Signal(name="s2_row_last"),
                  en=Signal(lanes, name="s2_en"))
        sels = {name: Signal(layout[name].shape, name=f"s2_{name}")
                for name, _ in layout if name.startswith("sel")}
        with m.If(adv):
            m.d.sync += [s2[k].eq(r[k]) for k in ("valid", "inside", "first", "beat_last",
                                                 "row_last", "en")]
            m.d.sync += [sig.eq(r_sels[name]) for name, sig in sels.items()]

        # -- S2: merge -------------------------------------------------------------------------
        word = Signal(lanes * A, name="s2_word")
        m.d.comb += word.eq(Mux(c["from_input"], self.in_data, self.map_data))
        beat = Signal(lanes * A, name="beat", reset_less=True)
        merged = Signal(lanes * A, name="merged")
        srcs = lane_sources(plan)
        for t in range(lanes):
            cands = [word[u * A:(u + 1) * A] for u in srcs[t]]
            val = cands[0] if len(cands) == 1 else mux_tree(cands, sels[f"sel{t}"])
            keep = Mux(s2["first"], Const(0, A), beat[t * A:(t + 1) * A])
            m.d.comb += merged[t * A:(t + 1) * A].eq(
                Mux(s2["en"][t], Mux(s2["inside"], val, 0), keep))

        # -- S3: the beat ----------------------------------------------------------------------
        s3_act = Signal(lanes * A, name="s3_act", reset_less=True)
        s3_code = Signal(plan.code_word_bits, name="s3_code", reset_less=True)
        s3_last = Signal(name="s3_last")
        with m.If(adv):
            m.d.sync += s3_valid.eq(s2["valid"] & s2["beat_last"])
            with m.If(s2["valid"]):
                m.d.sync += [beat.eq(merged), s3_act.eq(merged), s3_code.eq(self.code_data),
                             s3_last.eq(s2["row_last"])]
        m.d.comb += [o.valid.eq(s3_valid), o.payload.act.as_value().eq(s3_act),
                     o.payload.code.as_value().eq(s3_code), o.payload.last.eq(s3_last)]

        # -- pass switch (after the counters: the starting pass's values win) ----------------
        def switch(index):
            y_init = by_index([-p.pad[0] for p in ps], index)
            x_init = by_index([-p.pad[1] for p in ps], index)
            pix_init = by_index([(-p.pad[0] * p.in_shape[1] - p.pad[1]) * p.src_cg for p in ps],
                             index)
            return [pass_index.eq(index), issuing.eq(1), *c.load(index),
                    st.eq(by_index([p.step_base for p in ps], index)),
                    steps_left.eq(by_index([p.nsteps for p in ps], index)),
                    slots_left.eq(by_index([p.period for p in ps], index)),
                    groups_left.eq(by_index([p.groups for p in ps], index)),
                    code_ptr.eq(by_index([p.code_base for p in ps], index)),
                    y0.eq(y_init), x0.eq(x_init), pix0.eq(pix_init),
                    wy0.eq(y_init), wx0.eq(x_init), wpix0.eq(pix_init),
                    dx.eq(0), dy.eq(0), px.eq(0), py.eq(0)]

        with m.If(self.start):
            m.d.sync += switch(0)
        with m.Elif(self.next):
            m.d.sync += switch(pass_index + 1)
        return m

    def _next_group(self, m, c, v):
        """After a group's slots: the next position of the window (``dx``
        fastest), else the window's next group (back to the window's origin),
        else the next window (``px`` fastest), else the pass is issued."""
        dx, dy, px, py = v["dx"], v["dy"], v["px"], v["py"]
        y0, x0, pix0, wy0, wx0, wpix0 = (v["y0"], v["x0"], v["pix0"], v["wy0"], v["wx0"],
                                         v["wpix0"])
        groups_left = v["groups_left"]
        with m.If(dx != c["pk"] - 1):
            m.d.sync += [dx.eq(dx + 1), x0.eq(x0 + c["stride"]), pix0.eq(pix0 + c["d_dx_pix"])]
        with m.Elif(dy != c["pk"] - 1):
            m.d.sync += [dx.eq(0), dy.eq(dy + 1), y0.eq(y0 + c["stride"]),
                         x0.eq(x0 + c["d_dy_x"]), pix0.eq(pix0 + c["d_dy_pix"])]
        with m.Elif(groups_left != 1):
            m.d.sync += [dx.eq(0), dy.eq(0), groups_left.eq(groups_left - 1),
                         y0.eq(wy0), x0.eq(wx0), pix0.eq(wpix0)]
        with m.Elif(px != c["wp"] - 1):
            m.d.sync += [dx.eq(0), dy.eq(0), groups_left.eq(c["groups"]), px.eq(px + 1),
                         wx0.eq(wx0 + c["d_px_x"]), wpix0.eq(wpix0 + c["d_px_pix"]),
                         y0.eq(wy0), x0.eq(wx0 + c["d_px_x"]),
                         pix0.eq(wpix0 + c["d_px_pix"])]
        with m.Elif(py != c["hp"] - 1):
            m.d.sync += [dx.eq(0), dy.eq(0), groups_left.eq(c["groups"]), px.eq(0),
                         py.eq(py + 1),
                         wy0.eq(wy0 + c["d_py_y"]), wx0.eq(wx0 + c["d_py_x"]),
                         wpix0.eq(wpix0 + c["d_py_pix"]),
                         y0.eq(wy0 + c["d_py_y"]), x0.eq(wx0 + c["d_py_x"]),
                         pix0.eq(wpix0 + c["d_py_pix"])]
        with m.Else():
            m.d.sync += v["issuing"].eq(0)
