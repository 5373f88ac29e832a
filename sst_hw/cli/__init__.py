"""The ``sst-hw`` command line.

Each sub-command lives in its own module under :mod:`sst_hw.cli.commands` with a
``register(subparsers)`` function that adds its parser and sets ``func``; a
command refuses bad input with :class:`~sst_hw.cli.errors.UserError`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sst_hw.cli.errors import UserError

#: Sub-command modules, in the order ``sst-hw --help`` lists them.
COMMANDS = [
    "codebook",
    "generate",
    "synth",
    "train",
    "import_onnx",
    "build",
    "infer",
    "load",
    "info",
    "compile",
    "sim",
    "export_c",
    "sweep",
    "autotune",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sst-hw",
        description="Structured sparse ternary (SST) neural-network hardware generator.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"sst_hw.cli.commands.{name}").register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except (UserError, ValueError, TypeError, FileNotFoundError) as e:
        print(f"sst-hw {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        # A file the commands did not check up front (they check their outputs
        # before long work): still one line, never a traceback.
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        print(f"sst-hw {args.command}: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
