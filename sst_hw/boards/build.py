"""The board top of a model: the network core behind the UART link, on a board's pins.

:func:`make_board_top` is what ``sst-hw build`` and the demo elaborate; the
bitstream flow (:func:`sst_hw.boards.flow.build_bitstream`) takes its result.
"""

from __future__ import annotations

from sst_hw.boards import BoardTop, get_board
from sst_hw.core.network import SSTNetwork
from sst_hw.plan.network import plan_network
from sst_hw.link.top import InferenceTop, core_info
from sst_hw.link.uart import uart_divisor
from sst_hw.link.wire import DEFAULT_BAUD, DEFAULT_TIMEOUT_BITS

__all__ = ["make_core", "make_board_top"]


def make_core(network, board=None, *, memory: str = "bram", loadable: bool | None = None,
              **options):
    """The network core a board runs.

    Parameters
    ----------
    network : Network or ConvNetwork
        The golden model.
    board : Board, optional
        The board, for a CNN core's memory shapes (its device).
    memory : str
        MLP: ``"bram"`` (the bitstream holds the model too) or ``"spram"``
        (codes in the UP5K's SPRAM: the bitstream holds the topology, the
        model arrives over the UART).
    loadable : bool, optional
        MLP: take new models over the UART (protocol v2 loading). Default:
        yes for an MLP; a CNN core is not loadable.
    **options
        ``SSTNetwork`` options (``pe``, ``simd``...), or for a CNN
        ``SSTConvNetwork``'s (the device's reference configuration by
        default).

    Returns
    -------
    SSTNetwork or SSTConvNetwork
        With ``board``, a core whose memories do not fit its device raises
        :class:`~sst_hw.plan.network.CapacityError`.
    """
    from sst_hw.plan.convnet import is_convnet
    from sst_hw.synth.devices import get_device
    device = get_device(board.device) if board is not None else None
    if is_convnet(network):
        if loadable or memory != "bram":
            raise ValueError("a CNN core keeps its model in the bitstream: loading over the "
                             "UART (--loadable, --memory spram) is for MLP models")
        from sst_hw.core.conv.network import SSTConvNetwork
        from sst_hw.plan.convnet import ECP5_CNN_CORE, UP5K_CNN_CORE, plan_convnet
        opts = dict(ECP5_CNN_CORE if device is not None and device.family == "ecp5"
                    else UP5K_CNN_CORE)
        opts.update(options)
        if opts["pe"] % opts["rq_lanes"]:
            opts["rq_lanes"] = 1
        plan, make = plan_convnet(network, device=device, **opts), SSTConvNetwork
    else:
        loadable = True if loadable is None else loadable
        plan = plan_network(network, memory=memory, loadable=loadable, **options)
        make = SSTNetwork
    if device is not None:
        plan.check_fit(device)      # CapacityError before any long work (or any core)
    return make(plan)


def make_board_top(network, board, *, baud: int = DEFAULT_BAUD,
                   timeout_bits: int = DEFAULT_TIMEOUT_BITS, core=None,
                   **core_options) -> BoardTop:
    """The :class:`~sst_hw.boards.BoardTop` of ``network`` on ``board``.

    Parameters
    ----------
    network : Network
        The golden model; also what INFO reports.
    board : str or Board
        The board, by name or as a :class:`~sst_hw.boards.Board`.
    baud : int
        UART rate, bit/s; the board clock must reach it within
        :data:`~sst_hw.link.uart.BAUD_TOLERANCE`.
    timeout_bits : int
        Idle bit-times that end a partial frame.
    core : wiring.Component, optional
        The network core; by default :func:`make_core` with ``core_options``.
    **core_options
        Passed to :func:`make_core`.

    Returns
    -------
    BoardTop
        Its ``system`` is the :class:`~sst_hw.link.top.InferenceTop`, whose
        ``info`` is what the device reports to INFO.
    """
    board = get_board(board)
    divisor = uart_divisor(board.clk_hz, baud)
    core = core if core is not None else make_core(network, board, **core_options)
    system = InferenceTop(core, core_info(network, core), clk_hz=board.clk_hz, divisor=divisor,
                          timeout_bits=timeout_bits)
    return BoardTop(board, system)
