"""A small network core for the UART/protocol/board tests.

:class:`DenseTernaryCore` is a small stand-in for the network core with the
same stream interface as ``SSTNetwork``: ``i`` takes one input feature per
beat (payload ``{data: A bits, last: 1}``), ``o`` gives the logits in order,
then the class index, with ``last`` on the final beat (payload ``{data:
signed W, last: 1}``). It computes a one-layer golden network (the logits
are the raw ternary dot products) one weight per cycle, which makes it
cheap to simulate with Amaranth's simulator.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from sst_hw.format.golden import Network


class DenseTernaryCore(wiring.Component):
    """One-layer ternary dot products behind SSTNetwork's stream interface."""

    def __init__(self, network: Network):
        if len(network.layers) != 1:
            raise ValueError("DenseTernaryCore computes one-layer networks only")
        self.network = network
        layer = network.layers[0]
        self.t = layer.ternary()
        self.n_in, self.n_cls = layer.in_features, layer.out_features
        self.a = network.input_width
        self.w = core_logit_width(network)
        a_shape = signed(self.a) if network.input_signed else unsigned(self.a)
        self.a_shape = a_shape
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"data": a_shape, "last": 1}))),
            "o": Out(stream.Signature(data.StructLayout({"data": signed(self.w), "last": 1}))),
        })

    def elaborate(self, platform):
        m = Module()
        n, c = self.n_in, self.n_cls
        xs = Array(Signal(self.a_shape, name=f"x{j}") for j in range(n))
        tpos = Array(Const(int(v > 0), 1) for v in self.t.reshape(-1))
        tneg = Array(Const(int(v < 0), 1) for v in self.t.reshape(-1))
        j = Signal(range(n + 1))
        k = Signal(range(c + 1))
        acc = Signal(signed(self.w))
        best = Signal(signed(self.w))
        best_k = Signal(range(c + 1))
        with m.FSM():
            with m.State("LOAD"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    m.d.sync += [xs[j].eq(self.i.p.data), j.eq(j + 1)]
                    with m.If(j == n - 1):
                        m.d.sync += [j.eq(0), k.eq(0), acc.eq(0)]
                        m.next = "MAC"
            with m.State("MAC"):
                idx = k * n + j
                x = xs[j]
                term = Signal(signed(self.w))
                with m.If(tpos[idx]):
                    m.d.comb += term.eq(x)
                with m.Elif(tneg[idx]):
                    m.d.comb += term.eq(-x)
                m.d.sync += [acc.eq(acc + term), j.eq(j + 1)]
                with m.If(j == n - 1):
                    m.next = "EMIT"
            with m.State("EMIT"):
                m.d.comb += [self.o.valid.eq(1), self.o.p.data.eq(acc)]
                with m.If(self.o.ready):
                    with m.If((k == 0) | (acc > best)):
                        m.d.sync += [best.eq(acc), best_k.eq(k)]
                    m.d.sync += [k.eq(k + 1), j.eq(0), acc.eq(0)]
                    with m.If(k == c - 1):
                        m.next = "CLASS"
                    with m.Else():
                        m.next = "MAC"
            with m.State("CLASS"):
                m.d.comb += [self.o.valid.eq(1), self.o.p.data.eq(best_k), self.o.p.last.eq(1)]
                with m.If(self.o.ready):
                    m.d.sync += j.eq(0)
                    m.next = "LOAD"
        return m


def core_logit_width(network: Network) -> int:
    """Bits of :class:`DenseTernaryCore`'s output values (logits and class index)."""
    return max(network.acc_widths()[-1], (network.classes - 1).bit_length() + 1)


def small_network(seed=1, sizes=(12, 5), **kwargs) -> Network:
    """A random one-layer network for the test core."""
    return Network.random(seed, list(sizes), 8, 2, **kwargs)
