"""Structured sources: NDJSON of bare frames, a JSON array of frames, JSON objects like
``{timestamp, direction, message}`` (one per line or in an array), the Open OCPP Trace JSONL
format, and ``{metadata, events: [...]}`` traces.

Frame text is always taken as written: a ``message`` string is the frame (JSON-unescaped); a
``message`` that is itself an array is sliced out of the file's text, so spacing is kept.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import datetime as dt
import json
import re
from typing import Any

from . import timestamps
from .found import FoundFrame, ReaderOutput, Said, split_lines
from .jsonscan import FRAME_START, check_frame, slice_values

TIME_KEYS = ("timestamp", "time", "ts", "@timestamp", "datetime", "date", "receivedAt", "sentAt")
MESSAGE_KEYS = ("message", "msg", "frame", "data", "payload", "ocpp", "raw", "text")
DIRECTION_KEYS = ("direction", "dir", "origin", "source", "from", "sender", "type")
CP_KEYS = ("chargePointId", "charge_point_id", "chargeBoxId", "chargeBoxIdentity", "cp", "cpId",
           "cp_id", "stationId", "station", "identity")
CONNECTION_KEYS = ("connectionId", "connection_id", "sessionId", "session_id", "session")

DIRECTION_WORDS: dict[str, Said] = {
    "charger_to_csms": Said.CHARGER_TO_CSMS, "csms_to_charger": Said.CSMS_TO_CHARGER,
    "cp->csms": Said.CHARGER_TO_CSMS, "csms->cp": Said.CSMS_TO_CHARGER, "cp->cs": Said.CHARGER_TO_CSMS,
    "cs->cp": Said.CSMS_TO_CHARGER, "chargepoint": Said.CHARGER_TO_CSMS, "chargingstation": Said.CHARGER_TO_CSMS,
    "charger": Said.CHARGER_TO_CSMS, "cp": Said.CHARGER_TO_CSMS, "client": Said.CHARGER_TO_CSMS,
    "centralsystem": Said.CSMS_TO_CHARGER, "csms": Said.CSMS_TO_CHARGER, "cs": Said.CSMS_TO_CHARGER,
    "server": Said.CSMS_TO_CHARGER, "up": Said.CHARGER_TO_CSMS, "upstream": Said.CHARGER_TO_CSMS,
    "down": Said.CSMS_TO_CHARGER, "downstream": Said.CSMS_TO_CHARGER,
    "out": Said.SENT, "outgoing": Said.SENT, "sent": Said.SENT, "send": Said.SENT, "tx": Said.SENT,
    "in": Said.RECEIVED, "incoming": Said.RECEIVED, "received": Said.RECEIVED, "receive": Said.RECEIVED,
    "recv": Said.RECEIVED, "rx": Said.RECEIVED,
}


def said_from(value: object) -> Said | None:
    """A direction field's value -> what it says; None when it names no direction."""
    if not isinstance(value, str):
        return None
    return DIRECTION_WORDS.get(re.sub(r"[\s_]+", "", value).lower().replace("→", "->")) or DIRECTION_WORDS.get(
        value.strip().lower())


