"""``ocpp-workbench synth``: write a synthetic capture and its ground-truth sidecar, no network."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

from . import _paths
from ._args import positive_float

NAME = "synth"
HELP = "write a synthetic fleet capture (no network) plus a ground-truth sidecar"


def _start(text: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a timezone (e.g. {text}Z): {text!r}")
    return when.astimezone(dt.timezone.utc)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chargers", type=int, default=10, help="number of chargers (default 10)")
    parser.add_argument("--days", type=positive_float, default=1.0, help="capture length in days (default 1)")
    parser.add_argument(
        "--faults", default="",
        help="comma-separated faults to inject once each, or 'all'; see --list-faults",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes (default 0)")
    parser.add_argument(
        "--start", type=_start, default=None,
        help="capture start, ISO 8601 with timezone (default 2026-01-05T00:00:00Z)",
    )
    parser.add_argument("--heartbeat-interval", type=int, default=300, metavar="S",
                        help="HeartbeatInterval given in BootNotification.conf, s (default 300)")
    parser.add_argument("--sample-interval", type=int, default=60, metavar="S",
                        help="MeterValueSampleInterval, s (default 60)")
    parser.add_argument("--list-faults", action="store_true", help="list the fault names and exit")
    parser.add_argument("-o", "--output", help="capture file to write (.ocpp.jsonl, or .ocpp.jsonl.gz)")


def run(args: argparse.Namespace) -> int:
    from ..lab import synth

    if args.list_faults:
        for name, description in synth.FAULTS.items():
            print(f"{name:30} {description}")
        return 0
    if not args.output:
        print("ocpp-workbench synth: -o/--output is required", file=sys.stderr)
        return 2
    _paths.output_file(args.output, "-o/--output", regular_only=True)
    options = {}
    if args.start is not None:
        options["start"] = args.start
    began = time.perf_counter()
    try:
        result = synth.generate(
            args.output, chargers=args.chargers, days=args.days, faults=args.faults, seed=args.seed,
            heartbeat_interval_s=args.heartbeat_interval, sample_interval_s=args.sample_interval,
            **options,
        )
    except ValueError as exc:
        print(f"ocpp-workbench synth: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - began
    print(
        f"wrote {result.path}: {result.frames} frames, {result.connections} connections, "
        f"{len(result.sessions)} sessions, {len(result.faults)} faults in {elapsed:.1f} s; "
        f"truth in {result.truth_path}"
    )
    return 0
