"""Import logs of other tools as captures: mitmproxy dumps, HAR, NDJSON/JSON traces, and log lines
of OCPP libraries, CSMSs and chargers. ``import_file`` is the one entry point; ``wb.load`` falls
back to it for files that are not native captures.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import zlib
from pathlib import Path
from typing import Any

import pandas as pd

from ...errors import WorkbenchError
from ...tables._columns import paused_gc
from . import timestamps
from .assemble import assemble
from .detect import FORMATS, detect_document, first_line_is_whole
from .found import ReaderOutput, split_lines
from .har import read_har
from .loglines import read_log
from .mitm import read_mitmproxy
from .ocpp_version import ANALYSED, NOT_ANALYSED, trace_version
from .regular import (ImportedFrames, assemble_regular, damaged_frames, read_regular_document, read_regular_lines,
                      read_regular_trace, version_of)
from .report import build_report, summary_text
from .structured import read_json_document, read_json_lines

__all__ = ["FORMATS", "ImportResult", "import_file"]

# Formats the fast path (:mod:`.regular`) reads when their records are regular: one JSON record per
# line, and {metadata, events} traces.
REGULAR_FORMATS = ("ndjson", "json-objects", "open-ocpp-trace", "json-trace")
_IN_CHUNKS = object()  # _import_regular's document: a JSON trace read a chunk of items at a time


class ImportResult:
    """A foreign file as a capture: ``header`` and ``records`` as a native capture would hold them,
    and ``report`` (see :mod:`.report`): every frame kept damaged, every line skipped, every
    assumption made. ``lines_read`` and ``frames_recovered`` (frames read whole) complete it.

    ``records`` may be given as :class:`.regular.ImportedFrames` (the fast path): the records are
    then made on first use, and ``imported_frames`` keeps the columns (what ``load()`` reads)."""

    def __init__(self, header: dict[str, Any], records: list[dict[str, Any]] | ImportedFrames,
                 report: pd.DataFrame, format: str, source: str, lines_read: int,  # noqa: A002
                 frames_recovered: int) -> None:
        self.header, self.report, self.format, self.source = header, report, format, source
        self.lines_read, self.frames_recovered = lines_read, frames_recovered
        self.imported_frames = records if isinstance(records, ImportedFrames) else None
        self._records = None if isinstance(records, ImportedFrames) else records

    @property
    def records(self) -> list[dict[str, Any]]:
        if self._records is None:
            assert self.imported_frames is not None
            self._records = self.imported_frames.records()
        return self._records

    @property
    def frames_damaged(self) -> int:
        return int((self.report["status"] == "damaged").sum())

    @property
    def lines_skipped(self) -> int:
        return int((self.report["status"] == "skipped").sum())

    def summary(self, examples: int = 5) -> str:
        """The report as text for people (what the CLI prints)."""
        return summary_text(self.report, source=self.source, fmt=self.format, lines_read=self.lines_read,
                            frames_recovered=self.frames_recovered, examples=examples)


def _read_bytes(path: Path, notes: list[str]) -> bytes:
    """The file's bytes, gunzipped when it is gzip; a cut gzip stream gives what it holds, noted."""
    data = path.read_bytes()
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        try:
            partial = zlib.decompressobj(wbits=31).decompress(data)
        except zlib.error:
            notes.append(f"gzip header but no readable gzip stream ({exc}); read the bytes as they are")
            return data
        notes.append(f"gzip stream is cut ({exc}); read the {len(partial)} bytes before the cut")
        return partial


def _decode(data: bytes, out_notes: list[str]) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", "replace")
        out_notes.append("the file is not valid UTF-8; undecodable bytes were replaced by U+FFFD")
    return text.removeprefix("\ufeff")


