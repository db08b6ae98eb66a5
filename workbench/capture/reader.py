"""Stream records out of a capture file, migrating older versions and reporting damage.

A capture cut by a crash (a partial last line, a gzip stream without its end) reads up to the
last good record; what was cut is listed in :attr:`CaptureReader.problems`, never raised.
Only files that are not captures at all, or are newer than this version, raise.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from .. import jsonfast
from ..errors import CaptureFormatError, NewerFormatError
from .compat import migrate
from .records import FORMAT_VERSION, RecordType

Record = dict[str, Any]
_CUT = object()  # a line cut short: reading stops there
_FRAME_LINE_START = b'{"type":"frame","ts":"'  # how CaptureWriter begins a frame line
_CONNECTION_KEY = b'"connection_id":"'
_orjson_loads = orjson.loads
_OrjsonError = orjson.JSONDecodeError
_READ_BUFFER_BYTES = 1 << 20  # the default 8 KiB costs a read system call every ~13 lines


@dataclass(frozen=True)
class ReadProblem:
    """A line the reader could not turn into a record. ``raw`` keeps the bytes (as text) so nothing is lost."""

    path: str
    line_no: int
    kind: str  # truncated_last_line | invalid_json | not_a_record | compressed_stream_cut
    detail: str
    raw: str


def _open_binary(path: Path) -> IO[bytes]:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return open(path, "rb", buffering=_READ_BUFFER_BYTES)


def _check_header(path: Path, line: bytes) -> Record:
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, dict) or record.get("type") != RecordType.HEADER.value:
        raise CaptureFormatError(
            f"{path}: not an ocpp-workbench capture (the first line is not a header record); "
            "to read a log of another tool use `ocpp-workbench import`"
        )
    version = record.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise CaptureFormatError(f"{path}: header has no integer format_version (got {version!r})")
    if version > FORMAT_VERSION:
        raise NewerFormatError(
            f"{path}: capture format_version {version} is newer than this ocpp-workbench reads "
            f"(up to {FORMAT_VERSION}); upgrade ocpp-workbench to read it"
        )
    return record


class CaptureReader:
    """Iterate the records of one capture file (plain or gzip), header excluded.

    After iteration, :attr:`problems` lists every line that was not a record, and
    :attr:`cut` says whether the file ended mid-record (a crash).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"no such capture file: {self.path}")
        self.problems: list[ReadProblem] = []
        self.records_read = 0
        with _open_binary(self.path) as fh:
            try:
                first = fh.readline()
            except (EOFError, OSError, zlib.error) as exc:
                raise CaptureFormatError(f"{self.path}: cannot read: {exc}") from exc
        raw_header = _check_header(self.path, first)
        self.source_version: int = raw_header["format_version"]
        self.header: Record = migrate(raw_header, self.source_version)

    @property
    def cut(self) -> bool:
        return any(p.kind in ("truncated_last_line", "compressed_stream_cut") for p in self.problems)

    def _problem(self, line_no: int, kind: str, detail: str, raw: bytes) -> None:
        self.problems.append(
            ReadProblem(str(self.path), line_no, kind, detail, raw.decode("utf-8", "backslashreplace"))
        )

    def __iter__(self) -> Iterator[Record]:
        for _line_no, record in self.numbered():
            yield record

    def numbered(self, skip_frame: Callable[[bytes], bool] | None = None,
                 report_shared: bool = True) -> Iterator[tuple[int, Record]]:
        """``(line_no, record)`` for every record. For a partitioned analysis, a frame line written the
        way :class:`~.writer.CaptureWriter` writes it, whose connection (its id as UTF-8 bytes)
        ``skip_frame`` says belongs to another partition, is passed over without being decoded; problems
        of the lines every partition reads are then reported only when ``report_shared``."""
        self.problems = []
        self.records_read = 0
        migrating = self.source_version != FORMAT_VERSION
        loads = _orjson_loads
        line_no = 1
        with _open_binary(self.path) as fh:
            fh.readline()  # header, checked in __init__
            try:
                for line in fh:  # the bulk of a capture: keep this loop lean
                    line_no += 1
                    shared = True
                    if skip_frame is not None and line.startswith(_FRAME_LINE_START):
                        start = line.find(_CONNECTION_KEY, 20)
                        end = line.find(b'"', start + len(_CONNECTION_KEY)) if start > 0 else -1
                        if end > 0:
                            connection = line[start + len(_CONNECTION_KEY):end]
                            if b"\\" not in connection:
                                if skip_frame(connection):
                                    continue
                                shared = False  # this partition alone reads this line
                    reported = report_shared or not shared
                    try:
                        record = loads(line)
                    except _OrjsonError:
                        problems = len(self.problems)
                        record = self._slow_line(line, line_no)
                        if not reported:
                            del self.problems[problems:]
                        if record is None:
                            continue
                        if record is _CUT:
                            return
                    if record.__class__ is not dict or "type" not in record:
                        if reported:
                            self._problem(line_no, "not_a_record", "line is JSON but not a capture record",
                                          line.rstrip(b"\n"))
                        continue
                    if migrating:
                        record = migrate(record, self.source_version)
                    self.records_read += 1
                    yield line_no, record
            except (EOFError, OSError, zlib.error) as exc:
                if report_shared:
                    self._problem(line_no + 1, "compressed_stream_cut", f"compressed stream ends early: {exc}", b"")

    def _slow_line(self, line: bytes, line_no: int) -> Any:
        """A line orjson refused: the record json.loads reads (NaN, lone surrogates), None for a blank or
        broken line (reported), or _CUT for a last line cut short (reported; reading stops)."""
        record, problem = decode_slow_line(line)
        if problem is None:
            return record
        self._problem(line_no, *problem)
        return _CUT if problem[0] == "truncated_last_line" else None


def decode_slow_line(line: bytes) -> tuple[Any, tuple[str, str, bytes] | None]:
    """(record, problem) of a line orjson refused: the record json.loads reads (NaN, lone surrogates),
    else None and ``(kind, detail, raw bytes)``: ``invalid_json``, or ``truncated_last_line`` for a line
    without its newline (a capture cut by a crash). A blank line is (None, None)."""
    if not line.strip():
        return None, None
    try:
        return jsonfast.loads(line), None
    except ValueError as exc:
        if line.endswith(b"\n"):
            return None, ("invalid_json", str(exc), line.rstrip(b"\n"))
        return None, ("truncated_last_line",
                      f"file ends mid-record after {len(line)} bytes (capture was cut, e.g. by a crash)", line)


def read_capture(path: str | os.PathLike[str]) -> tuple[Record, list[Record], list[ReadProblem]]:
    """Read a whole capture: (header, records without the header, problems)."""
    reader = CaptureReader(path)
    records = list(reader)
    return reader.header, records, reader.problems
