"""``ocpp-workbench check``: judge a capture against a requirement profile (e.g. ev.energy R1..R10)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import NoFramesError
from . import _args, _paths

NAME = "check"
HELP = "judge a capture against a requirement profile (pass/fail per requirement, with evidence frames)"
FORMATS = ("text", "json", "md", "junit", "html")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="CAPTURE", help="a capture file or folder (or any log `import` reads)")
    parser.add_argument("--profile", default="ev-energy", help="requirement profile (see `ocpp-workbench profiles`); "
                                                                "default ev-energy")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default text)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the report here instead of standard output")
    parser.add_argument("--charge-point", metavar="ID",
                        help="judge this charge point only (default: all; a requirement fails if it fails for one)")
    parser.add_argument("--clock-tolerance", type=_args.positive_float, metavar="SECONDS",
                        help="ev-energy R2: largest clock skew accepted (default 10 s)")
    parser.add_argument("--trigger-timeout", type=_args.positive_float, metavar="SECONDS",
                        help="ev-energy R7: time for the triggered message to follow (default 30 s)")


def run(args: argparse.Namespace) -> int:
    from ..analysis import capture_files, load
    from ..conformance.evaluate import evaluate
    from ..conformance.profile import load_profile
    from ..conformance.render import render

    profile = load_profile(args.profile)  # an unknown profile is a usage error before any reading
    _paths.input_paths([args.input])
    if args.output:
        _paths.output_file(args.output, "-o/--output")
        _paths.distinct(args.input, args.output)
    files = capture_files([args.input])
    cap = load(files)
    if not len(cap.frames) and not len(cap.connections):
        raise NoFramesError([str(p) for p in files])
    params: dict[str, dict[str, float]] = {}
    if args.clock_tolerance is not None:
        params["R2"] = {"tolerance_s": args.clock_tolerance}
    if args.trigger_timeout is not None:
        params["R7"] = {"timeout_s": args.trigger_timeout}
    result = evaluate(cap, profile, params=params, capture_name=str(args.input),
                      charge_point_id=args.charge_point)
    text = render(result, args.format)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.format} report to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if result.failed:
        failed = ", ".join(row.requirement.id for row in result.rows if row.verdict == "fail")
        print(f"ocpp-workbench check: failed {failed}", file=sys.stderr)
        return 1
    return 0