class _Lines:
    """Offset -> 1-based line number for one text."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)


def _first(record: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in keys:
        if key in record and record[key] is not None:
            return key, record[key]
    return None, None


def _message_text(record: dict[str, Any], raw: str | None) -> str | None:
    """The frame text of a record: a string as is, an array sliced from ``raw`` when we have it."""
    key, value = _first(record, MESSAGE_KEYS)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if raw is not None:
            match = re.search(r'"' + re.escape(key) + r'"\s*:\s*', raw)
            if match:
                spans = slice_values("[" + raw[match.end():] + "]")
                if spans:
                    start, end = spans[0]
                    return raw[match.end() + start - 1: match.end() + end - 1]
        return json.dumps(value, ensure_ascii=False)
    return None


def object_frame(record: dict[str, Any], raw: str | None, line_no: int, tz: dt.tzinfo,
                 out: ReaderOutput, defaults: dict[str, Any] | None = None) -> None:
    """Turn one ``{timestamp, direction, message, ...}`` object into a found frame or a report row."""
    defaults = defaults or {}
    text = _message_text(record, raw)
    shown = raw if raw is not None else json.dumps(record, ensure_ascii=False)
    binary = None
    if text is None and isinstance(record.get("message_b64"), str):  # a binary message, as our export writes it
        try:
            binary = base64.b64decode(record["message_b64"], validate=True)
        except (binascii.Error, ValueError):
            out.skip(line_no, "invalid base64 in message_b64", shown)
            return
        text = ""
    said = None
    for key in DIRECTION_KEYS:
        said = said_from(record.get(key))
        if said:
            break
    # A message with a direction is a WebSocket message even when it is no OCPP-J frame: it is kept
    # as a damaged frame. Without a direction, only frame-like text counts (the rest is log chatter).
    if binary is None and (text is None or (said is None and not FRAME_START.match(text.lstrip()))):
        out.skip(line_no, "not a frame", shown)
        return
    _, when_value = _first(record, TIME_KEYS)
    when = timestamps.parse_time(when_value, tz) if when_value is not None else None
    _, cp = _first(record, CP_KEYS)
    _, connection = _first(record, CONNECTION_KEYS)
    cp = cp if isinstance(cp, str) else defaults.get("charge_point_id")
    frame = FoundFrame(
        line_no=line_no, text=text, log_time=when.when if when else None,
        zone_given=when.zone_given if when else True, said=said, charge_point_id=cp,
        connection_key=str(connection) if connection is not None else None, dialect="json-object",
    )
    if binary is not None:
        frame.text, frame.binary, frame.problem = "", binary, "binary frame"
    else:
        frame.problem, frame.parsed = check_frame(text)
    out.frames.append(frame)


def _array_frame(text: str, line_no: int, out: ReaderOutput, *, complete: bool = True) -> None:
    frame = FoundFrame(line_no=line_no, text=text, dialect="bare")
    frame.problem, frame.parsed = check_frame(text, complete=complete)
    out.frames.append(frame)


def read_json_lines(text: str, *, tz: dt.tzinfo) -> ReaderOutput:
    """NDJSON: one bare frame or one ``{timestamp, direction, message}`` object per line
    (also the Open OCPP Trace format, whose ``meta`` lines are reported as notes)."""
    out = ReaderOutput()
    naive = 0
    defaults: dict[str, Any] = {}
    lines = split_lines(text)
    out.lines_read = len(lines)
    blank: list[int] = []
    for line_no, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            blank.append(line_no)
            continue
        try:
            value = json.loads(stripped)
        except ValueError:
            if FRAME_START.match(stripped):
                _array_frame(stripped, line_no, out, complete=False)
            else:
                out.skip(line_no, "invalid JSON", line)
            continue
        if isinstance(value, list):
            _array_frame(stripped, line_no, out)
        elif isinstance(value, dict) and value.get("type") == "meta":
            out.note(line_no, "trace metadata", line)
            _, cp = _first(value, CP_KEYS)
            if isinstance(cp, str):
                defaults["charge_point_id"] = cp
        elif isinstance(value, dict):
            naive += _object_frame_is_naive(value, stripped, line_no, tz, out, defaults)
        else:
            out.skip(line_no, "not a frame", line)
    _naive_note(out, naive, tz)
    _blank_note(out, blank)
    return out


BLANK_LINES_LISTED = 10


def _blank_note(out: ReaderOutput, blank: list[int]) -> None:
    """Blank lines in one note (counted, so every line read is accounted for; not a finding each)."""
    if blank:
        listed = ", ".join(str(n) for n in blank[:BLANK_LINES_LISTED]) + (", ..." if len(blank) > BLANK_LINES_LISTED else "")
        out.note(None, "blank lines", f"{len(blank)} blank line{'s' if len(blank) != 1 else ''}: {listed}")


def read_json_document(text: str, *, tz: dt.tzinfo) -> ReaderOutput:
    """A whole-file JSON document: an array of frames or objects, or ``{metadata, events}``."""
    out = ReaderOutput()
    lines = _Lines(text)
    out.lines_read = text.count("\n") + (0 if text.endswith("\n") else 1)
    try:
        document = json.loads(text)
    except ValueError as exc:
        out.skip(1, f"invalid JSON: {exc}", text)
        return out
    defaults: dict[str, Any] = {}
    base = 0
    items_text = text
    if isinstance(document, dict):
        metadata = document.get("metadata") or document.get("meta") or {}
        if isinstance(metadata, dict):
            _, cp = _first(metadata, CP_KEYS)
            if isinstance(cp, str):
                defaults["charge_point_id"] = cp
        events_key = next((k for k in ("events", "messages", "frames", "entries") if isinstance(document.get(k), list)), None)
        if events_key is None:
            out.skip(1, "not a frame: JSON object without an events list", text)
            return out
        match = re.search(r'"' + events_key + r'"\s*:\s*(?=\[)', text)
        base = match.end() if match else 0
        items = document[events_key]
    elif isinstance(document, list):
        items = document
        base = len(text) - len(text.lstrip())
    else:
        out.skip(1, "not a frame", text)
        return out
    spans = slice_values(items_text, base) or []
    naive = 0
    for index, item in enumerate(items):
        raw = items_text[spans[index][0]: spans[index][1]] if index < len(spans) else None
        line_no = lines.line_of(spans[index][0]) if index < len(spans) else 1
        if isinstance(item, list):
            _array_frame(raw if raw is not None else json.dumps(item), line_no, out)
        elif isinstance(item, dict):
            naive += _object_frame_is_naive(item, raw, line_no, tz, out, defaults)
        else:
            out.skip(line_no, "not a frame", raw or json.dumps(item))
    _naive_note(out, naive, tz)
    return out


def _object_frame_is_naive(record: dict[str, Any], raw: str | None, line_no: int, tz: dt.tzinfo,
                           out: ReaderOutput, defaults: dict[str, Any]) -> bool:
    """:func:`object_frame`, and whether the frame it added had a time without a zone (counted for one note)."""
    before = len(out.frames)
    object_frame(record, raw, line_no, tz, out, defaults)
    return len(out.frames) > before and not out.frames[-1].zone_given


def _naive_note(out: ReaderOutput, count: int, tz: dt.tzinfo) -> None:
    if count:
        first = next(f.line_no for f in out.frames if not f.zone_given)
        out.note(first, f"{count} timestamps without a time zone; read as {tz}")
