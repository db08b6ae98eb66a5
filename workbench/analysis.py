"""Load captures and look at them as tables: ``cap = workbench.load(path); cap.frames; cap.findings``.

:func:`load` reads one or more native captures (plain or gzip, a directory of them, rotated files
in rotation order) or, when a file is not a native capture, imports it as a foreign log. Every
record is decoded once while loading; the tables are built on first use and cached. Whatever could
not be read (a line cut by a crash, an importer's skipped line) is kept in :attr:`Capture.load_problems`
and reported as findings (checks ``capture_read`` and ``import``), never dropped silently.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from .capture.identity import connection_charge_point_id
from .capture.importers.regular import ImportedFrames
from .capture.reader import CaptureReader
from .display import duration_text, ts_ms, styled
from .errors import CaptureFormatError, WorkbenchError
from .tables._columns import paused_gc
from .tables.calls import build_calls
from .tables.connections import build_connections
from .tables.frames import FrameCollector
from .tables.meter_values import MeterValueCollector

Record = dict[str, Any]
ProgressCallback = Callable[[int, int], None]
"""``progress(bytes_done, bytes_total)``: called now and then while loading (estimated for gzip)."""

CONNECTION_RECORD_TYPES = frozenset({"connection_open", "upgrade_rejected", "tls_handshake_failed", "connection_close"})
CAPTURE_SUFFIXES = (".ocpp.jsonl", ".ocpp.jsonl.gz", ".jsonl", ".jsonl.gz")
_ROTATION = re.compile(r"\.(\d{4})(?=\.)")


@dataclass(frozen=True)
class LoadProblem:
    """Something in an input file that did not become a table row. ``raw`` keeps the original text."""

    path: str
    line_no: int | None
    kind: str  # a ReadProblem kind, "unknown_record_type", or an importer report status
    detail: str
    raw: str
    source: str  # "capture_read" (native capture) or "import" (foreign log)


def capture_files(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand paths and directories into the files to read, rotated files in rotation order.

    A directory contributes its ``*.ocpp.jsonl`` / ``*.jsonl`` files (plain or ``.gz``), sorted by
    name with a rotation index (``site.0002.ocpp.jsonl``) sorting after its base file.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found = [p for p in path.iterdir() if p.is_file() and p.name.endswith(CAPTURE_SUFFIXES)
                     and not p.name.endswith(".truth.json")]
            files.extend(sorted(found, key=_rotation_key))
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such capture file or directory: {path}")
    if not files:
        raise WorkbenchError(f"no capture files found in {', '.join(str(p) for p in paths)}")
    return files


def _rotation_key(path: Path) -> tuple[str, int]:
    match = _ROTATION.search(path.name)
    if match is None:
        return (path.name, 0)
    return (path.name[: match.start()] + path.name[match.end():], int(match.group(1)))


class Capture:
    """One or more captures read as one. Tables are pandas DataFrames built on first access.

    ``header`` is the first file's header (``headers`` all of them); ``paths`` the files read.
    """

    def __init__(self, headers: Sequence[Record], frame_collector: FrameCollector,
                 connection_records: Sequence[Record], load_problems: Sequence[LoadProblem] = (),
                 paths: Sequence[Path] = ()) -> None:
        self.headers = list(headers)
        self.header: Record = self.headers[0] if self.headers else {}
        self.paths = list(paths)
        self.load_problems = list(load_problems)
        self._frame_collector = frame_collector
        self._connection_records = list(connection_records)
        self._pairing: Any = None  # set with frames, reused by calls

    @classmethod
    def from_records(cls, records: Iterable[Record], header: Record | None = None) -> Capture:
        """A Capture of in-memory records (header excluded), e.g. from :mod:`workbench.testing`."""
        collector = FrameCollector()
        connections: list[Record] = []
        problems: list[LoadProblem] = []
        for record in records:
            _route(record, collector, connections, problems, "<records>", None, "capture_read")
        return cls([header or {}], collector, connections, problems)

    @classmethod
    def from_tables(cls, headers: Sequence[Record], tables: dict[str, pd.DataFrame],
                    load_problems: Sequence[LoadProblem] = (), paths: Sequence[Path] = ()) -> Capture:
        """A Capture whose tables are already built (e.g. merged from buckets, see :mod:`.fleet`)."""
        cap = cls(headers, FrameCollector(), [], load_problems, paths)
        for name, table in tables.items():
            cap.__dict__[name] = table  # what the cached properties would have computed
        return cap

    # --- tables -------------------------------------------------------------------------------

    @cached_property
    def frames(self) -> pd.DataFrame:
        """Every WebSocket message, one row each (see :mod:`workbench.tables.frames`)."""
        mapping: dict[str, Any] = {}
        for record in self._connection_records:
            if record.get("type") in ("connection_open", "upgrade_rejected"):
                connection_id = record.get("connection_id")
                if isinstance(connection_id, str):
                    mapping.setdefault(connection_id, connection_charge_point_id(record))
        self._meter_collector = MeterValueCollector()
        frames = self._frame_collector.to_frame(mapping, meter=self._meter_collector)
        self._pairing = self._frame_collector.last_pairing
        self._frame_collector = FrameCollector()  # the raw lists are in the table now; free them
        return frames

    @cached_property
    def calls(self) -> pd.DataFrame:
        """Requests paired with replies (see :mod:`workbench.tables.calls`)."""
        frames = self.frames
        with paused_gc():
            return build_calls(frames, self._pairing)

    @cached_property
    def connections(self) -> pd.DataFrame:
        """WebSocket connections and rejected upgrades (see :mod:`workbench.tables.connections`)."""
        return build_connections(self._connection_records, self.frames)

    @cached_property
    def meter_values(self) -> pd.DataFrame:
        """Every SampledValue (see :mod:`workbench.tables.meter_values`)."""
        frames = self.frames  # its pass gave the collector every MeterValues / StopTransaction payload
        table = self._meter_collector.to_table(frames)
        self._meter_collector = MeterValueCollector()
        return table

    @cached_property
    def status(self) -> pd.DataFrame:
        """StatusNotifications with transitions (see :mod:`workbench.tables.status`)."""
        from .tables.status import build_status

        frames = self.frames
        with paused_gc():
            return build_status(frames)

    @cached_property
    def transactions(self) -> pd.DataFrame:
        """Charging sessions with energy three ways (see :mod:`workbench.tables.transactions`)."""
        from .tables.transactions import build_transactions

        frames, meter_values, status = self.frames, self.meter_values, self.status
        with paused_gc():
            return build_transactions(frames, meter_values, status)

    @cached_property
    def findings(self) -> pd.DataFrame:
        """Findings of every registered check with the default thresholds."""
        return self.check()

    def check(self, config: Any = None, names: Iterable[str] | None = None) -> pd.DataFrame:
        """Run checks (all by default) with ``config`` (a :class:`~workbench.checks.CheckConfig`)."""
        from .checks.registry import run_checks

        return run_checks(self, config, names)

    TABLES = ("frames", "calls", "connections", "meter_values", "status", "transactions", "findings")
    """Every table a Capture offers, in the order reports list them."""

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by name (builds those not built yet)."""
        return {name: getattr(self, name) for name in self.TABLES}

    # --- summaries ----------------------------------------------------------------------------

    @property
    def charge_point_ids(self) -> list[str]:
        """Charge points seen in frames or connections, sorted."""
        ids = set(self.frames["charge_point_id"].dropna().unique()) | set(
            self.connections["charge_point_id"].dropna().unique())
        return sorted(str(i) for i in ids)

    def summary(self) -> dict[str, Any]:
        """Counts for a quick look: files, frames, connections, charge points, time span, parse errors."""
        frames = self.frames
        # The span covers every record: frames, and connection opens, closes and rejected upgrades.
        connections = self.connections
        times = [frames["ts"]] + [connections[name] for name in ("ts", "close_ts") if name in connections]
        times = [column for column in times if len(column) and column.notna().any()]
        start = min(column.min() for column in times) if times else None
        end = max(column.max() for column in times) if times else None
        return {
            "files": len(self.paths),
            "frames": len(frames),
            "connections": len(self.connections),
            "charge_points": len(self.charge_point_ids),
            "start": None if start is None or pd.isna(start) else start,
            "end": None if end is None or pd.isna(end) else end,
            "invalid_frames": int((frames["message_type"] == "invalid").sum()),
            "load_problems": len(self.load_problems),
        }

    def worst_findings(self, limit: int = 5) -> pd.DataFrame:
        """The ``limit`` worst findings: errors before warnings before info, earliest first within each."""
        from .checks.registry import SEVERITIES

        findings = self.findings
        rank = findings["severity"].map({s: i for i, s in enumerate(SEVERITIES)}).fillna(len(SEVERITIES))
        order = findings.assign(_rank=rank).sort_values(["_rank", "ts"], kind="stable", na_position="last")
        return order.drop(columns="_rank").head(limit)

    def overview(self, worst: int = 3) -> dict[str, Any]:
        """What the reprs show: the :meth:`summary` counts plus sessions, duration (s), findings by
        severity and the worst findings (None and ``findings_error`` if the checks could not run)."""
        from .checks.registry import SEVERITIES

        facts = self.summary()
        facts["sessions"] = len(self.transactions)
        start, end = facts["start"], facts["end"]
        facts["duration_s"] = None if start is None or end is None else (end - start).total_seconds()
        facts["findings_by_severity"], facts["worst_findings"], facts["findings_error"] = None, None, None
        try:
            findings = self.findings
            facts["findings_by_severity"] = {s: int((findings["severity"] == s).sum()) for s in SEVERITIES}
            facts["worst_findings"] = self.worst_findings(worst)
        except Exception as exc:  # a repr must never raise: say what failed instead
            facts["findings_error"] = f"{type(exc).__name__}: {exc}"
        return facts

    def __repr__(self) -> str:
        facts = self.overview()
        span = (f"{ts_ms(facts['start'])} .. {ts_ms(facts['end'])} ({duration_text(facts['duration_s'])})"
                if facts["duration_s"] is not None else "no frames")
        lines = [f"<Capture {facts['frames']} frames, {facts['connections']} connections, "
                 f"{facts['charge_points']} charge points, {facts['sessions']} sessions, {span}"]
        if facts["invalid_frames"] or facts["load_problems"]:
            lines.append(f"  {facts['invalid_frames']} invalid frames, {facts['load_problems']} unreadable lines")
        if facts["findings_error"]:
            lines.append(f"  findings could not be computed: {facts['findings_error']}")
        else:
            lines.append("  findings: " + ", ".join(f"{n} {sev}" for sev, n in facts["findings_by_severity"].items()))
            for row in facts["worst_findings"].to_dict("records"):
                lines.append(f"  {row['severity']:7} {ts_ms(row['ts'])} {_text(row['charge_point_id'])} "
                             f"{row['check']}: {_short(row['message'], 160)}")
        return "\n".join(lines) + ">"

    def _repr_html_(self) -> str:
        facts = self.overview(worst=5)
        esc = html.escape
        cell = "style='text-align:left; padding:1px 8px'"
        span = ("-" if facts["duration_s"] is None else
                f"{ts_ms(facts['start'])} .. {ts_ms(facts['end'])} ({duration_text(facts['duration_s'])})")
        rows = [("frames", f"{facts['frames']:,}"), ("connections", f"{facts['connections']:,}"),
                ("charge points", f"{facts['charge_points']:,}"), ("sessions", f"{facts['sessions']:,}"),
                ("time span", span)]
        if facts["findings_error"]:
            rows.append(("findings", f"could not be computed: {facts['findings_error']}"))
        else:
            rows.append(("findings", ", ".join(f"{n} {sev}" for sev, n in facts["findings_by_severity"].items())))
        if facts["invalid_frames"]:
            rows.append(("invalid frames", f"{facts['invalid_frames']:,}"))
        if facts["load_problems"]:
            rows.append(("unreadable lines", f"{facts['load_problems']:,} (see load_problems)"))
        rows.append(("files", ", ".join(str(path) for path in self.paths) or "-"))
        by_action = self.frames[self.frames["message_type"] == "CALL"]["action"].value_counts().head(8)
        rows.append(("top actions", ", ".join(f"{a}: {n}" for a, n in by_action.items()) or "-"))
        facts_table = "".join(f"<tr><th {cell}>{esc(k)}</th><td {cell}>{esc(str(v))}</td></tr>" for k, v in rows)
        worst = facts["worst_findings"]
        worst_html = ""
        if worst is not None and len(worst):
            colours = {"error": "#c62828", "warning": "#ef6c00", "info": "#1565c0"}
            head = "".join(f"<th {cell}>{h}</th>" for h in
                           ("severity", "time", "charge point", "connector", "transaction", "check", "message", "frames"))
            body = ""
            for row in worst.to_dict("records"):
                colour = colours.get(str(row["severity"]), "inherit")
                frames = ", ".join(str(seq) for seq in list(row["frame_seqs"])[:5])
                values = [ts_ms(row["ts"]), _text(row["charge_point_id"]), _text(row["connector_id"]),
                          _text(row["transaction_id"]), row["check"], row["message"], frames]
                body += (f"<tr><td {cell}><b style='color:{colour}'>{esc(str(row['severity']))}</b></td>"
                         + "".join(f"<td {cell}>{esc(str(v))}</td>" for v in values) + "</tr>")
            worst_html = f"<div><b>worst findings</b> (cap.findings for all)</div><table><tr>{head}</tr>{body}</table>"
        return f"<div><b>ocpp-workbench Capture</b><table>{facts_table}</table>{worst_html}</div>"


