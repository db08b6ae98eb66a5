"""``ocpp-workbench report CAPTURE... -o report.html``: one page to attach to a ticket (see workbench.report)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import _paths
from ..errors import NoFramesError, WorkbenchError

NAME = "report"
HELP = "write a self-contained HTML (or Markdown) report of captures: summary, sessions, findings, plots"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="CAPTURE",
                        help="capture files (.ocpp.jsonl, .gz), directories of them, or foreign logs to import")
    parser.add_argument("-o", "--out", type=Path, default=None, metavar="FILE",
                        help="report file to write (default: the first capture's name with .report.html / .report.md)")
    parser.add_argument("--format", choices=("html", "md"), default=None,
                        help="html (default; plots included, works offline) or md (tables only); "
                             "default from the --out suffix")
    parser.add_argument("--title", default=None, help="title of the report (default: the capture's file name)")
    parser.add_argument("--charge-point-id", default=None,
                        help="charge point id for imported foreign logs that do not name one")
    parser.add_argument("--tz", default="UTC", help="time zone of naive timestamps in imported logs (UTC)")


def default_out(first: Path, fmt: str) -> Path:
    """``captures/site.ocpp.jsonl`` -> ``captures/site.report.html`` (next to the capture)."""
    name = first.name
    for suffix in (".gz", ".jsonl", ".ocpp", ".log", ".json", ".txt"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    return first.with_name(f"{name}.report.{fmt}") if not first.is_dir() else first / f"report.{fmt}"


def run(args: argparse.Namespace) -> int:
    from ..analysis import capture_files, load
    from ..report import write_report
    from .analyze import _why_no_frames

    _paths.input_paths(args.files)
    fmt = args.format or ("md" if args.out is not None and args.out.suffix.lower() in (".md", ".markdown") else "html")
    out = args.out or default_out(Path(args.files[0]), fmt)
    _paths.output_file(out, "-o")
    files = capture_files(args.files)
    for path in files:
        _paths.distinct(path, out)
    cap = load(files, charge_point_id=args.charge_point_id, tz=args.tz)
    if not len(cap.frames):
        raise NoFramesError([str(p) for p in files], _why_no_frames(cap, files))
    try:
        path = write_report(cap, out, format=fmt, title=args.title)
    except OSError as exc:
        raise WorkbenchError(f"cannot write the report to {out}: {exc}") from exc
    print(f"report written: {path}")
    return 0
