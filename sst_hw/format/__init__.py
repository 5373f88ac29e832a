"""The SST format and the golden model: the first room, which every later one reads.

* :mod:`.codebook`, :mod:`.encode`: codebooks (full / partitioned, enum /
  direct codes), projection of float weights, packing;
* :mod:`.arith`: the integer arithmetic contract (widths and ranges);
* :mod:`.golden`: the bit-exact integer golden model, the oracle of every
  hardware test; :mod:`.conv`: conv2d, max-pool and flatten on top of it;
  :mod:`.convnet`: convolutional networks (``ConvNetwork``) and their fast,
  proved-exact forward pass; :mod:`.random_model`: random valid networks
  (MLP and CNN) for tests and benchmarks;
* :mod:`.modelfile`: the versioned model file (version 1 MLP, version 2
  CNN); :mod:`.compression`: bits
  against fp32; :mod:`.dense`: the dense baselines' weight formats;
* :mod:`.limits`: the bounds of every size parameter.

Nothing here imports Amaranth, cocotb or the trainer (docs/architecture.md,
"Package layout").
"""
