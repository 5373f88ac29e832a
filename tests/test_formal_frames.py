"""Formal proof 4: the UART frame receiver (FrameProtocol) is back in HUNT
after a silence on the line, from whatever state the bytes before left it in.

Bounded model checking (SymbiYosys, smtbmc boolector) from reset with
arbitrary bytes, ``rx.valid`` and ``rx_error`` on every cycle, a transmitter
and core that never stall, to a depth of the bound plus 10 cycles (enough
for a whole INFER frame of the 2-input device before the silence). Harness:
``tests/formal/frames_harness.sv``.
"""

import pytest

from sst_hw.sim.formal import run_sby

from formal import frames

TIMEOUT = 3


def check(tmp_path, depth, **kwargs):
    files, top = frames.write_proof(tmp_path, TIMEOUT, **kwargs)
    return run_sby(tmp_path, files, top, mode="bmc", depth=depth, timeout=900)


def test_silence_returns_to_hunt(tmp_path):
    bound = frames.silence(frames.INFO, TIMEOUT)
    res = check(tmp_path, bound + 10)
    assert res.passed, res.summary()


def test_shorter_silence_is_not_enough(tmp_path):
    # The property is not vacuous: a bound shorter than the longest reply fails.
    res = check(tmp_path, 30, silence_cycles=20)
    assert res.status == "FAIL", res.summary()
    assert res.trace is not None and res.trace.exists()


@pytest.mark.slow
def test_receiver_without_timeout_fails(tmp_path):
    bound = frames.silence(frames.INFO, TIMEOUT)
    res = check(tmp_path, bound + 10, mutate=frames.never_times_out)
    assert res.status == "FAIL", res.summary()
