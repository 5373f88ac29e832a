"""``sst-hw infer``: send input(s) to a board over the UART, print logits and class.

The input is one or more files, sent in order, one request per input:

* a ``.npy`` of integers (or floats that are exactly integers): one input
  vector ``(features,)`` or a batch ``(batch, features)``; for a model with
  an image input shape ``(H, W, C)`` also one image ``(H, W, C)`` (or
  ``(H, W)`` when ``C == 1``) or a batch of them, ``(batch, H, W, C)`` /
  ``(batch, H, W)``;
* an image file Pillow reads (``.png``, ``.jpg``, ``.bmp``, ``.pgm``, ...):
  converted to grayscale (``C == 1``) or RGB (``C == 3``) for such a model;
  it must already be ``W x H`` pixels (nothing is resized) and the model's
  inputs must hold its 0..255 pixels. Without ``--model`` (or for an MLP
  model file) it is read as it is, grayscale if it has one channel.

Images are flattened in HWC order (channel fastest), the order the model
reads. Details: :mod:`sst_hw.cli.commands._images`.

With ``--model`` the device's identity (INFO) is checked against the model
first (shape, widths and the model fingerprint; a device running another
model, or none, as a loadable core before ``sst-hw load``, is refused with
exit status 2) and ``--verify`` compares every result with the golden
model. ``--port model`` runs against a simulated device (the golden model
behind the same protocol), no hardware.

A convolutional model (a version 2 model file with conv2d or max-pool
layers) runs on a board built by ``sst-hw build`` (the CNN core) or with
``--port model``; its fingerprint covers the geometry of every layer too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sst_hw.cli.commands._images import load_infer_inputs
from sst_hw.cli.commands._link_args import check_link_args
from sst_hw.cli.commands._model_args import mlp_network, spatial_kinds
from sst_hw.cli.errors import UserError
from sst_hw.link.wire import DEFAULT_BAUD

HELP_EPILOG = """\
Ports: /dev/ttyUSB1 (iCEBreaker, HX8K breakout: the FTDI's second channel),
/dev/ttyUSB0 (ULX3S), any pyserial URL (socket://host:port), or `model` for
a simulated device built from --model.
"""


def register(sub):
    p = sub.add_parser("infer", help="run inference on a board over its UART",
                       epilog=HELP_EPILOG)
    p.add_argument("input", type=Path, nargs="*",
                   help="input file(s): a .npy of one input (features,) or a batch "
                        "(batch, features), or for an image model one image (H, W[, C]) or "
                        "a batch (batch, H, W[, C]); or image files (.png, .jpg, .bmp, .pgm) "
                        "of the model's H x W size, pixels 0..255 (grayscale for 1 channel, "
                        "RGB for 3)")
    add_link_options(p)
    p.add_argument("--model", type=Path, default=None,
                   help="model file: check that the device runs it")
    p.add_argument("--no-check", action="store_true",
                   help="skip the model fingerprint check (shapes are still checked)")
    p.add_argument("--verify", action="store_true",
                   help="compare every result with the golden model (needs --model)")
    p.add_argument("--info", action="store_true", help="print the device identity and exit")
    p.add_argument("--json", action="store_true", help="print one JSON object per input")
    p.set_defaults(func=run)


def add_link_options(p):
    """``--port``, ``--baud`` and ``--timeout``: the link options of ``infer``,
    ``load`` and ``info`` (checked by :func:`check_link_args`)."""
    p.add_argument("--port", required=True, help="serial port, pyserial URL, or 'model'")
    p.add_argument("--baud", type=int, default=DEFAULT_BAUD,
                   help=f"UART rate in bit/s (default {DEFAULT_BAUD})")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="seconds to wait for a reply (default 5)")


def open_transport(port: str, baud: int, network=None, info=None, *, plan=None):
    """A transport for ``port``: ``model`` is the simulated device of ``network``
    (reporting ``info``, by default the network's own; with a loadable
    ``plan``, the loadable core of that plan), anything else a pyserial port
    or URL."""
    from sst_hw.host.transport import ModelTransport, SerialTransport

    if port == "model":
        if network is None and plan is None:
            raise UserError("--port model needs --model")
        return ModelTransport(network, info, plan=plan)
    try:
        return SerialTransport(port, baud)
    except ImportError:
        raise UserError("pyserial is not installed (pip install pyserial)") from None
    except Exception as e:  # serial.SerialException and friends
        raise UserError(f"cannot open {port}: {e}") from None


def run(args):
    from sst_hw.format import modelfile
    from sst_hw.host.client import Client
    from sst_hw.link.wire import ModelMismatch, ProtocolError

    check_link_args(args.baud, args.timeout)
    if args.model is not None and not args.model.is_file():
        raise UserError(f"no such model file: {args.model}")
    network = modelfile.load(args.model) if args.model else None
    model = network                     # the file as loaded: its input shape, for images
    device_info = None
    if network is not None and spatial_kinds(network):
        pass                            # the CNN core runs it: the device reports its id
    elif network is not None:
        network = mlp_network(network, args.model)
    if args.verify and network is None:
        raise UserError("--verify needs --model")
    if not args.input and not args.info:
        raise UserError("give an INPUT file, .npy or image (or --info)")
    x = load_infer_inputs(args.input, model) if args.input else None
    transport = open_transport(args.port, args.baud, network, device_info)
    client = Client(transport, timeout=args.timeout)
    try:
        info = client.info()
        if network is not None and device_info is None:
            try:
                info.check_network(network, check_id=not args.no_check)
            except ModelMismatch as e:
                raise UserError(str(e)) from None
        if args.info:
            print(json.dumps(info_dict(info)) if args.json else info.describe())
            if x is None:
                return 0
        if x.shape[1] != info.n_inputs:
            raise UserError(f"input has {x.shape[1]} features, the device takes {info.n_inputs}")
        lo, hi = info.input_range
        if x.size and (x.min() < lo or x.max() > hi):
            raise UserError(f"input values must be in {lo}..{hi} ({info.input_width}-bit "
                            f"{'signed' if info.input_signed else 'unsigned'}), not "
                            f"{int(x.min())}..{int(x.max())}")
        golden = network.forward(x) if args.verify else None
        mismatches = 0
        for b, row in enumerate(x):
            res = client.infer(row)
            ok = None
            if golden is not None:
                ok = (res.logits.tolist() == golden[0][b].tolist()
                      and res.cls == int(golden[1][b]))
                mismatches += not ok
            if args.json:
                d = {"index": b, "logits": res.logits.tolist(), "class": res.cls}
                if ok is not None:
                    d["matches_golden"] = ok
                print(json.dumps(d))
            else:
                prefix = f"[{b}] " if len(x) > 1 else ""
                check = "" if ok is None else ("  (matches golden)" if ok else
                                               f"  MISMATCH: golden {golden[0][b].tolist()} "
                                               f"class {int(golden[1][b])}")
                print(f"{prefix}logits: {' '.join(str(v) for v in res.logits.tolist())}")
                print(f"{prefix}class:  {res.cls}{check}")
        if mismatches:
            print(f"sst-hw infer: error: {mismatches} of {len(x)} results differ from the "
                  f"golden model", file=sys.stderr)
            return 1
        return 0
    except ProtocolError as e:
        print(f"sst-hw infer: error: {e}", file=sys.stderr)
        return 1
    finally:
        transport.close()


def info_dict(info) -> dict:
    """JSON-ready :class:`~sst_hw.link.wire.DeviceInfo`: its fields, the byte
    counts, ids as ``0x...`` strings and, for a version-2 device, the load
    fields (``load``; the state by name)."""
    from dataclasses import asdict
    d = asdict(info)
    d.update(input_bytes=info.input_bytes, logit_bytes=info.logit_bytes,
             class_bytes=info.class_bytes, model_id=f"{info.model_id:#010x}")
    if info.load is not None:
        d["load"].update(state=info.load.state.name.lower(),
                         topology_id=f"{info.load.topology_id:#010x}",
                         builtin_id=f"{info.load.builtin_id:#010x}")
    return d
