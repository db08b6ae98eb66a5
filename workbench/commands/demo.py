"""``ocpp-workbench demo``: the whole chain on loopback, then a summary (see workbench.lab.demo)."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from . import _paths
from ._args import non_negative_int, positive_float

NAME = "demo"
HELP = ("Run lab CSMS + recording proxy + 3 simulated chargers on loopback, summarise the capture and "
        "write its HTML report next to it.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("captures/demo.ocpp.jsonl"),
                        help="capture file to write (default: captures/demo.ocpp.jsonl; replaced if present)")
    parser.add_argument("--sessions", type=non_negative_int, default=2, help="charging sessions per charger (default 2)")
    parser.add_argument("--session-seconds", type=positive_float, default=8.0, help="length of each session, s (default 8)")
    parser.add_argument("--no-analyze", action="store_true",
                        help="stop after the capture summary (no analysis, no report)")


def run(args: argparse.Namespace) -> int:
    from ..lab.demo import run_demo

    _paths.output_file(args.out, "--out", regular_only=True)
    started = time.monotonic()
    result = asyncio.run(run_demo(args.out, sessions=args.sessions, session_s=args.session_seconds))
    print()
    print(result.summary_text())
    print(f"demo capture written in {time.monotonic() - started:.1f} s")
    if args.no_analyze:
        return 0
    from . import analyze

    print()
    analyze_parser = argparse.ArgumentParser(prog="ocpp-workbench analyze")
    analyze.add_arguments(analyze_parser)
    # The demo's faulty charger is meant to produce findings: report them, do not fail on them.
    analyze.run(analyze_parser.parse_args([str(args.out)]))
    from ..analysis import load
    from ..report import write_report
    from .report import default_out

    report = write_report(load(args.out), default_out(args.out, "html"))
    print()
    print(f"report (open in a browser, works offline): {report}")
    return 0
