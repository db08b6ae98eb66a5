"""What a format reader hands to the assembler: frames found in a file, and notes about lines.

Readers only find things; inference (direction, charge point, time order) and building capture
records happen once, in :mod:`.assemble`, for every format alike.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Said(StrEnum):
    """Direction as a log words it. ``sent``/``received`` are relative to whoever wrote the log;
    the assembler decides per file whether that was the charger or the CSMS."""

    CHARGER_TO_CSMS = "charger_to_csms"
    CSMS_TO_CHARGER = "csms_to_charger"
    SENT = "sent"
    RECEIVED = "received"


class LineStatus(StrEnum):
    """The ``status`` column of an import report."""

    RECOVERED = "recovered"  # a frame read whole
    DAMAGED = "damaged"      # a frame kept with its parse error (truncated, invalid JSON, abbreviated)
    SKIPPED = "skipped"      # a line that holds no frame
    NOTE = "note"            # something the reader had to assume (no zone, reversed order, ...)


@dataclass(slots=True)
class FoundFrame:
    """One frame found in a source file.

    ``text`` is the frame exactly as the file holds it (unescaped when it sat in a JSON string,
    line breaks kept when pretty-printed). ``log_time`` is the time the log line carries (UTC), not
    any time inside the payload. ``connection_key`` groups frames of one WebSocket when the source
    knows it (mitmproxy flow, HAR entry, SteVe session id).
    """

    line_no: int | None  # 1-based line (flow number for mitmproxy); None when the source cannot say
    text: str
    log_time: dt.datetime | None = None
    zone_given: bool = True
    said: Said | None = None
    charge_point_id: str | None = None
    connection_key: str | None = None
    problem: str | None = None  # why the frame is damaged, None when whole
    dialect: str | None = None
    binary: bytes | None = None  # binary WebSocket message bytes (mitmproxy, HAR opcode 2)
    proxy_action: str | None = None
    charge_point_id_source: str | None = None  # how charge_point_id was found (capture.identity.ID_SOURCES)
    parsed: Any = None  # the ParsedFrame when the reader already decoded the text (saves a second decode)
    # log_time as a capture writes it, when the source wrote it so already ("...T10:00:00.123456Z"):
    # saves formatting the time again, once per frame.
    ts_text: str | None = None


@dataclass(slots=True)
class ConnectionFacts:
    """What a structured source knows of a connection beyond its frames (mitmproxy, HAR)."""

    url_path: str | None = None
    client_address: str | None = None
    opened: dt.datetime | None = None
    closed: dt.datetime | None = None
    close_code: int | None = None
    close_reason: str = ""
    closed_by: str = "unknown"
    subprotocol: str | None = None
    auth_user: str | None = None
    auth_password_present: bool = False
    auth_scheme: str | None = None


@dataclass
class ReaderOutput:
    """Everything one reader found in one file."""

    frames: list[FoundFrame] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)  # report rows other than recovered frames
    lines_read: int = 0
    connections: dict[str, ConnectionFacts] = field(default_factory=dict)
    dialects: set[str] = field(default_factory=set)
    # "ws://host:port" / "wss://host" of the server the source names (HAR request URL, mitmproxy
    # flow), so an export can give the real scheme and host back; None when the source names none.
    server_url: str | None = None
    # OCPP versions the source states ("1.6", "2.0.1", ...: ocppVersion fields, subprotocols), counted.
    stated_versions: Counter[str] = field(default_factory=Counter)

    def skip(self, line_no: int | None, reason: str, text: str, status: LineStatus = LineStatus.SKIPPED) -> None:
        """Record a line that yields no frame (or a note), keeping its full text."""
        self.rows.append({"line_no": line_no, "status": status.value, "reason": reason, "text": text})

    def note(self, line_no: int | None, reason: str, text: str = "") -> None:
        self.skip(line_no, reason, text, LineStatus.NOTE)


def split_lines(text: str) -> list[str]:
    r"""Lines split on ``\n`` only (``\r\n`` too), not on the other characters ``str.splitlines``
    treats as breaks (``\x85``, ``\u2028`` ...), which may stand inside a frame's strings."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if "\r" not in text:
        return lines
    return [line[:-1] if line.endswith("\r") else line for line in lines]
