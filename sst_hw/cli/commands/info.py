"""``sst-hw info``: what a board runs, from its INFO reply.

Prints the device's identity (:meth:`DeviceInfo.describe
<sst_hw.link.wire.DeviceInfo.describe>`, as ``sst-hw infer --info`` does),
then the protocol version and, for a version-2 device, the model memory:
the state (no model, loading, ready), whether it takes ``sst-hw load``, the
image length and chunk size, the topology id with the PE, SIMD,
requantization mode and ``C_r`` width that fix the image, and the built-in
model's id. ``--json`` prints one object instead.

``--port model`` asks the device ``sst-hw load --port model`` simulates (the
loadable SPRAM build of ``--model``'s topology, which starts with no model).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sst_hw.cli.commands._link_args import check_link_args
from sst_hw.cli.commands.infer import add_link_options, info_dict, open_transport
from sst_hw.cli.commands.load import read_model, simulated_plan
from sst_hw.cli.errors import UserError

HELP_EPILOG = """\
Ports: /dev/ttyUSB1 (iCEBreaker, HX8K breakout: the FTDI's second channel),
/dev/ttyUSB0 (ULX3S), any pyserial URL (socket://host:port), or `model` with
--model: the loadable core `sst-hw load --port model` simulates (the SPRAM
build, PE 4, SIMD 2, of the model's topology; no model until one is loaded).
"""


def register(sub):
    p = sub.add_parser("info", help="print the identity and model state of a board over its "
                                    "UART", epilog=HELP_EPILOG)
    add_link_options(p)
    p.add_argument("--model", type=Path, default=None,
                   help="with --port model: the model file whose loadable core to simulate")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def describe_lines(info) -> list[str]:
    """The text ``sst-hw info`` prints for ``info``."""
    lines = [info.describe()]
    load = info.load
    if load is None:
        return lines + [f"protocol version {info.version} (models cannot be loaded)"]
    state = {0: "no model", 1: "loading", 2: "ready"}[int(load.state)]
    lines += [f"protocol version {info.version}",
              f"state:          {state}"]
    if not load.loadable:
        return lines + ["loadable:       no (the model is fixed in the bitstream)"]
    builtin = (f"{load.builtin_id:#010x} (runs after every reset)" if load.builtin
               else "none (no model after a reset)")
    return lines + [
        f"loadable:       yes, images of {load.image_len} bytes in chunks of up to "
        f"{load.max_chunk} bytes",
        f"topology:       {load.topology_id:#010x} (PE {load.pe}, SIMD {load.simd}, requant "
        f"{load.requant}, {load.add_bits}-bit C_r)",
        f"built-in model: {builtin}"]


def run(args):
    from sst_hw.host.client import Client
    from sst_hw.link.wire import ProtocolError

    check_link_args(args.baud, args.timeout)
    plan = None
    if args.port == "model":
        if args.model is None:
            raise UserError("--port model needs --model (the model whose core to simulate)")
        plan = simulated_plan(read_model(args.model, "info"), args.model)
    elif args.model is not None:
        raise UserError("--model is only for --port model (`sst-hw infer --model M --info` "
                        "checks a device against a model)")
    transport = open_transport(args.port, args.baud, plan=plan)
    try:
        info = Client(transport, timeout=args.timeout).info()
    except ProtocolError as e:
        print(f"sst-hw info: error: {e}", file=sys.stderr)
        return 1
    finally:
        transport.close()
    if args.json:
        print(json.dumps(info_dict(info)))
    else:
        print("\n".join(describe_lines(info)))
    return 0
