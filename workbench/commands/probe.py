"""``ocpp-workbench probe``: act as the CSMS, run a requirement profile's script against a charger,
record it, and report the profile's verdicts on that capture."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from ..errors import WorkbenchError
from ..terminal import terminal_safe
from . import _args, _paths

NAME = "probe"
HELP = "act as the CSMS and certify a charger against a requirement profile (records a capture)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default="127.0.0.1:8443", metavar="HOST:PORT",
                        help="where the charger connects (default 127.0.0.1:8443; port 0: any free port)")
    parser.add_argument("--cert", required=True, type=Path, metavar="FILE",
                        help="PEM certificate (chain) the charger sees; may also hold the key")
    parser.add_argument("--key", type=Path, metavar="FILE", help="PEM private key of --cert")
    parser.add_argument("--user", metavar="ID", help="the charge point id, checked as the Basic Auth user "
                                                     "(default: the first charger to connect, auth not checked)")
    parser.add_argument("--password-env", metavar="VAR",
                        help="environment variable holding the Basic Auth password (never on the command line)")
    parser.add_argument("--profile", default="ev-energy", help="requirement profile (default ev-energy)")
    parser.add_argument("--minutes", type=_args.positive_float, default=2.0,
                        help="observe MeterValues this long at the end (default 2)")
    parser.add_argument("--meter-interval", type=_args.positive_float, default=60.0, metavar="SECONDS",
                        help="MeterValueSampleInterval to set (default 60, as ev.energy R8 asks)")
    parser.add_argument("--settle", type=_args.positive_float, default=15.0, metavar="SECONDS",
                        help="time the charger gets to apply a charging profile (default 15)")
    parser.add_argument("--connect-timeout", type=_args.positive_float, default=120.0, metavar="SECONDS",
                        help="give up when no charger connected by then (default 120)")
    parser.add_argument("--step-timeout", type=_args.positive_float, default=30.0, metavar="SECONDS",
                        help="longest wait for one answer (default 30)")
    parser.add_argument("--allow-remote-start", action="store_true",
                        help="start a transaction with RemoteStartTransaction when none is running (and stop it)")
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --listen address")
    parser.add_argument("--out", type=Path, default=Path("probe-out"), metavar="DIR",
                        help="directory for probe.ocpp.jsonl and the reports (default probe-out)")
    parser.add_argument("--format", choices=("text", "json", "md", "junit", "html"), default="text",
                        help="format of the report on standard output (report.html and report.json are always written)")


def run(args: argparse.Namespace) -> int:
    from ..conformance.probe import ProbeOptions, run_probe
    from ..conformance.profile import load_profile
    from ..conformance.render import render
    from ..proxy import check_loopback, parse_listen

    load_profile(args.profile)
    host, port = parse_listen(args.listen)
    check_loopback(host, allow_remote=args.allow_remote, what="--listen")
    cert = _paths.pem_file(args.cert, "--cert")
    if args.key is None and "PRIVATE KEY-----" not in cert:
        raise WorkbenchError(f"--cert {args.cert}: holds no private key; give it with --key")
    if args.key is not None:
        _paths.pem_file(args.key, "--key", needs="PRIVATE KEY")
    _paths.output_dir(args.out, "--out")
    password = None
    if args.password_env:
        password = os.environ.get(args.password_env)
        if password is None:
            raise WorkbenchError(f"--password-env {args.password_env}: no such environment variable")
        if args.user is None:
            raise WorkbenchError("--password-env needs --user (the charge point id the password belongs to)")
    options = ProbeOptions(
        listen_host=host, listen_port=port, cert_file=args.cert, key_file=args.key, out_dir=args.out,
        charge_point_id=args.user, password=password, profile=args.profile, minutes=args.minutes,
        meter_interval_s=args.meter_interval, settle_s=args.settle, connect_timeout_s=args.connect_timeout,
        step_timeout_s=args.step_timeout, allow_remote_start=args.allow_remote_start, allow_remote=args.allow_remote,
    )
    probe = asyncio.run(run_probe(options, say=lambda line: print(terminal_safe(line), flush=True)))
    if probe.result is None:
        raise WorkbenchError(f"nothing was recorded in {probe.capture_path}")
    (args.out / "report.html").write_text(render(probe.result, "html"), encoding="utf-8")
    (args.out / "report.json").write_text(render(probe.result, "json"), encoding="utf-8")
    sys.stdout.write(render(probe.result, args.format))
    print(f"ocpp-workbench probe: capture {probe.capture_path}; reports {args.out / 'report.html'}, "
          f"{args.out / 'report.json'} (re-check with `ocpp-workbench check {probe.capture_path}`)", file=sys.stderr)
    if probe.result.failed:
        failed = ", ".join(row.requirement.id for row in probe.result.rows if row.verdict == "fail")
        print(f"ocpp-workbench probe: failed {failed}", file=sys.stderr)
        return 1
    return 0
