"""Arguments and checks shared by the commands that make a model file
(``sst-hw train`` and ``sst-hw import``): the codebook, the activation width,
the seed, the output file and the report format; and the one check shared by
the commands that put a model on hardware (``compile``, ``build``, ``synth``,
``sim``, ``infer`` on a device): that the model is an MLP."""

from __future__ import annotations

from pathlib import Path

from sst_hw.format.codebook import ASSIGNMENTS, VARIANTS, Codebook
from sst_hw.cli.commands._outputs import check_output_file
from sst_hw.cli.errors import UserError

#: Layer kinds only the CNN core runs.
SPATIAL_KINDS = ("conv2d", "maxpool")


def add_codebook_args(p):
    """``--n``, ``--k``, ``--variant``, ``--assignment``."""
    p.add_argument("--n", type=int, default=8, help="subvector length N (default 8)")
    p.add_argument("--k", type=int, default=2, help="non-zeros per subvector K (default 2)")
    p.add_argument("--variant", choices=VARIANTS, default="full")
    p.add_argument("--assignment", choices=ASSIGNMENTS, default="enum")


def add_common_args(p, example_output: str):
    """``--act-width``, ``--seed``, ``-o``, ``--json``, ``--quiet``."""
    p.add_argument("--act-width", type=int, default=8,
                   help="bits of the unsigned hidden activations A (default 8)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help=f"model file to write (e.g. {example_output})")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (accuracies, compression, timing) instead of text")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def codebook_of(args) -> Codebook:
    return Codebook(args.n, args.k, args.variant, args.assignment)


def check_common(args) -> Path:
    """Refuse a bad activation width or an output that cannot be written (a
    folder, a read-only or missing folder); the output path. Called before
    any long work."""
    if not 2 <= args.act_width <= 16:
        raise ValueError(f"--act-width must be in 2..16, not {args.act_width}")
    return check_output_file(args.output, "output")


def spatial_kinds(network) -> list[str]:
    """The conv2d / maxpool kinds among ``network``'s layers (none for a
    :class:`~sst_hw.format.golden.Network`), in :data:`SPATIAL_KINDS` order."""
    kinds = set(getattr(network, "kinds", ()))
    return [k for k in SPATIAL_KINDS if k in kinds]


def mlp_network(network, path, what: str = "this command takes MLP models only"):
    """``network`` as the MLP :class:`~sst_hw.format.golden.Network` the
    hardware runs: itself, or the dense layers of a
    :class:`~sst_hw.format.convnet.ConvNetwork` that has no conv2d or
    max-pool layer. Otherwise a one-line :class:`UserError` naming the model
    file ``path`` and the layers the hardware lacks, then ``what``."""
    spatial = spatial_kinds(network)
    if spatial:
        raise UserError(f"{path}: {' and '.join(spatial)} layers need the CNN core; {what}")
    if hasattr(network, "as_network"):
        return network.as_network()
    return network


def load_mlp_model(path, command: str):
    """:func:`sst_hw.format.modelfile.load` then :func:`mlp_network`: the model
    file ``path`` as an MLP ``Network`` for ``sst-hw command``, which builds
    hardware."""
    from sst_hw.format import modelfile
    return mlp_network(modelfile.load(path), path, f"`sst-hw {command}` takes MLP models only")
