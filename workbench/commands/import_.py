"""``ocpp-workbench import``: turn a foreign log (CSMS log, HAR, mitmproxy dump, ...) into a capture."""

from __future__ import annotations

import argparse

from ..capture.importers import FORMATS, import_file
from ..capture.reader import CaptureReader
from ..capture.writer import CaptureWriter
from ..errors import CaptureFormatError, NewerFormatError, NoFramesError
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
    _refuse_a_newer_capture(args.input)
    result = import_file(args.input, format=args.format, charge_point_id=args.charge_point_id, tz=args.tz)
    if not any(record["type"] == "frame" for record in result.records):
        print(result.summary())  # the lines and why none was a frame; no empty capture is written
        if result.lines_read:
            detail = f"{result.lines_read} line{'s' if result.lines_read != 1 else ''} read, {result.lines_skipped} skipped"
        else:  # nothing readable at all: the first note says why (a cut gzip stream), if any
            detail = str(result.report["reason"].iloc[0]) if len(result.report) else "empty file"
        raise NoFramesError([str(args.input)], detail)
    with CaptureWriter(args.output, result.header) as writer:
        for record in result.records:
            writer.write(record)
    print(result.summary())
    if args.report:
        result.report.to_csv(args.report, index=False)
    print(f"wrote {args.output}")
    return 0


def _refuse_a_newer_capture(path: str) -> None:
    """A capture of a newer format is not a foreign log: say so instead of importing its lines."""
    try:
        CaptureReader(path)
    except NewerFormatError:
        raise
    except CaptureFormatError:
        pass  # not a native capture: the importers' business
