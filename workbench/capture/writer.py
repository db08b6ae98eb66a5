"""Append capture records to a ``.ocpp.jsonl`` file, one flushed line per record.

The writer is the only place capture bytes are produced: the mitmproxy addon, the synthetic
generator, importers and the replayer all go through it, so every file has the same header and
the same guarantees (a crash loses at most the line being written).
"""

from __future__ import annotations

import base64
import gzip
import json
import os
from pathlib import Path
from typing import IO, Any

import orjson

from ..errors import CaptureWriteError
from .records import FILE_SUFFIX, Direction, ProxyAction, RecordType

Record = dict[str, Any]


def encode_record(record: Record) -> bytes:
    """One record as its capture line: compact UTF-8 JSON (no ASCII escaping), ending in ``\n``."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


_FRAME_START = b'{"type":"' + RecordType.FRAME.value.encode() + b'","ts":"'
_TEXT = b'"text":'
_BINARY = b'"binary":true,"data_b64":"'
_END = b"}\n"
_ACTION_END = {action.value: f',"proxy_action":"{action.value}"}}\n'.encode() for action in ProxyAction}
_orjson_dumps = orjson.dumps
_b64encode = base64.b64encode


class FrameEncoder:
    """Capture lines of one connection's frames, built from pieces cached per connection.

    ``line(...)`` returns exactly the bytes of ``encode_record(records.frame(...))`` for the same
    arguments (a test pins this), at a fraction of the cost: no record dict, no enum lookups, one
    ``orjson.dumps`` of the text (its string escaping is byte-identical to ``json.dumps`` with
    ``ensure_ascii=False``). For the proxy's per-frame path; everything else uses
    :meth:`CaptureWriter.write`.
    """

    __slots__ = ("_after_ts", "connection_id")

    def __init__(self, connection_id: str) -> None:
        self.connection_id = connection_id
        head = b'","connection_id":' + _orjson_dumps(connection_id) + b',"direction":"'
        # Indexed by "sent by the charger" (mitmproxy's from_client): False, True.
        self._after_ts = (head + Direction.CSMS_TO_CHARGER.value.encode() + b'",',
                          head + Direction.CHARGER_TO_CSMS.value.encode() + b'",')

    def line(self, ts: str, from_charger: bool, content: bytes, is_text: bool = True,
             proxy_action: str | None = None) -> bytes:
        """The capture line of one frame: ``ts`` as from :func:`records.format_ts`, ``content`` the
        message bytes. Text that is not valid UTF-8 is recorded as binary, as :func:`records.frame` does."""
        body = None
        if is_text:
            try:
                body = _TEXT + _orjson_dumps(content.decode("utf-8"))
            except UnicodeDecodeError:
                pass
        if body is None:
            body = _BINARY + _b64encode(content) + b'"'
        end = _END if proxy_action is None else _ACTION_END[proxy_action]
        return b"".join((_FRAME_START, ts.encode(), self._after_ts[from_charger], body, end))


def rotated_path(path: Path, index: int) -> Path:
    """``site.ocpp.jsonl`` -> ``site.0001.ocpp.jsonl`` for the index-th rotation."""
    name = path.name
    stem = name[: -len(FILE_SUFFIX)] if name.endswith(FILE_SUFFIX) else path.stem
    suffix = FILE_SUFFIX if name.endswith(FILE_SUFFIX) else path.suffix
    return path.with_name(f"{stem}.{index:04d}{suffix}")


class CaptureWriter:
    """Writes records to ``path`` (gzip when it ends in ``.gz``), flushing each one.

    ``rotate_bytes``: start a new file (``name.0001.ocpp.jsonl``, ...) once the current one passes
    this size. Each rotated file starts with the header and the open records of connections still
    live, so every file reads on its own. ``fsync``: also fsync each record (slower; off by default
    because a flushed line survives a process crash, which is what the proxy guards against).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        header: Record,
        *,
        rotate_bytes: int | None = None,
        fsync: bool = False,
    ) -> None:
        if header.get("type") != RecordType.HEADER.value:
            raise ValueError("the first record of a capture must be its header")
        self.path = Path(path)
        self.header = header
        self.rotate_bytes = rotate_bytes
        self.fsync = fsync
        self.paths: list[Path] = []
        self.records_written = 0
        self._live_opens: dict[str, Record] = {}
        self._file: IO[bytes] | None = None
        self._fd: int | None = None  # set for a plain file: each line is one unbuffered write(2)
        self._bytes_in_file = 0
        self._open(self.path)

    def _open(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # gzip.open owns its file; a GzipFile(fileobj=...) would leave the raw file open.
            if path.suffix == ".gz":
                self._file = gzip.open(path, "wb")
                self._fd = None
            else:
                # Unbuffered: a line reaches the OS in one write(2), with no copy into a buffer and
                # no separate flush call; what a flushed buffered write guaranteed, for less CPU.
                self._file = open(path, "wb", buffering=0)
                self._fd = self._file.fileno()
        except OSError as exc:
            raise CaptureWriteError(f"cannot open capture file {path}: {exc}") from exc
        self.paths.append(path)
        self._bytes_in_file = 0
        try:
            self._write_bytes(encode_record(self.header))
            for record in self._live_opens.values():
                self._write_bytes(encode_record(record))
        except CaptureWriteError:
            # No caller holds the writer yet (a full disk at the header): close the file here.
            file, self._file, self._fd = self._file, None, None
            try:
                file.close()
            except OSError:
                pass  # the write error raised below already says what went wrong
            raise

    def _write_bytes(self, line: bytes) -> None:
        """Hand one whole line to the OS (a gzip file: compress and sync-flush it)."""
        try:
            if self._fd is not None:
                written = os.write(self._fd, line)
                while written < len(line):  # a short write (disk nearly full, a signal): finish or raise
                    more = os.write(self._fd, memoryview(line)[written:])
                    if more == 0:
                        raise OSError(f"wrote {written} of {len(line)} bytes")
                    written += more
            else:
                assert self._file is not None
                self._file.write(line)
                self._file.flush()
            if self.fsync:
                assert self._file is not None
                os.fsync(self._file.fileno())
        except (OSError, ValueError) as exc:
            raise CaptureWriteError(f"cannot write to capture file {self.paths[-1]}: {exc}") from exc
        self._bytes_in_file += len(line)

    def write(self, record: Record) -> None:
        """Append one record (a dict from :mod:`workbench.capture.records`) and flush it."""
        if self._file is None:
            raise CaptureWriteError(f"capture file {self.path} is closed")
        kind = record.get("type")
        if kind == RecordType.CONNECTION_OPEN.value:
            self._live_opens[record["connection_id"]] = record
        elif kind == RecordType.CONNECTION_CLOSE.value:
            self._live_opens.pop(record["connection_id"], None)
        self._write_bytes(encode_record(record))
        self.records_written += 1
        if self.rotate_bytes and self._bytes_in_file >= self.rotate_bytes:
            self._rotate()

    def write_frame_line(self, line: bytes) -> None:
        """Append one frame record already encoded by :class:`FrameEncoder` and flush it.

        Only frame lines: opens and closes go through :meth:`write`, which keeps the open records
        a rotated file starts with."""
        if self._file is None:
            raise CaptureWriteError(f"capture file {self.path} is closed")
        self._write_bytes(line)
        self.records_written += 1
        if self.rotate_bytes and self._bytes_in_file >= self.rotate_bytes:
            self._rotate()

    def _rotate(self) -> None:
        self._close_file()
        self._open(rotated_path(self.path, len(self.paths)))

    @property
    def live_connection_ids(self) -> list[str]:
        """Connections opened and not yet closed, in open order."""
        return list(self._live_opens)

    def _close_file(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:
                raise CaptureWriteError(f"cannot close capture file {self.paths[-1]}: {exc}") from exc
            finally:
                self._file = None
                self._fd = None

    def close(self) -> None:
        self._close_file()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