def import_file(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,  # noqa: A002 - the contract's name, mirrors --format
    charge_point_id: str | None = None,
    tz: str = "UTC",
) -> ImportResult:
    """Read a foreign log as capture records.

    ``format``: one of :data:`FORMATS`, or None to detect. ``charge_point_id``: for frames whose
    source names none. ``tz``: zone of times written without one ("UTC", "Europe/Berlin", "+02:00").
    Raises FileNotFoundError, or WorkbenchError for an unknown format or time zone; damaged content
    never raises, it becomes report rows.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if format is not None and format not in FORMATS:
        raise WorkbenchError(f"unknown import format {format!r}; choose one of {', '.join(FORMATS)}")
    zone = timestamps.resolve_tz(tz)
    # Decoding builds a dict or list per frame and payload, none in a reference cycle: collections
    # during the burst would rescan everything built so far (they tripled the import time).
    with paused_gc():
        return _import(path, format, charge_point_id, zone)


def _import(path: Path, format: str | None, charge_point_id: str | None, zone: dt.tzinfo) -> ImportResult:  # noqa: A002
    notes: list[str] = []
    data = _read_bytes(path, notes)
    text = None if data[:1] and data[:64].count(b"\x00") else _decode(data, notes)
    if format is None and text is not None and "json-trace" in REGULAR_FORMATS and _may_be_a_trace(text):
        # a {metadata, events} trace read without decoding it whole first (what detection does)
        fast = _import_regular(path, "json-trace", text, _IN_CHUNKS, notes, charge_point_id, zone)
        if fast is not None:
            return fast
    fmt, document = (format, None) if format is not None else detect_document(path, text, data[:64])
    if fmt in REGULAR_FORMATS and text is not None:
        fast = _import_regular(path, fmt, text, document, notes, charge_point_id, zone)
        if fast is not None:
            return fast
    if fmt == "mitmproxy":
        out = read_mitmproxy(path)
    else:
        if text is None:
            text = _decode(data, notes)
        out = _read_text(fmt, text, zone, path, document)
    for note in notes:
        out.note(None, note)
    header, records = assemble(out, fmt=fmt, source=path.name, charge_point_id=charge_point_id)
    _mark_version(header, [r for r in records if r["type"] == "connection_open"],
                  sum(1 for r in records if r["type"] == "frame"), out,
                  *trace_version([f.parsed for f in out.frames], out.stated_versions))
    frame_cps = _frame_charge_points(records)
    report = build_report(out.frames, frame_cps, out.rows)
    return ImportResult(header=header, records=records, report=report, format=fmt, source=path.name,
                        lines_read=out.lines_read,
                        frames_recovered=sum(1 for f in out.frames if f.problem is None))


def _may_be_a_trace(text: str) -> bool:
    """Whether format detection may take ``text`` for one JSON document holding an object (a
    ``{metadata, events}`` trace among others): it starts with ``{`` and its first line is not a
    whole value (NDJSON's is)."""
    start = len(text) - len(text.lstrip(" \t\r\n")) if text[:1] in (" ", "\t", "\r", "\n") else 0
    return text.startswith("{", start) and not first_line_is_whole(text[start:] if start else text)


def _import_regular(path: Path, fmt: str, text: str, document: Any, notes: list[str], charge_point_id: str | None,
                    zone: dt.tzinfo) -> ImportResult | None:
    """The fast path of the structured formats (:mod:`.regular`); None when the file needs the general one."""
    if document is _IN_CHUNKS:
        read = read_regular_trace(text)
    elif fmt == "json-trace":
        read = read_regular_document(text, tz=zone, document=document)
    else:
        read = read_regular_lines(text, tz=zone)
    if read is None:
        return None
    out, frames = read
    for note in notes:
        out.note(None, note)
    built = assemble_regular(out, frames, fmt=fmt, source=path.name, charge_point_id=charge_point_id)
    if built is None:
        return None
    header, imported, cps = built
    _mark_version(header, imported.connections, len(imported), out, *version_of(frames, out.stated_versions))
    report = build_report(*damaged_frames(frames, cps), out.rows)
    return ImportResult(header=header, records=imported, report=report, format=fmt, source=path.name,
                        lines_read=out.lines_read, frames_recovered=len(frames) - len(frames.problem))


def _mark_version(header: dict[str, Any], connections: list[dict[str, Any]], frames: int, out: ReaderOutput,
                  version: str, why: str) -> None:
    """A trace of another OCPP version than 1.6 (``version``, ``why`` so): said once in the report
    and in the header (``ocpp_version``; ``load()`` then leaves its frames out of the analysis), frames kept.
    ``connections``: the import's connection_open records; ``frames``: how many frames it has."""
    if version == ANALYSED:
        return
    header["ocpp_version"] = version
    for record in connections:
        if record.get("subprotocol") == "ocpp1.6":
            record["subprotocol"], record["subprotocols_offered"] = None, []  # 1.6 was only assumed
    out.skip(None, NOT_ANALYSED.format(version=version),
             f"{frames} frames kept, not analysed (OCPP 1.6 only); {why}")


def _frame_charge_points(records: list[dict[str, Any]]) -> list[str]:
    by_connection = {r["connection_id"]: r["charge_point_id"] for r in records if r["type"] == "connection_open"}
    return [by_connection[r["connection_id"]] for r in records if r["type"] == "frame"]


def _read_text(fmt: str, text: str, zone: dt.tzinfo, path: Path, document: Any = None) -> ReaderOutput:
    if fmt in ("ndjson", "json-objects", "open-ocpp-trace"):
        return read_json_lines(text, tz=zone)
    if fmt in ("json-array", "json-trace"):
        return read_json_document(text, tz=zone, document=document)
    if fmt == "har":
        return read_har(text, tz=zone)
    year = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.timezone.utc).year
    return read_log(split_lines(text), tz=zone, year=year)
