"""Training SST networks in NumPy and exporting them to the integer contract.

:mod:`.datasets`
    data sets as raw 8-bit unsigned features: ``digits`` (bundled with
    scikit-learn), ``fashion-mnist`` (Debian's ``dataset-fashion-mnist``) and
    any folder of MNIST-format IDX files; an IDX reader.
:mod:`.mlp`
    a multi-layer perceptron trainer: float pre-training with batch
    normalization and weight-distribution normalization, gradual pruning into
    the SST structure, ternary fine-tuning with a straight-through estimator.
:mod:`.export`
    calibration of activation scales and the integer export into a
    :class:`sst_hw.format.golden.Network`.

Nothing here imports Amaranth; the hardware side never imports this package.
"""
