"""Capacity: a model of more than 800K weights (784-1024-10 at SST (8,2))
compiles for the iCE40 UP5K with its codes in SPRAM, and the emitted Verilog
synthesizes, places and routes (slow: several minutes).

The utilisation is printed and kept in ``<tmp>/synth/report.md``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from sst_hw.format import modelfile
from sst_hw.cli import main
from sst_hw.format.golden import Network


@pytest.mark.slow
def test_800k_weights_in_spram_synthesizes(tmp_path, capsys):
    from sst_hw.synth.flow import synthesize

    net = Network.random(np.random.default_rng(0), [784, 1024, 10], 8, 2)
    weights = sum(l.in_features * l.out_features for l in net.layers)
    assert weights >= 800_000
    model = tmp_path / "big.npz"
    modelfile.save(net, model)
    vpath = tmp_path / "net" / "big.v"
    assert main(["compile", str(model), "-o", str(vpath), "--memory", "spram", "--pe", "8",
                 "--simd", "1", "--device", "up5k"]) == 0
    print(capsys.readouterr().out)
    side = json.loads(vpath.with_suffix(".json").read_text())
    assert side["resources"]["spram"]["used"] == 4
    assert side["memory"]["code"]["bits"] >= 800_000

    report = synthesize(vpath, "up5k", 30, tmp_path / "synth", timeout=3600)
    with capsys.disabled():
        print()
        print((tmp_path / "synth" / "report.md").read_text().split("## Cells")[0])
    assert report.used("spram") == 4
    assert report.cells.get("SB_SPRAM256KA") == 4
    assert report.fits, {k: (r.used, r.available) for k, r in report.resources.items()}
    assert report.fmax_mhz and report.fmax_mhz > 10
