"""The SST format and the golden model: the first room, which every later one reads.

* :mod:`.codebook`, :mod:`.encode`: codebooks (full / partitioned, enum /
  direct codes), projection of float weights, packing;
* :mod:`.arith`: the integer arithmetic contract (widths and ranges);
* :mod:`.golden`: the bit-exact integer golden model, the oracle of every
  hardware test; :mod:`.random_model`: random valid networks for tests;
* :mod:`.modelfile`: the versioned model file; :mod:`.compression`: bits
  against fp32; :mod:`.dense`: the dense baselines' weight formats;
* :mod:`.limits`: the bounds of every size parameter.

Nothing here imports Amaranth, cocotb or the trainer (docs/architecture.md,
"Package layout").
"""
