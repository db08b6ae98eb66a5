"""Stage 1 of a fleet analysis: read one input file once and sort its records by connection.

:func:`read_routed` reads a capture file (local path or fsspec URL, plain or gzip) line by line,
the way :class:`~workbench.capture.reader.CaptureReader` does (same problems for the same lines),
and returns a :class:`RoutedFile`: the frame records grouped by connection id, each with its place
among the file's frames (its ``seq`` once the frames of earlier files are counted), the connection
records, and every line that did not become a record as a :class:`~workbench.analysis.LoadProblem`.
Every line is decoded here once (orjson: about 0.6 us a line, 5 % of a serial load), which is what
says whether it is a record and so what ``seq`` every later frame gets; a frame line decoded without
trouble is then kept as its bytes, appended to one buffer per connection (:class:`FrameLines`,
lz4-compressed once the file is read: about a tenth of the capture on synthetic lines, cheap to hold,
spill and ship to another worker as a few large buffers) and decoded again by the bucket that
analyses it; anything else is kept decoded. Foreign logs (local files only) are imported here.

Which charge point -- and so which bucket -- a connection belongs to is known only when every file's
``connection_open`` records are in (a rotated file may hold frames of a connection opened in the file
before), so the routing to buckets is :meth:`RoutedFile.take`, run after all files are read.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from ..analysis import CAPTURE_SUFFIXES, CONNECTION_RECORD_TYPES, LoadProblem, _import_foreign, _route, capture_files
from ..analysis import _rotation_key as _path_rotation_key
from ..capture.compat import migrate
from ..capture.identity import connection_charge_point_id
from ..capture.reader import _check_header, _open_binary, decode_slow_line
from ..capture.records import FORMAT_VERSION
from ..errors import CaptureFormatError, WorkbenchError
from ..tables._columns import paused_gc

Record = dict[str, Any]
Item = bytes | bytearray | Record  # a frame as its line (decoded again where analysed) or as a record
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_url(path: Any) -> bool:
    """True for ``scheme://...`` inputs, read with fsspec."""
    return isinstance(path, str) and _URL.match(path) is not None


def fleet_inputs(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str | Path]:
    """Expand local paths and fsspec URLs (files or folders) into the files to read, in rotation order.

    Raises FileNotFoundError (one line) for a missing path or URL before any work starts."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    items = list(paths)
    files: list[str | Path] = []
    for item in items:
        if not is_url(item):
            files.extend(capture_files([item]))
            continue
        fs, root = _filesystem(str(item))
        if fs.isdir(root):
            names = [name for name in fs.ls(root, detail=False) if name.endswith(CAPTURE_SUFFIXES)
                     and fs.isfile(name)]
            files.extend(fs.unstrip_protocol(name) for name in sorted(names, key=_rotation_key))
        elif fs.exists(root):
            files.append(str(item))
        else:
            raise FileNotFoundError(f"no such capture file or directory: {item}")
    if not files:
        raise WorkbenchError(f"no capture files found in {', '.join(str(p) for p in items)}")
    return files


def _rotation_key(name: str) -> tuple[str, int]:
    return _path_rotation_key(Path(name.rsplit("/", 1)[-1]))  # the order capture_files gives local files


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:
        raise WorkbenchError(f"{url}: reading URLs needs fsspec: pip install 'ocpp-workbench[dask]'") from None
    fs, root = fsspec.core.url_to_fs(url)
    return fs, root


def _open(path: str | Path) -> IO[bytes]:
    """The file's bytes, gunzipped when they start with the gzip magic (as the capture reader does)."""
    if not is_url(path):
        return _open_binary(Path(path))
    import fsspec

    raw = fsspec.open(str(path), "rb").open()
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return _GzipOwning(raw)
    raw.seek(0)
    return raw


