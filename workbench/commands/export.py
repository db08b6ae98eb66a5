"""``ocpp-workbench export``: write a capture's frames as NDJSON, Open OCPP Trace or HAR."""

from __future__ import annotations

import argparse

from ..export import EXPORT_FORMATS, export_capture
from . import _paths

NAME = "export"
HELP = "write a capture's frames as ndjson, open-ocpp-trace or har"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="FILE", help="a capture (or any file `import` reads)")
    parser.add_argument("--to", required=True, choices=EXPORT_FORMATS, help="output format")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="file to write")


def run(args: argparse.Namespace) -> int:
    _paths.input_file(args.input)
    _paths.output_file(args.output, "-o/--output")
    _paths.distinct(args.input, args.output)
    count = export_capture(args.input, args.output, args.to)
    print(f"wrote {count} frames to {args.output} ({args.to})")
    return 0
