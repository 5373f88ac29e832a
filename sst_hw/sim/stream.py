"""cocotb drivers for valid/ready streams (cocotb 2.x).

Cycle-based: each driver wakes on every rising clock edge, drives its
outputs for the coming cycle, then samples in the read-only phase the
settled signals, which are exactly what the next edge will see. A transfer
happens at an edge where ``valid`` and ``ready`` are both high.

* :class:`StreamSource` offers payload integers on valid/payload, with random
  idle cycles; once offered, a payload is held until taken.
* :class:`StreamSink` takes payloads with random ``ready`` stalls and records
  each with the cycle its ``valid`` first rose and the cycle it was taken.
* :class:`CycleCounter` numbers the clock edges for both.
"""

from __future__ import annotations

import random
from collections import deque

import cocotb
from cocotb.triggers import Event, ReadOnly, RisingEdge

__all__ = ["CycleCounter", "StreamSource", "StreamSink", "bit"]


def bit(handle) -> int:
    """1 if a one-bit signal reads ``1`` (X and Z read as 0)."""
    return int(handle.value == 1)


class CycleCounter:
    """Counts rising edges of ``clk``; :attr:`now` is the number of edges so far."""

    def __init__(self, clk):
        self.clk = clk
        self.now = 0
        self._task = cocotb.start_soon(self._run())

    async def _run(self):
        while True:
            await RisingEdge(self.clk)
            self.now += 1


class StreamSource:
    """Drives ``valid``/``payload`` of a stream whose ``ready`` is an output of the DUT.

    Parameters
    ----------
    clk, valid, ready, payload : cocotb handles
    counter : CycleCounter
    rng : random.Random
    p_idle : float
        Probability per cycle of holding ``valid`` low before the next payload.
    """

    def __init__(self, clk, valid, ready, payload, counter, *, rng=None, p_idle: float = 0.0):
        self.clk, self.valid, self.ready, self.payload = clk, valid, ready, payload
        self.counter = counter
        self.rng = rng or random.Random(0)
        self.p_idle = p_idle
        self.queue = deque()
        self.sent = []          # (cycle of the accepting edge, payload)
        self._idle = Event()
        self._idle.set()
        self.valid.value = 0
        self._task = cocotb.start_soon(self._run())

    def send(self, payload: int):
        """Queue one payload integer."""
        self.queue.append(int(payload))
        self._idle.clear()

    async def wait_idle(self):
        """Wait until every queued payload has been accepted."""
        await self._idle.wait()

    def stop(self):
        self._task.cancel()

    async def _run(self):
        current = None
        fired = False
        while True:
            await RisingEdge(self.clk)
            if current is not None and fired:
                current = None
                if not self.queue:
                    self._idle.set()
            if current is None and self.queue and not (self.p_idle and
                                                       self.rng.random() < self.p_idle):
                current = self.queue.popleft()
                self.payload.value = current
            self.valid.value = int(current is not None)
            await ReadOnly()
            fired = current is not None and bit(self.ready) == 1
            if fired:
                self.sent.append((self.counter.now + 1, current))


class StreamSink:
    """Drives ``ready`` of a stream whose ``valid``/``payload`` are DUT outputs.

    Each transfer is recorded in :attr:`received` as ``(first_valid_cycle,
    transfer_cycle, payload)``, cycles being the numbers of the edges at
    which ``valid`` was first seen high for that payload and at which it was
    taken.
    """

    def __init__(self, clk, valid, ready, payload, counter, *, rng=None, p_stall: float = 0.0):
        self.clk, self.valid, self.ready, self.payload = clk, valid, ready, payload
        self.counter = counter
        self.rng = rng or random.Random(1)
        self.p_stall = p_stall
        self.received = []
        self._event = Event()
        self.ready.value = 0
        self._task = cocotb.start_soon(self._run())

    async def wait_for(self, count: int):
        """Wait until ``count`` payloads have been received in total."""
        while len(self.received) < count:
            self._event.clear()
            await self._event.wait()

    def stop(self):
        self._task.cancel()
        self.ready.value = 0

    async def _run(self):
        since = None
        while True:
            await RisingEdge(self.clk)
            ready = not (self.p_stall and self.rng.random() < self.p_stall)
            self.ready.value = int(ready)
            await ReadOnly()
            edge = self.counter.now + 1          # the edge these values meet
            if bit(self.valid):
                if since is None:
                    since = edge
                if ready:
                    self.received.append((since, edge, self.payload.value.to_unsigned()))
                    since = None
                    self._event.set()


def stream_drivers(clk, dut, si, so, counter, rng, *, p_idle=0.0, p_stall=0.0):
    """A :class:`StreamSource` on the sidecar stream ``si`` and a
    :class:`StreamSink` on ``so`` of ``dut``, each with its own random stream
    drawn from ``rng``."""
    source = StreamSource(clk, getattr(dut, si.valid), getattr(dut, si.ready),
                          getattr(dut, si.payload), counter,
                          rng=random.Random(rng.random()), p_idle=p_idle)
    sink = StreamSink(clk, getattr(dut, so.valid), getattr(dut, so.ready),
                      getattr(dut, so.payload), counter,
                      rng=random.Random(rng.random()), p_stall=p_stall)
    return source, sink