class _GzipOwning(gzip.GzipFile):
    """A GzipFile that closes the file object it reads (fsspec's) when it is closed."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__(fileobj=raw, mode="rb")
        self._raw = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


def _codec() -> Any:
    """lz4 (Arrow's; here about 1.7 GB/s compressing and 1.3 GB/s expanding a connection's lines,
    which shrink about 10x in a synthetic fleet), else zstd, else None (kept as they are)."""
    import pyarrow as pa

    for name in ("lz4", "zstd"):
        if pa.Codec.is_available(name):
            return pa.Codec(name)
    return None


CODEC = _codec()
"""The codec fleet data is compressed with while it waits or travels (None: kept as it is)."""
_PACK_MIN_BYTES = 512  # smaller buffers: compressing them gains too little


@dataclass
class FrameLines:
    """The frames of one connection in one file, in file order, compact to hold, spill and ship: each
    frame's place among the file's frames (``ordinals``, int64) and its line (``lines``: the lines one
    after the other, each ending in a newline); :meth:`pack` compresses both once the file is read.
    A frame that is no clean line (read by the slow path, migrated from an older format, imported from
    a foreign log) is kept decoded in ``odd`` instead, with its place in ``odd_ordinals``."""

    ordinals: array | bytes = field(default_factory=lambda: array("q"))
    lines: bytearray | bytes = field(default_factory=bytearray)
    odd_ordinals: list[int] = field(default_factory=list)
    odd: list[Record] = field(default_factory=list)
    count: int = 0  # frames in ``ordinals`` / ``lines``
    packed_size: int = -1  # the size of ``lines`` before :meth:`pack` compressed them; -1: not compressed

    def __len__(self) -> int:
        return self.count + len(self.odd)

    def __sizeof__(self) -> int:
        # What Dask counts (it spills by this size): the line bytes and ordinals, and a guess for odd records.
        return len(self.lines) + len(self.ordinals) * (1 if self.packed_size >= 0 else 8) + 1_000 * len(self.odd) + 200

    def pack(self) -> None:
        """Compress the lines and ordinals (they wait in memory, spill or travel to their bucket compressed)."""
        if CODEC is None or len(self.lines) < _PACK_MIN_BYTES or self.packed_size >= 0:
            return
        self.packed_size = len(self.lines)
        self.lines = CODEC.compress(self.lines, asbytes=True)
        self.ordinals = CODEC.compress(self.ordinals.tobytes(), asbytes=True)  # type: ignore[union-attr]

    def unpacked(self) -> tuple[np.ndarray, bytes | bytearray]:
        """(ordinals, lines) as :meth:`pack` found them."""
        if self.packed_size < 0:
            return np.frombuffer(self.ordinals, dtype=np.int64), self.lines
        return (np.frombuffer(CODEC.decompress(self.ordinals, decompressed_size=8 * self.count, asbytes=True),
                              dtype=np.int64),
                CODEC.decompress(self.lines, decompressed_size=self.packed_size, asbytes=True))


@dataclass
class Share:
    """One bucket's share of one file (:meth:`RoutedFile.take`): the frames of its connections and their
    connection records. One object, not a dict of lists: Dask then ships it as one pickle of a few large
    buffers instead of serialising every line on its own (50k lines: 1.7 s instead of 0.03 s)."""

    file: int
    pieces: list[FrameLines]
    records: list[Record]

    def __len__(self) -> int:
        return sum(len(piece) for piece in self.pieces)

    def __sizeof__(self) -> int:
        return sum(piece.__sizeof__() for piece in self.pieces) + 500 * len(self.records) + 200

    def frames(self) -> tuple[np.ndarray, list[Item]]:
        """Ordinals (ascending) and frames (line bytes without the newline, or a record) in file order."""
        parts: list[np.ndarray] = []
        items: list[Item] = []
        for piece in self.pieces:
            ordinals, lines = piece.unpacked()
            parts.append(ordinals)
            items.extend(lines.split(b"\n"))
            items.pop()  # after the last newline
            del lines
        for piece in self.pieces:
            if piece.odd:
                parts.append(np.asarray(piece.odd_ordinals, dtype=np.int64))
                items.extend(piece.odd)
        if len(parts) == 1:
            return parts[0], items
        if not parts:
            return np.zeros(0, dtype=np.int64), []
        ordinals = np.concatenate(parts)
        order = np.argsort(ordinals, kind="stable")
        return ordinals[order], [items[k] for k in order.tolist()]


@dataclass
class RoutedFile:
    """One input file read once: its frames by connection, its connection records, its problems.

    ``frames[connection_id]`` holds that connection's frames (:class:`FrameLines`). ``opens`` lists
    (connection_id, charge_point_id) of every ``connection_open`` / ``upgrade_rejected`` record in file
    order; ``bytes_read`` the bytes of the file.
    """

    index: int
    path: str
    header: Record
    frame_count: int = 0
    frames: dict[Any, FrameLines] = field(default_factory=dict)
    connection_records: list[Record] = field(default_factory=list)
    opens: list[tuple[Any, Any]] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)
    bytes_read: int = 0

    def __sizeof__(self) -> int:
        # What Dask counts as this result's memory (it spills results to disk by this size).
        return sum(piece.__sizeof__() for piece in self.frames.values()) + 500 * len(self.connection_records) + 1_000

    def summary(self) -> dict[str, Any]:
        """What the driver needs to plan the buckets (small: no frames)."""
        return {"index": self.index, "path": self.path, "header": self.header, "frame_count": self.frame_count,
                "opens": self.opens, "problems": self.problems, "bytes_read": self.bytes_read,
                "connections": {connection_id: len(piece) for connection_id, piece in self.frames.items()}}

    def take(self, connection_ids: Sequence[Any], opened: set[Any] | None = None) -> Share:
        """One bucket's share of this file: the frames of ``connection_ids`` and the connection records of
        those connections -- and, when ``opened`` (the connections opened anywhere in the input) is
        given, those of connections never opened. The frames are not copied."""
        wanted = set(connection_ids)
        pieces = [self.frames[c] for c in connection_ids if c in self.frames]
        records = [r for r in self.connection_records if r.get("connection_id") in wanted
                   or (opened is not None and _unowned(r, opened))]
        return Share(self.index, pieces, records)


def _unowned(record: Record, known: set[Any]) -> bool:
    connection_id = record.get("connection_id")
    return not isinstance(connection_id, str) or connection_id not in known


def read_routed(index: int, path: str | Path, charge_point_id: str | None = None, tz: str = "UTC") -> RoutedFile:
    """Read file ``index`` of the input once (see the module docstring)."""
    label = str(path)
    stream = _open(path)
    try:
        first = stream.readline()
    except (EOFError, OSError, zlib.error) as exc:
        stream.close()
        raise CaptureFormatError(f"{label}: cannot read: {exc}") from exc
    try:
        raw_header = _check_header(Path(label) if not is_url(path) else label, first)  # type: ignore[arg-type]
    except CaptureFormatError as exc:
        stream.close()
        if "not an ocpp-workbench capture" not in str(exc) or is_url(path):
            raise
        return _read_foreign(index, Path(path), exc, charge_point_id, tz)
    routed = RoutedFile(index, label, migrate(raw_header, raw_header["format_version"]))
    with stream, paused_gc():
        _read_lines(routed, stream, raw_header["format_version"], len(first))
    return routed


def _read_lines(routed: RoutedFile, stream: IO[bytes], version: int, header_bytes: int) -> None:
    migrating = version != FORMAT_VERSION
    loads = orjson.loads
    clean: dict[Any, tuple[bytearray, array]] = {}  # connection -> its clean frame lines and their ordinals
    read_problems: list[LoadProblem] = []  # after the routed ones, as a serial load lists them
    count = 0
    line_no = 1
    size = header_bytes
    try:
        for line in stream:  # the bulk of a capture: keep this loop lean
            line_no += 1
            size += len(line)
            try:
                record = loads(line)
            except orjson.JSONDecodeError:
                record = _slow_line(read_problems, routed.path, line, line_no)
                if record is None:
                    continue
            else:
                if record.__class__ is dict and record.get("type") == "frame" and not migrating:
                    connection_id = record.get("connection_id")
                    if connection_id.__class__ is not str:
                        connection_id = None
                    entry = clean.get(connection_id)
                    if entry is None:
                        entry = clean[connection_id] = (bytearray(), array("q"))
                    lines, ordinals = entry
                    lines += line
                    ordinals.append(count)
                    count += 1
                    continue
            if record.__class__ is not dict or "type" not in record:
                read_problems.append(LoadProblem(routed.path, line_no, "not_a_record",
                                                   "line is JSON but not a capture record",
                                                   line.rstrip(b"\n").decode("utf-8", "backslashreplace"),
                                                   "capture_read"))
                continue
            if migrating:
                record = migrate(record, version)
            count = _add(routed, record, count, routed.frames)
    except (EOFError, OSError, zlib.error) as exc:
        read_problems.append(LoadProblem(routed.path, line_no + 1, "compressed_stream_cut",
                                           f"compressed stream ends early: {exc}", "", "capture_read"))
    routed.problems.extend(read_problems)
    routed.frame_count = count
    routed.bytes_read = size
    for connection_id, (lines, ordinals) in clean.items():
        if lines[-1] != 0x0A:  # the file's last line, without its newline: the lines are split on it
            lines += b"\n"
        piece = routed.frames.get(connection_id)
        if piece is None:
            piece = routed.frames[connection_id] = FrameLines()
        piece.lines, piece.ordinals, piece.count = lines, ordinals, len(ordinals)
    for piece in routed.frames.values():
        piece.pack()


def _add(routed: RoutedFile, record: Record, count: int, frames: dict[Any, FrameLines]) -> int:
    """Route one record that is not a clean frame line (a frame is kept decoded); returns the file's
    frame count so far."""
    kind = record["type"]
    if kind == "frame":
        connection_id = record.get("connection_id")
        key = connection_id if isinstance(connection_id, str) else None
        slot = frames.get(key)
        if slot is None:
            slot = frames[key] = FrameLines()
        slot.odd_ordinals.append(count)
        slot.odd.append(record)
        return count + 1
    if kind in CONNECTION_RECORD_TYPES:
        routed.connection_records.append(record)
        if kind != "connection_close":
            routed.opens.append((record.get("connection_id"), connection_charge_point_id(record)))
        return count
    # Extra headers and unknown record types: problems, as a serial load reports them (no line number).
    _route(record, None, [], routed.problems, routed.path, None, "capture_read")  # type: ignore[arg-type]
    return count


def _slow_line(problems: list[LoadProblem], path: str, line: bytes, line_no: int) -> Any:
    """:func:`decode_slow_line` with its problem kept as a LoadProblem. A last line cut short is
    skipped (it is the last line anyway)."""
    record, problem = decode_slow_line(line)
    if problem is not None:
        kind, detail, raw = problem
        problems.append(LoadProblem(path, line_no, kind, detail, raw.decode("utf-8", "backslashreplace"),
                                    "capture_read"))
    return record


def _read_foreign(index: int, path: Path, cause: CaptureFormatError, charge_point_id: str | None,
                  tz: str) -> RoutedFile:
    header, records, problems = _import_foreign(path, cause, charge_point_id=charge_point_id, tz=tz,
                                                file_number=index + 1)
    routed = RoutedFile(index, str(path), header)
    count = 0
    for record in records:
        if not isinstance(record, dict) or record.get("type") not in ("frame", *CONNECTION_RECORD_TYPES):
            _route(record, None, [], routed.problems, str(path), None, "import")  # type: ignore[arg-type]
            continue
        count = _add(routed, record, count, routed.frames)
    routed.frame_count = count
    routed.problems.extend(problems)
    try:
        routed.bytes_read = path.stat().st_size
    except OSError:
        pass
    return routed
