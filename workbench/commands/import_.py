"""``ocpp-workbench import``: turn a foreign log (CSMS log, HAR, mitmproxy dump, ...) into a capture."""

from __future__ import annotations

import argparse

from ..capture.importers import FORMATS, import_file
from ..capture.writer import CaptureWriter
from . import _paths

NAME = "import"
HELP = "convert a log of another tool (CSMS/charger log, HAR, mitmproxy dump, NDJSON ...) into a capture"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN", help="the file to import")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.ocpp.jsonl", help="capture file to write")
    parser.add_argument("--format", choices=FORMATS, default=None, help="force a format instead of detecting it")
    parser.add_argument("--charge-point-id", default=None, metavar="ID",
                        help="charge point id for frames whose source names none")
    parser.add_argument("--tz", default="UTC", metavar="TZ",
                        help="time zone of times written without one (UTC, Europe/Berlin, +02:00); default UTC")
    parser.add_argument("--report", default=None, metavar="CSV", help="also write the full report table as CSV")


def run(args: argparse.Namespace) -> int:
    _paths.input_file(args.input)
    _paths.output_file(args.output, "-o/--output")
    _paths.distinct(args.input, args.output)
    if args.report:
        _paths.output_file(args.report, "--report")
    result = import_file(args.input, format=args.format, charge_point_id=args.charge_point_id, tz=args.tz)
    with CaptureWriter(args.output, result.header) as writer:
        for record in result.records:
            writer.write(record)
    print(result.summary())
    if args.report:
        result.report.to_csv(args.report, index=False)
    print(f"wrote {args.output}")
    return 0
