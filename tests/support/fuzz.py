"""What the fuzz tests (``tests/test_fuzz_*.py``) share.

* :data:`SCALE`, :func:`examples`: bounded example counts, multiplied by
  ``SST_HW_FUZZ_SCALE`` (e.g. 20, with ``HYPOTHESIS_PROFILE=explore``, to hunt);
* :data:`FUZZ`: the ``settings`` every fuzz test takes;
* :func:`run_cli`, :func:`assert_clean_refusal`: a command run in-process, and the
  check that it refused its input in one line with exit status 2;
* :func:`flip_bytes`, :func:`truncate`: the byte damage the mutators share.
"""

from __future__ import annotations

import contextlib
import io
import os

from hypothesis import HealthCheck
from hypothesis import strategies as st

from sst_hw import cli

SCALE = max(1, int(os.environ.get("SST_HW_FUZZ_SCALE", "1")))

FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                  HealthCheck.data_too_large])


def examples(n: int) -> int:
    """``n`` examples, times :data:`SCALE`."""
    return n * SCALE


def run_cli(argv):
    """``(status, stdout, stderr)`` of ``sst-hw ARGV`` run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


def assert_clean_refusal(rc, err, command):
    """Exit status 2, no traceback, one ``sst-hw COMMAND: error: ...`` line."""
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"sst-hw {command}: error: "), err


def flip_bytes(draw, raw: bytearray, how: list, most: int, top: int | None = None):
    """XOR 1..``most`` random bytes of ``raw`` (among its first ``top``) with non-zero
    values, in place; each ``(index, value)`` goes to ``how``."""
    top = len(raw) if top is None else top
    for _ in range(draw(st.integers(1, most))):
        i, x = draw(st.integers(0, top - 1)), draw(st.integers(1, 255))
        raw[i] ^= x
        how.append((i, x))


def truncate(draw, raw: bytearray, how: list) -> bytearray:
    """``raw`` cut at a random length shorter than itself (the cut goes to ``how``)."""
    cut = draw(st.integers(0, len(raw) - 1))
    how.append(cut)
    return raw[:cut]
