"""``ocpp-workbench analyze FILE...``: sessions, findings and every table of one or more captures.

Prints the sessions (energy three ways, in kWh), findings counted by severity and check and the
worst of them; writes every table as Parquet (and CSV with ``--csv``) to ``--out``; exits 1 when
``--fail-on`` is met, 3 when the analysis is incomplete (a table not built or not written, a check
crashed: each is an error finding too). Bad input gives a one-line message or a finding, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import orjson
import pandas as pd

from .. import jsonout
from ..analysis import Capture
from ..checks.registry import SEVERITIES, CheckConfig, Finding, crashed, findings_frame
from ..errors import NoFramesError, WorkbenchError
from ..fleet import load
from ..fleet.route import fleet_inputs, is_url
from ..tables._columns import str_column
from ..tables.payloads import PayloadDtype
from ..terminal import terminal_safe
from . import _paths
from ._args import non_negative_int, positive_float

NAME = "analyze"
HELP = "analyse captures: sessions, findings and tables (Parquet/CSV)"

LARGE_INPUT_BYTES = 50 * 2**20
"""Inputs larger than this show a progress bar even when stderr is not a terminal."""
SESSION_ROWS_SHOWN = 50
EXIT_INCOMPLETE = 4  # documented in cli.EXIT_CODES
"""Exit code when a table could not be built or written, or a check crashed (0 done, 1 ``--fail-on`` met,
2 unreadable input)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="capture files (.ocpp.jsonl, .gz), directories of them, or foreign logs to import")
    parser.add_argument("--out", metavar="DIR", type=Path,
                        help="write every table as <DIR>/<table>.parquet (object columns as JSON text); with "
                             "--dask, a fleet dataset: <DIR>/<table>/bucket=<b>/ Parquet + manifest.json, "
                             "written by the workers, tables never gathered here (read with wb.open_fleet)")
    parser.add_argument("--csv", action="store_true", help="with --out, also write <DIR>/<table>.csv")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="report format on stdout")
    parser.add_argument("--fail-on", choices=("error", "warning"), default=None,
                        help="exit 1 when a finding of this severity (or worse) exists")
    parser.add_argument("--worst", type=non_negative_int, default=20, metavar="N", help="how many worst findings to show (20)")
    parser.add_argument("--charge-point-id", default=None,
                        help="charge point id for imported foreign logs that do not name one")
    parser.add_argument("--tz", default="UTC", help="time zone of naive timestamps in imported logs (UTC)")
    parser.add_argument("--unanswered-timeout", type=positive_float, default=CheckConfig.unanswered_timeout_s, metavar="S",
                        help="seconds without a reply before a request counts as unanswered (30)")
    parser.add_argument("--slow-reply", type=positive_float, default=CheckConfig.slow_reply_s, metavar="S",
                        help="reply latency above which a reply is slow, in seconds (10)")
    parser.add_argument("--partitions", type=int, default=1, metavar="N",
                        help="analyse native captures by charge point in N processes (0: one per core for "
                             "captures of 48 MiB and more; 1, the default: in this process)")
    parser.add_argument("--dask", nargs="?", const="local", default=None, metavar="ADDRESS|local[:N]",
                        help="analyse by charge point bucket on Dask: a scheduler address (tcp://host:8786), or "
                             "local[:N] for a LocalCluster of this machine's cores (or N worker processes); "
                             "needs pip install 'ocpp-workbench[dask]'")
    parser.add_argument("--buckets", type=int, default=None, metavar="N",
                        help="with --dask or --partitions: charge point buckets (units of work); default one "
                             "per 250k frames, at least one per worker")
    parser.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                        help="progress bar on stderr: auto = when stderr is a terminal or the input is > 50 MB")


