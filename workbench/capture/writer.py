"""Append capture records to a ``.ocpp.jsonl`` file, one flushed line per record.

The writer is the only place capture bytes are produced: the mitmproxy addon, the synthetic
generator, importers and the replayer all go through it, so every file has the same header and
the same guarantees (a crash loses at most the line being written).
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import IO, Any

from ..errors import CaptureWriteError
from .records import FILE_SUFFIX, RecordType

Record = dict[str, Any]


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
        self._bytes_in_file = 0
        self._open(self.path)

    def _open(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # gzip.open owns its file; a GzipFile(fileobj=...) would leave the raw file open.
            self._file = gzip.open(path, "wb") if path.suffix == ".gz" else open(path, "wb")
        except OSError as exc:
            raise CaptureWriteError(f"cannot open capture file {path}: {exc}") from exc
        self.paths.append(path)
        self._bytes_in_file = 0
        self._write_line(self.header)
        for record in self._live_opens.values():
            self._write_line(record)

    def _write_line(self, record: Record) -> None:
        assert self._file is not None
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        try:
            self._file.write(line)
            self._file.flush()
            if self.fsync:
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
        self._write_line(record)
        self.records_written += 1
        if self.rotate_bytes and self._bytes_in_file >= self.rotate_bytes:
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
            self._file = None

    def close(self) -> None:
        self._close_file()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