def _text(value: Any) -> str:
    return "-" if value is None or pd.isna(value) else str(value)


def _short(text: Any, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _route(record: Any, collector: FrameCollector, connections: list[Record], problems: list[LoadProblem],
           path: str, line_no: int | None, source: str) -> None:
    kind = record.get("type") if isinstance(record, dict) else None
    if kind == "frame":
        collector.add(record)
    elif kind in CONNECTION_RECORD_TYPES:
        connections.append(record)
    elif kind == "header":
        problems.append(LoadProblem(path, line_no, "extra_header",
                                    "a header record inside the file (captures concatenated?); records go on",
                                    repr(record)[:2000], source))
    else:
        problems.append(LoadProblem(path, line_no, "unknown_record_type",
                                    f"record type {kind!r} is not one this version reads", repr(record)[:2000], source))


def _file_size(path: Path) -> int:
    """Bytes of the file's content: the uncompressed size for gzip (from its ISIZE trailer, mod 4 GiB)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            if fh.read(2) != b"\x1f\x8b" or size < 18:
                return size
            fh.seek(-4, os.SEEK_END)
            return max(size, int.from_bytes(fh.read(4), "little"))
    except OSError:
        return 0


# Bytes a frame record takes beyond its text (keys, ts, ids): used only for the progress estimate.
_RECORD_OVERHEAD_BYTES = 130
_PROGRESS_EVERY = 20_000


def load(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *,
         charge_point_id: str | None = None, tz: str = "UTC",
         progress: ProgressCallback | bool | None = None) -> Capture:
    """Read capture files (a path, several, or a directory; plain or .gz) into one :class:`Capture`,
    in this process.

    Files that are not native captures are imported as foreign logs (``charge_point_id`` and ``tz``
    are passed to the importer). Frames keep file order, so ``frames.seq`` is unique and ordered.
    Raises FileNotFoundError or :class:`~workbench.errors.WorkbenchError` only when a file cannot be
    read at all. ``progress(bytes_done, bytes_total)`` is called every 20 000 records (estimated bytes).
    Without ``progress``, inputs of 32 MiB and more show a tqdm bar in Jupyter or at an interactive
    prompt on a terminal (:mod:`workbench.progress`); ``progress=True`` always shows it, ``False`` never.

    ``workbench.load`` (:func:`workbench.fleet.load`) is this plus the other engines: by charge point
    bucket in local processes (``partitions=N``) or on Dask (``engine="dask"``), built on top of it.
    """
    files = capture_files(paths)
    from .progress import choose_progress

    callback, bar = choose_progress(progress, sum(_file_size(path) for path in files))
    try:
        with paused_gc():
            return _load(files, charge_point_id, tz, callback)
    finally:
        if bar is not None:
            bar.close()


def _load(files: list[Path], charge_point_id: str | None, tz: str, progress: ProgressCallback | None) -> Capture:
    sizes = [_file_size(p) for p in files]
    total = sum(sizes)
    done = 0
    collector = FrameCollector()
    connections: list[Record] = []
    problems: list[LoadProblem] = []
    headers: list[Record] = []
    for number, (path, size) in enumerate(zip(files, sizes), 1):
        try:
            reader = CaptureReader(path)
        except CaptureFormatError as exc:
            if "not an ocpp-workbench capture" not in str(exc):
                raise
            header, records, report = _import_foreign(path, exc, charge_point_id=charge_point_id, tz=tz,
                                                      by_column=True, file_number=number)
            headers.append(header)
            if isinstance(records, ImportedFrames):  # the fast path's columns: no record per frame
                for record in records.connections:
                    _route(record, collector, connections, problems, str(path), None, "import")
                if len(records):
                    collector.add_columns(records.ts, records.connection_id, records.direction, records.text,
                                          records.parse_texts, records.reply_ids)
            else:
                add_frame = collector.add
                for record in records:  # the importer's records are dicts with a "type"; frames the bulk
                    if record["type"] == "frame":
                        add_frame(record)
                    else:
                        _route(record, collector, connections, problems, str(path), None, "import")
            problems.extend(report)
        else:
            headers.append(reader.header)
            version = reader.header.get("ocpp_version") or "1.6"
            if version != "1.6":  # an imported 2.0.1 trace written as a capture: said once, not analysed
                _skip_other_version(reader, path, version, connections, problems)
            elif progress is None:
                add_frame = collector.add
                for _line_no, record in reader.numbered():  # dicts with a "type"; frames are the bulk
                    if record["type"] == "frame":
                        add_frame(record)
                    else:
                        _route(record, collector, connections, problems, str(path), None, "capture_read")
            else:
                in_file = 0
                for index, record in enumerate(reader, 1):
                    _route(record, collector, connections, problems, str(path), None, "capture_read")
                    text = record.get("text") if isinstance(record, dict) else None
                    in_file += (len(text) if isinstance(text, str) else 0) + _RECORD_OVERHEAD_BYTES
                    if index % _PROGRESS_EVERY == 0:
                        progress(done + min(in_file, size), total)
            for problem in reader.problems:
                problems.append(LoadProblem(problem.path, problem.line_no, problem.kind, problem.detail,
                                            problem.raw, "capture_read"))
        done += size
        if progress is not None:
            progress(done, total)
    return Capture(headers, collector, connections, problems, files)


def _skip_other_version(reader: CaptureReader, path: Path, version: str, connections: list[Record],
                        problems: list[LoadProblem]) -> None:
    """A capture of another OCPP version (header ``ocpp_version``): its connections are kept, its
    frames counted and reported in one row, not run through the 1.6 checks."""
    collector = FrameCollector()  # frames go nowhere: the analysis is of OCPP 1.6
    frames = 0
    for record in reader:
        if isinstance(record, dict) and record.get("type") == "frame":
            frames += 1
        else:
            _route(record, collector, connections, problems, str(path), None, "capture_read")
    problems.append(LoadProblem(str(path), None, "skipped", f"OCPP {version}, not analysed",
                                f"{frames} frames in the capture; the workbench analyses OCPP 1.6", "import"))


def _import_foreign(path: Path, cause: CaptureFormatError, *, charge_point_id: str | None, tz: str,
                    by_column: bool = False, file_number: int = 1,
                    ) -> tuple[Record, list[Record] | ImportedFrames, list[LoadProblem]]:
    """(header, records, report rows) of a foreign log; with ``by_column``, the fast path's
    :class:`ImportedFrames` instead of records when it read the file (no record per frame).

    ``file_number``: the file's place (from 1) among the files loaded together. Every import numbers
    its connections ``import-1``, ``import-2``, ...; from the second file on they become
    ``import-1@2`` (connection import-1 of file 2), so two imported logs never share a connection and
    one charger's frames are never counted as another's."""
    try:
        from .capture.importers import import_file
    except ImportError:
        raise cause from None
    try:
        result = import_file(path, charge_point_id=charge_point_id, tz=tz)
    except WorkbenchError:
        raise
    except (OSError, ValueError) as exc:
        raise CaptureFormatError(f"{path}: not a capture and could not be imported: {exc}") from exc
    report = getattr(result, "report", None)
    problems: list[LoadProblem] = []
    if isinstance(report, pd.DataFrame) and len(report):
        columns = list(report.columns)
        for row in report.to_dict("records"):
            line_no = row.get("line_no", row.get("line"))
            problems.append(LoadProblem(
                str(path),
                int(line_no) if isinstance(line_no, (int, float)) and not pd.isna(line_no) else None,
                str(row.get("status", row.get("kind", "skipped"))),
                str(row.get("detail", row.get("reason", row.get("message", "")))),
                str(row.get("raw", row.get("text", ""))) if ("raw" in columns or "text" in columns) else "",
                "import",
            ))
    other_version = result.header.get("ocpp_version", "1.6") != "1.6"
    if by_column and result.imported_frames is not None:
        imported = result.imported_frames
        if file_number > 1:
            _number_connections(imported.connections, file_number)
            renamed = {c: f"{c}@{file_number}" for c in set(imported.connection_id)}  # one string per connection
            imported.connection_id = [renamed[c] for c in imported.connection_id]
        if other_version:
            return dict(result.header), list(imported.connections), problems
        return dict(result.header), imported, problems
    records = list(result.records)
    if file_number > 1:
        _number_connections(records, file_number)
    if other_version:
        # Another OCPP version (2.0.1): the import report says so in one row; its frames are not
        # run through the 1.6 checks, which would report each of them as an error.
        records = [r for r in records if r.get("type") != "frame"]
    return dict(result.header), records, problems


def _number_connections(records: list[Record], file_number: int) -> None:
    """Give the connection ids of one imported file's records its file number (see _import_foreign)."""
    for record in records:
        connection_id = record.get("connection_id")
        if isinstance(connection_id, str):
            record["connection_id"] = f"{connection_id}@{file_number}"


@pd.api.extensions.register_dataframe_accessor("ocpp")
class OcppAccessor:
    """``df.ocpp``: row filters shared by every workbench table (each returns a new DataFrame)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def _need(self, column: str) -> pd.Series:
        if column not in self._frame.columns:
            raise AttributeError(f"this table has no {column!r} column")
        return self._frame[column]

    def for_charger(self, charge_point_id: str) -> pd.DataFrame:
        """Rows of one charge point."""
        return self._frame[self._need("charge_point_id") == charge_point_id]

    def for_connector(self, connector_id: int) -> pd.DataFrame:
        """Rows of one connector (tables with ``connector_id``)."""
        return self._frame[self._need("connector_id") == connector_id]

    def for_action(self, action: str) -> pd.DataFrame:
        """Rows of one OCPP action (frames, calls)."""
        return self._frame[self._need("action") == action]

    def between(self, start: Any, end: Any) -> pd.DataFrame:
        """Rows with ``start <= ts < end`` (anything pd.Timestamp reads; naive means UTC)."""
        ts = self._need("ts")
        lo, hi = (pd.Timestamp(t) for t in (start, end))
        lo = lo.tz_localize("UTC") if lo.tzinfo is None else lo
        hi = hi.tz_localize("UTC") if hi.tzinfo is None else hi
        return self._frame[(ts >= lo) & (ts < hi)]

    def seqs(self, seqs: Iterable[int]) -> pd.DataFrame:
        """Rows whose ``seq`` is in ``seqs`` (e.g. a finding's ``frame_seqs``)."""
        return self._frame[self._need("seq").isin(list(seqs))]

    def view(self, max_rows: int | None = 60) -> Any:
        """The table for a notebook (a pandas Styler; the table itself is unchanged): timestamps to
        the millisecond, ``raw`` and messages whole, first and last ``max_rows // 2`` rows."""
        return styled(self._frame, max_rows=max_rows)


__all__ = ["Capture", "LoadProblem", "OcppAccessor", "capture_files", "load"]