class ProgressBar:
    """A textual bar on a stream: redrawn in place on a terminal, one line per 10 % otherwise."""

    WIDTH = 30

    def __init__(self, stream: TextIO, *, interactive: bool) -> None:
        self.stream = stream
        self.interactive = interactive
        self._last_decile = -1
        self._started = time.monotonic()

    def update(self, done: int, total: int, label: str = "loading") -> None:
        fraction = 1.0 if total <= 0 else min(1.0, done / total)
        if self.interactive:
            filled = int(fraction * self.WIDTH)
            self.stream.write(f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction:4.0%} {label} "
                              f"{done / 2**20:,.0f}/{total / 2**20:,.0f} MB")
            self.stream.flush()
            return
        decile = int(fraction * 10)
        if decile > self._last_decile:
            self._last_decile = decile
            self.stream.write(f"{label}: {fraction:.0%} of {total / 2**20:,.0f} MB "
                              f"({time.monotonic() - self._started:.1f} s)\n")
            self.stream.flush()

    def stage(self, label: str) -> None:
        if self.interactive:
            self.stream.write(f"\r{label}...{' ' * (self.WIDTH + 20)}\n")
        else:
            self.stream.write(f"{label}... ({time.monotonic() - self._started:.1f} s)\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()


def _progress_bar(args: argparse.Namespace, files: list[Path]) -> ProgressBar | None:
    if args.progress == "never":
        return None
    interactive = sys.stderr.isatty()
    large = sum(p.stat().st_size for p in files if isinstance(p, Path)) > LARGE_INPUT_BYTES  # URLs: unknown
    if args.progress == "always" or interactive or large:
        return ProgressBar(sys.stderr, interactive=interactive)
    return None


def parquet_ready(table: pd.DataFrame, *, compact_payloads: bool = False) -> pd.DataFrame:
    """A copy Parquet and CSV can store: object columns (payload dicts, frame_seqs lists, ...) as JSON text,
    and every text column as valid UTF-8 (a lone surrogate from a JSON escape is spelled as an escape).
    ``compact_payloads``: payloads as compact JSON (no space after ``,`` and ``:``; the same values,
    written several times faster)."""
    out = table.copy(deep=False)  # copy-on-write: the columns replaced below are new, the others shared
    encode = _compact_payload_json if compact_payloads else _payload_json
    for column in out.columns:
        dtype = out[column].dtype
        if isinstance(dtype, PayloadDtype):
            # One payload decoded at a time (iterating the array), not a list of every decoded payload.
            out[column] = str_column([None if v is None else encode(v) for v in out[column].array])
        elif dtype == object:
            out[column] = str_column([None if v is None else jsonout.dumps(v) for v in out[column].tolist()])
        elif isinstance(dtype, pd.StringDtype) and dtype.storage == "python":
            out[column] = str_column(out[column].to_numpy(dtype=object, na_value=None).tolist())
    return out


def _payload_json(value: Any) -> str:
    """:func:`jsonout.dumps` of a payload (a decoded JSON value: string keys), without its walk through
    the value when there is no NaN or infinity to replace (json's C encoder then refuses it): the same
    text, several times faster."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return jsonout.dumps(value)


_ORJSON_PLAIN = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def _compact_payload_json(value: Any) -> str:
    """A payload as compact JSON (orjson, about 8x faster than json): NaN and infinities as null, as
    :func:`jsonout.dumps`; what orjson refuses (a lone surrogate, an integer beyond 64 bits, a key that is
    not a string, a type JSON does not have) as :func:`_payload_json` writes it."""
    try:
        return orjson.dumps(value, option=_ORJSON_PLAIN).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _payload_json(value)


def _build_tables(cap: Capture, config: CheckConfig, bar: ProgressBar | None) -> tuple[dict[str, pd.DataFrame], list[Finding]]:
    """Every table; one that cannot be built is left out and becomes an error finding."""
    tables: dict[str, pd.DataFrame] = {}
    broken: list[Finding] = []
    for name in Capture.TABLES:
        if name == "findings":
            continue
        if bar:
            bar.stage(f"building {name}")
        try:
            tables[name] = getattr(cap, name)
        except Exception as exc:  # noqa: BLE001  (a broken table must not hide the others)
            broken.append(Finding("table_build", "error", None, None, None, None,
                                  f"table {name} could not be built: {type(exc).__name__}: {exc}"))
    if bar:
        bar.stage("running checks")
    findings = cap.check(config)
    if broken:
        findings = pd.concat([findings_frame(broken), findings], ignore_index=True)
    tables["findings"] = findings
    return tables, broken


def _write_tables(tables: dict[str, pd.DataFrame], out: Path, csv: bool) -> tuple[list[str], list[Finding]]:
    """Write every table (findings last); (paths written, a ``table_write`` finding per table that could not
    be converted). Those findings are added to the findings table before it is written."""
    try:
        return _write_tables_to(tables, out, csv)
    except OSError as exc:
        raise WorkbenchError(f"cannot write tables to {out}: {exc}") from exc


def _write_tables_to(tables: dict[str, pd.DataFrame], out: Path, csv: bool) -> tuple[list[str], list[Finding]]:
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    unwritten: list[Finding] = []
    for name, table in tables.items():
        if name == "findings":
            continue
        try:
            written += _write_table(name, table, out, csv)
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001  (a table Parquet cannot hold must not stop the others)
            unwritten.append(Finding("table_write", "error", None, None, None, None,
                                     f"table {name} could not be written: {type(exc).__name__}: {exc}"))
    if unwritten:
        tables["findings"] = pd.concat([findings_frame(unwritten), tables["findings"]], ignore_index=True)
    if "findings" in tables:
        written += _write_table("findings", tables["findings"], out, csv)
    return written, unwritten


def _write_table(name: str, table: pd.DataFrame, out: Path, csv: bool) -> list[str]:
    ready = parquet_ready(table)
    path = out / f"{name}.parquet"
    ready.to_parquet(path, index=False)
    if not csv:
        return [str(path)]
    csv_path = out / f"{name}.csv"
    ready.to_csv(csv_path, index=False)
    return [str(path), str(csv_path)]


def incomplete(findings: pd.DataFrame) -> str | None:
    """What is missing from the analysis (tables not built or not written, checks that crashed), in one line;
    None when it is complete."""
    if not len(findings):
        return None
    parts = []
    for kind, verb in (("table_build", "not built"), ("table_write", "not written")):
        count = int((findings["check"] == kind).sum())
        if count:
            parts.append(f"{count} table(s) {verb}")
    crashes = findings[crashed(findings).to_numpy(dtype=bool)]
    if len(crashes):
        names = sorted(set(crashes["check"].astype(str)))
        parts.append(f"{len(names)} check(s) crashed ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})")
    return "; ".join(parts) or None


def _kwh(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else round(number / 1000.0, 3)


def _iso(value: Any) -> str | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        return pd.Timestamp(value).isoformat()
    except (TypeError, ValueError):
        return str(value)


def _sessions(tables: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    transactions = tables.get("transactions")
    if transactions is None or not len(transactions):
        return []
    rows = []
    for row in transactions.to_dict("records"):
        rows.append({
            "charge_point_id": row.get("charge_point_id"),
            "connector_id": None if pd.isna(row.get("connector_id")) else int(row["connector_id"]),
            "transaction_id": None if pd.isna(row.get("transaction_id")) else int(row["transaction_id"]),
            "start": _iso(row.get("start_ts")),
            "stop": _iso(row.get("stop_ts")),
            "energy_kwh": _kwh(row.get("energy_wh")),
            "energy_register_kwh": _kwh(row.get("energy_register_wh")),
            "energy_integrated_kwh": _kwh(row.get("energy_integrated_wh")),
            "completeness": row.get("completeness"),
        })
    return rows


def _finding_dicts(findings: pd.DataFrame, limit: int) -> list[dict[str, Any]]:
    if not len(findings):
        return []
    rank = findings["severity"].map({s: i for i, s in enumerate(SEVERITIES)}).fillna(len(SEVERITIES))
    worst = findings.assign(_rank=rank).sort_values(["_rank", "ts"], kind="stable", na_position="last").head(limit)
    out = []
    for row in worst.to_dict("records"):
        out.append({
            "ts": _iso(row["ts"]), "severity": row["severity"], "check": row["check"],
            "charge_point_id": None if pd.isna(row["charge_point_id"]) else row["charge_point_id"],
            "connector_id": None if pd.isna(row["connector_id"]) else int(row["connector_id"]),
            "transaction_id": None if pd.isna(row["transaction_id"]) else int(row["transaction_id"]),
            "message": row["message"], "frame_seqs": list(row["frame_seqs"]),
        })
    return out


def build_report(cap: Capture, tables: dict[str, pd.DataFrame], *, worst: int,
                 written: list[str]) -> dict[str, Any]:
    """The analyze report as plain data (what ``--format json`` prints)."""
    findings = tables["findings"]
    summary = cap.summary()
    return {
        "files": [str(p) for p in cap.paths],
        "summary": {**summary, "start": _iso(summary["start"]), "end": _iso(summary["end"])},
        "sessions": _sessions(tables),
        "findings_by_severity": {s: int((findings["severity"] == s).sum()) for s in SEVERITIES},
        "findings_by_check": {str(k): int(v) for k, v in findings["check"].value_counts().sort_index().items()},
        "worst_findings": _finding_dicts(findings, worst),
        "tables_written": written,
        "incomplete": incomplete(findings),  # None, or what is missing (then the exit code is 3)
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return str(value)


def render_text(report: dict[str, Any]) -> str:
    """The report for people: summary, sessions, findings by severity and check, worst findings."""
    s = report["summary"]
    lines = [f"{s['frames']} frames, {s['connections']} connections, {s['charge_points']} charge points, "
             f"{s['start'] or '-'} .. {s['end'] or '-'}"
             + (f"; {s['invalid_frames']} invalid frames" if s["invalid_frames"] else "")
             + (f"; {s['load_problems']} unreadable lines" if s["load_problems"] else "")]
    sessions = report["sessions"]
    lines.append("")
    lines.append(f"Sessions ({len(sessions)}), energy in kWh: meter stop-start / register / integrated power")
    for session in sessions[:SESSION_ROWS_SHOWN]:
        lines.append(
            f"  {session['charge_point_id']} c{_fmt(session['connector_id'])} tx {_fmt(session['transaction_id'])}  "
            f"{session['start'] or '-'} .. {session['stop'] or '-'}  "
            f"{_fmt(session['energy_kwh'])} / {_fmt(session['energy_register_kwh'])} / "
            f"{_fmt(session['energy_integrated_kwh'])}  {session['completeness']}")
    if len(sessions) > SESSION_ROWS_SHOWN:
        lines.append(f"  ... {len(sessions) - SESSION_ROWS_SHOWN} more (see transactions table)")
    counts = report["findings_by_severity"]
    lines.append("")
    lines.append("Findings: " + ", ".join(f"{counts[sev]} {sev}" for sev in SEVERITIES))
    for check_name, count in report["findings_by_check"].items():
        lines.append(f"  {check_name}: {count}")
    if report["worst_findings"]:
        lines.append("")
        lines.append("Worst findings:")
        for f in report["worst_findings"]:
            where = f["charge_point_id"] or "-"
            seqs = ",".join(str(x) for x in f["frame_seqs"][:5])
            lines.append(f"  {f['severity']:7} {f['ts'] or '-'} {where} {f['check']}: {f['message']}"
                         + (f" [frames {seqs}]" if seqs else ""))
    if report["tables_written"]:
        lines.append("")
        lines.append("Tables written: " + ", ".join(report["tables_written"]))
    # Every line above is one line; text from the capture must not break it or drive the terminal.
    return "\n".join(terminal_safe(line) for line in lines) + "\n"


def fail_on_reason(findings: pd.DataFrame, fail_on: str | None) -> str | None:
    """Why ``--fail-on`` is met (``2 errors (--fail-on error)``), or None when it is not."""
    if not fail_on_met(findings, fail_on):
        return None
    assert fail_on is not None
    counts = findings["severity"].value_counts()
    met = [f"{counts[s]} {s}{'s' if counts[s] != 1 else ''}" for s in SEVERITIES[: SEVERITIES.index(fail_on) + 1]
           if counts.get(s, 0)]
    return f"{', '.join(met)} (--fail-on {fail_on})"


def fail_on_met(findings: pd.DataFrame, fail_on: str | None) -> bool:
    """True when a finding at ``fail_on`` severity or worse exists."""
    if fail_on is None:
        return False
    worst_allowed = SEVERITIES[: SEVERITIES.index(fail_on) + 1]
    return bool(findings["severity"].isin(worst_allowed).any())


def run(args: argparse.Namespace) -> int:
    _paths.input_paths([item for item in args.files if not is_url(item)])
    if args.out:
        _paths.output_dir(args.out, "--out")
    files = fleet_inputs(args.files)  # local paths, folders or fsspec URLs; a missing one fails here
    config = CheckConfig(unanswered_timeout_s=args.unanswered_timeout, slow_reply_s=args.slow_reply)
    if args.dask and args.out:
        return _run_fleet_dataset(args, files, config)
    bar = _progress_bar(args, files)
    cap = load(files, charge_point_id=args.charge_point_id, tz=args.tz,
               progress=bar.update if bar else None, partitions=args.partitions,
               engine="dask" if args.dask else None, client=args.dask, buckets=args.buckets)
    tables, _ = _build_tables(cap, config, bar)
    if "frames" in tables and not len(tables["frames"]):
        raise NoFramesError([str(p) for p in files], _why_no_frames(cap, [p for p in files if isinstance(p, Path)]))
    written = _write_tables(tables, args.out, args.csv)[0] if args.out else []
    if bar:
        bar.finish()
    report = build_report(cap, tables, worst=args.worst, written=written)
    if args.format == "json":
        sys.stdout.write(jsonout.dumps(report, indent=2) + "\n")  # strict: missing values are null
    else:
        sys.stdout.write(render_text(report))
    missing = report["incomplete"]
    if missing is not None:
        # Never a silent success: the report above is partial, and each gap is an error finding.
        print(f"ocpp-workbench analyze: analysis incomplete: {missing} (see the error findings)", file=sys.stderr)
        return EXIT_INCOMPLETE
    reason = fail_on_reason(tables["findings"], args.fail_on)
    if reason is None:
        return 0
    print(f"ocpp-workbench analyze: {reason}", file=sys.stderr)
    return 1


def _why_no_frames(cap: Capture, files: list[Path]) -> str:
    """What the input held instead of frames, in a few words."""
    if all(path.stat().st_size == 0 for path in files):
        return "empty file" if len(files) == 1 else "empty files"
    parts = []
    if len(cap.connections):
        parts.append(f"{len(cap.connections)} connection record{'s' if len(cap.connections) != 1 else ''}")
    lines = sum(1 for problem in cap.load_problems if problem.line_no is not None)
    if lines:
        parts.append(f"{lines} line{'s' if lines != 1 else ''} that {'are' if lines != 1 else 'is'} no frame; "
                     "`ocpp-workbench import` reports each")
    return ", ".join(parts)


def _run_fleet_dataset(args: argparse.Namespace, files: list[Any], config: CheckConfig) -> int:
    """``--out DIR --dask``: the workers write the fleet dataset; only summaries come back here."""
    from ..fleet.dataset import open_fleet, write_fleet
    from ..fleet.executors import make_executor

    with make_executor("dask", client=args.dask) as executor:
        manifest = write_fleet(files, executor, args.out, buckets=args.buckets,
                               charge_point_id=args.charge_point_id, tz=args.tz, config=config)
        by_check = open_fleet(args.out).findings_by_check()
    rows = manifest["rows"]
    by_severity = {s: int(by_check.loc[by_check["severity"] == s, "findings"].sum()) for s in SEVERITIES}
    if args.format == "json":
        sys.stdout.write(jsonout.dumps({"dataset": str(args.out), "rows": rows, "buckets": manifest["buckets"],
                                     "load_problems": len(manifest["problems"]),
                                     "findings_by_severity": by_severity}, indent=2) + "\n")
    else:
        sys.stdout.write(f"fleet dataset {args.out}: {rows['frames']} frames, {rows['transactions']} sessions, "
                         f"{manifest['buckets']} buckets, {len(manifest['problems'])} unreadable lines\n"
                         "Findings: " + ", ".join(f"{by_severity[s]} {s}" for s in SEVERITIES) + "\n")
    worst_allowed = SEVERITIES[: SEVERITIES.index(args.fail_on) + 1] if args.fail_on else []
    return 1 if any(by_severity[s] for s in worst_allowed) else 0
