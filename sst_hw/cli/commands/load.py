"""``sst-hw load``: replace the model a loadable board runs, over its UART (protocol v2).

The model file (what ``sst-hw infer --model`` takes) is checked against the
device's identity first (INFO: a version-2 device whose core is loadable,
the same input format and class count, and an image of the device's
topology, planned with its PE, SIMD and requantization mode); a model that
does not fit is refused before any LOAD frame is sent (exit status 2). Then
the image goes out in LOAD_DATA chunks (a progress bar on stderr when it is
a terminal, else one line at the end) and LOAD_COMMIT, and INFO must report
the model ready with its fingerprint. A load that fails on the way leaves the
device without a model (exit status 1): run it again.

``--port model`` simulates a loadable core without hardware: the SPRAM build
(``plan_network(model, memory="spram")``: PE 4, SIMD 2, the multiplier
requantizer) of the model's own topology, which starts with no model.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from sst_hw.cli.commands._link_args import check_link_args
from sst_hw.cli.commands._model_args import load_mlp_model
from sst_hw.cli.commands.infer import add_link_options, info_dict, open_transport
from sst_hw.cli.errors import UserError

HELP_EPILOG = """\
Ports: /dev/ttyUSB1 (iCEBreaker, HX8K breakout: the FTDI's second channel),
/dev/ttyUSB0 (ULX3S), any pyserial URL (socket://host:port), or `model` for
a simulated loadable core, no hardware: the SPRAM build (PE 4, SIMD 2,
multiplier requantizer) of MODEL's own topology, which starts with no model.
Exit status: 0 loaded, 1 the load failed on the link (the device then has no
model ready: run it again), 2 bad arguments or a model that does not fit the
device (nothing was sent).
"""


def register(sub):
    p = sub.add_parser("load", help="load a model into a board over its UART (protocol v2)",
                       epilog=HELP_EPILOG)
    p.add_argument("model", type=Path, metavar="MODEL",
                   help="model file (.sst), as `sst-hw infer --model` takes")
    add_link_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def read_model(path: Path, command: str):
    """The model file ``path`` as an MLP ``Network``, or a one-line :class:`UserError`."""
    if not path.is_file():
        raise UserError(f"no such model file: {path}")
    return load_mlp_model(path, command)


def simulated_plan(network, path: Path):
    """The plan of the device ``--port model`` simulates for ``load`` and
    ``info``: the loadable SPRAM build of ``network`` with the default
    options."""
    from sst_hw.plan.network import plan_network
    try:
        return plan_network(network, memory="spram")
    except ValueError as e:
        raise UserError(f"{path}: no loadable core can be simulated for it: {e}") from None


class ProgressBar:
    """``progress(sent, total)`` of :meth:`Client.load <sst_hw.host.client.Client.load>`
    on ``stream``: a bar redrawn in place on a terminal, else nothing until
    :meth:`finish` writes one line."""

    WIDTH = 30

    def __init__(self, stream):
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.sent = self.total = 0

    def __call__(self, sent: int, total: int) -> None:
        self.sent, self.total = sent, total
        if self.tty:
            filled = self.WIDTH * sent // total
            self.stream.write(f"\rloading [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                              f"{sent}/{total} bytes {100 * sent // total:3d}%")
            self.stream.flush()

    def finish(self, seconds: float | None) -> None:
        """End the bar (``seconds``: the load's time, ``None`` if it failed)."""
        if self.tty:
            if self.total:
                self.stream.write("\n")
        elif seconds is not None:
            self.stream.write(f"sst-hw load: sent {self.sent} of {self.total} image bytes in "
                              f"{seconds:.2f} s\n")
        self.stream.flush()


def run(args):
    from sst_hw.host.client import Client
    from sst_hw.link.wire import ModelMismatch, ProtocolError

    check_link_args(args.baud, args.timeout)
    network = read_model(args.model, "load")
    plan = simulated_plan(network, args.model) if args.port == "model" else None
    transport = open_transport(args.port, args.baud, plan=plan)
    bar = ProgressBar(sys.stderr)
    try:
        start = time.monotonic()
        try:
            info = Client(transport, timeout=args.timeout).load(network, progress=bar)
        except ModelMismatch as e:
            raise UserError(f"{args.model} cannot be loaded: {e}") from None
        except ProtocolError as e:
            bar.finish(None)
            print(f"sst-hw load: error: the load failed: {e} (the device has no model ready "
                  f"until a load completes: run sst-hw load again)", file=sys.stderr)
            return 1
        seconds = time.monotonic() - start
    finally:
        transport.close()
    bar.finish(seconds)
    rate = bar.total / seconds if seconds > 0 else float("inf")
    if args.json:
        print(json.dumps({"model": str(args.model), "bytes": bar.total,
                          "seconds": round(seconds, 6),
                          "bytes_per_second": round(rate, 1) if seconds > 0 else None,
                          "model_id": f"{info.model_id:#010x}", "device": info_dict(info)}))
    else:
        print(f"loaded {bar.total} bytes in {seconds:.3f} s ({rate:.0f} bytes/s)")
        print(f"device: {info.describe()}")
    return 0
