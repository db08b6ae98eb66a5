"""Capture files: format v1 records, the writer, the streaming reader and its migrations."""

from .reader import CaptureReader, ReadProblem, read_capture
from .records import FORMAT_VERSION, ClosedBy, Direction, ProxyAction, RecordType
from .writer import CaptureWriter

__all__ = [
    "FORMAT_VERSION",
    "CaptureReader",
    "CaptureWriter",
    "ClosedBy",
    "Direction",
    "ProxyAction",
    "ReadProblem",
    "RecordType",
    "read_capture",
]
