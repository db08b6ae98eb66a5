"""``ocpp-workbench replay``: drive a recorded (or edited) conversation against a live CSMS or charger.

``replay CAPTURE --as charger --target URL`` plays the chargers; ``replay CAPTURE --as csms --listen
HOST:PORT`` plays the CSMS; ``replay SCENARIO.yaml`` takes the capture, role, edits, expectations and
ignore list from a scenario file (command-line options win). Prints the verdict (text, json or
junit) and exits 0 when clean, 1 on differences, 2 on a usage or connection error.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

from ..errors import WorkbenchError
from . import _paths
from ..proxy import parse_listen
from ..replay.engine import ReplayOptions, ReplayProgress
from ..replay.plan import Plan
from ..replay.run import make_connector, password_source, replay_async
from ..replay.scenario import Scenario, check_expectations, is_scenario, load_scenario
from ..replay.verdict import DEFAULT_IGNORE

NAME = "replay"
HELP = "replay a capture (or a replays/*.yaml scenario) against a live CSMS or charger and print a verdict"
PROGRESS_EVERY_S = 0.5


def _speed(text: str) -> float:
    """A positive number, or ``max`` (as fast as the peer answers), kept as infinity. ``reply`` is a
    pace (``--pace reply``), not a speed: refused here so the two options mean one thing each."""
    if text == "max":
        return math.inf
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--speed must be a number or 'max', not {text!r}"
                                         + (" (reply is a --pace)" if text == "reply" else "")) from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"--speed must be a finite number or 'max', not {text!r}")
    if not value > 0:
        raise argparse.ArgumentTypeError("--speed must be positive")
    return value


def _mapping(text: str) -> tuple[str, str]:
    old, separator, new = text.partition("=")
    if not separator or not old or not new:
        raise argparse.ArgumentTypeError(f"expected OLD=NEW, got {text!r}")
    return old, new


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="CAPTURE|SCENARIO", help="a capture (.ocpp.jsonl[.gz]) or a scenario (.yaml)")
    parser.add_argument("--as", dest="role", choices=["charger", "csms"], default=None,
                        help="the side the replayer plays (default charger, or the scenario's role)")
    parser.add_argument("--target", metavar="URL",
                        help="as charger: the CSMS, ws(s)://HOST:PORT/PATH (each charge point dials URL/<id>) "
                             "or a URL with {charge_point_id}")
    parser.add_argument("--listen", metavar="HOST:PORT", help="as csms: where chargers connect (port 0: any free port)")
    parser.add_argument("--charge-point", action="append", metavar="ID",
                        help="replay only this charge point (repeatable; default: all, concurrently)")
    parser.add_argument("--user", metavar="U", help="Basic Auth user (default: the capture's user, i.e. the charge point id)")
    parser.add_argument("--password-env", metavar="VAR", help="Basic Auth password from environment variable VAR")
    parser.add_argument("--password-file", type=Path, metavar="FILE",
                        help="ID=PASSWORD lines, one per charge point; the file must be readable by its owner only")
    parser.add_argument("--ca", type=Path, metavar="FILE", help="PEM CA to verify a wss:// CSMS (default: system store)")
    parser.add_argument("--cert", type=Path, metavar="FILE", help="as csms: PEM certificate to serve wss://")
    parser.add_argument("--key", type=Path, metavar="FILE", help="as csms: PEM private key of --cert")
    parser.add_argument("--speed", type=_speed, default=None, metavar="X|max",
                        help="recorded timing scaled by X (1 = real time, 2 = twice as fast); "
                             "max (default): recorded gaps ignored, as fast as the peer answers")
    parser.add_argument("--pace", choices=["reply"], default="reply",
                        help="reply (default and only pace): the next request goes when the previous one is "
                             "answered; with --speed X also not before its scaled recorded time")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write the replay's capture here (.ocpp.jsonl)")
    parser.add_argument("--format", choices=["text", "json", "junit"], default="text", help="verdict format (default text)")
    parser.add_argument("--report", type=Path, metavar="FILE", help="write the verdict to FILE instead of stdout")
    parser.add_argument("--all-rows", action="store_true", help="text format: list matched rows too")
    parser.add_argument("--plan", action="store_true", help="print the plan and send nothing")
    parser.add_argument("--ignore", action="append", default=[], metavar="POINTER",
                        help="JSON pointer to leave out of the diff (repeatable; * one segment, **/ any depth)")
    parser.add_argument("--charge-point-map", action="append", type=_mapping, default=[], metavar="OLD=NEW",
                        help="replay charge point OLD as NEW (repeatable)")
    parser.add_argument("--id-tag-map", action="append", type=_mapping, default=[], metavar="OLD=NEW",
                        help="replace idTag OLD by NEW (repeatable)")
    parser.add_argument("--drop-peer-requests", action="store_true",
                        help="do not expect the peer's recorded requests (a peer that never sends them)")
    parser.add_argument("--rebase-meter-wh", type=float, default=None, metavar="WH",
                        help="shift every connector's energy register readings to start at WH (default: as recorded)")
    parser.add_argument("--keep-times", action="store_true", help="send payload times as recorded (default: shifted to now)")
    parser.add_argument("--reply-timeout", type=float, default=None, metavar="S", help="wait for each reply (default 10 s)")
    parser.add_argument("--peer-timeout", type=float, default=None, metavar="S",
                        help="wait for each expected peer request (default 10 s)")
    parser.add_argument("--connect-timeout", type=float, default=None, metavar="S", help="wait for each connection (default 10 s)")
    parser.add_argument("--progress", action="store_true",
                        help="show the progress line even when stderr is not a terminal")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback --target or --listen (a replay creates real transactions)")


def _progress_wanted(args: argparse.Namespace) -> bool:
    """The progress line goes to stderr when it is a terminal (or with --progress), never with --quiet."""
    return not args.quiet and (args.progress or sys.stderr.isatty())


def _progress(shown: bool):
    last = [0.0]

    def show(progress: ReplayProgress) -> None:
        now = time.monotonic()
        if not shown or (now - last[0] < PROGRESS_EVERY_S and progress.steps_done < progress.steps_total):
            return
        last[0] = now
        print("\r" + progress.line(), end="", file=sys.stderr, flush=True)

    return show


def _check_paths(args: argparse.Namespace) -> None:
    """Every path option checked before any work: one clear line (exit 2) for a wrong one."""
    _paths.input_paths([args.source], "CAPTURE")
    if args.out is not None:
        _paths.output_file(args.out, "--out", regular_only=True)
        _paths.distinct(args.source, args.out)
    if args.report is not None:
        _paths.output_file(args.report, "--report")
    if args.password_file is not None:
        _paths.input_file(args.password_file, "--password-file")
    if args.ca is not None:
        _paths.pem_file(args.ca, "--ca")
    if args.cert is not None:
        _paths.pem_file(args.cert, "--cert")
    if args.key is not None:
        _paths.pem_file(args.key, "--key", needs="PRIVATE KEY")


def run(args: argparse.Namespace) -> int:
    _check_paths(args)
    scenario: Scenario | None = load_scenario(args.source) if is_scenario(args.source) else None
    if scenario is not None:
        _paths.input_paths([scenario.capture], f"{args.source}: capture")
    role = args.role or (scenario.role if scenario else "charger")
    if scenario is not None:
        if role != scenario.role:
            scenario.role = role
        if args.charge_point:
            scenario.charge_points = args.charge_point
        plan = scenario.plan()
    else:
        plan = Plan.from_capture(args.source, charge_point=args.charge_point, role=role)
    if args.drop_peer_requests:
        plan = plan.drop(kind="expect")
    if args.charge_point_map or args.id_tag_map:
        plan = plan.rename(dict(args.charge_point_map), dict(args.id_tag_map))
    if args.rebase_meter_wh is not None:
        plan = plan.rebase_energy(args.rebase_meter_wh)
    if args.user:
        plan = plan.modify(lambda step: setattr(step, "auth_user", args.user), kind="connect")
    if not plan.steps:
        raise WorkbenchError(f"nothing to replay: no frames of {args.charge_point or 'any charge point'} in {args.source}")
    if args.plan:
        print(plan.to_text())
        return 0

    timeouts = scenario.timeouts if scenario else {}
    options = ReplayOptions(
        speed=(None if args.speed == math.inf else args.speed) if args.speed is not None
        else (scenario.speed if scenario else None),
        reply_timeout_s=args.reply_timeout or timeouts.get("reply_s", 10.0),
        peer_timeout_s=args.peer_timeout or timeouts.get("peer_s", 10.0),
        connect_timeout_s=args.connect_timeout or timeouts.get("connect_s", 10.0),
        ignore=(*DEFAULT_IGNORE, *(scenario.ignore if scenario else ()), *args.ignore),
        shift_times=not args.keep_times,
        progress=_progress(_progress_wanted(args)),
    )
    connector = make_connector(
        plan, target=args.target, listen=parse_listen(args.listen) if args.listen else None, ca=args.ca,
        cert=args.cert, key=args.key, passwords=password_source(args.password_env, args.password_file),
        allow_remote=args.allow_remote)

    import asyncio

    with tempfile.TemporaryDirectory(prefix="ocpp-replay-") as scratch:
        out = args.out
        if out is None and scenario is not None and scenario.expectations:
            out = Path(scratch) / "replay.ocpp.jsonl"  # expectations are judged on the replay's capture
        result = asyncio.run(replay_async(
            plan, connector, out=out, options=options, target_label=args.target,
            on_listening=lambda url: print(f"replay: listening at {url}", file=sys.stderr, flush=True)))
        if _progress_wanted(args):
            print(file=sys.stderr)  # end the progress line
        if scenario is not None and scenario.expectations:
            from ..analysis import load

            result.verdict.rows.extend(check_expectations(scenario.expectations, load(out), role))
    text = result.verdict.render(args.format) if args.format != "text" else result.verdict.to_text(args.all_rows)
    if args.report:
        args.report.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
        print(result.verdict.summary())
    else:
        print(text)
    if result.verdict.connection_errors:
        # exit 2, said in one line on stderr like every other usage or connection problem
        first = next(row for row in result.verdict.rows if row.status == "error")
        more = result.verdict.connection_errors - 1
        print(f"ocpp-workbench replay: {first.detail}" + (f" (and {more} more connection error(s))" if more else ""),
              file=sys.stderr)
    return result.verdict.exit_code
