"""Structured sources: NDJSON of bare frames, a JSON array of frames, JSON objects like
``{timestamp, direction, message}`` (one per line or in an array), the Open OCPP Trace JSONL
format, and ``{metadata, events: [...]}`` traces.

Frame text is always taken as written: a ``message`` string is the frame (JSON-unescaped); a
``message`` that is itself an array is sliced out of the file's text, so spacing is kept.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from . import timestamps
from ... import jsonfast
from . import open_ocpp_trace
from .direction import VIEWPOINT_KEYS, resolve_viewpoint, said_from_word, viewpoint_from
from .found import FoundFrame, ReaderOutput, Said, split_lines
from .jsonscan import FRAME_START, check_frame, slice_values

TIME_KEYS = ("timestamp", "time", "ts", "@timestamp", "datetime", "date", "receivedAt", "sentAt")
MESSAGE_KEYS = ("message", "msg", "frame", "data", "payload", "ocpp", "raw", "text")
DIRECTION_KEYS = ("direction", "dir", "origin", "source", "from", "sender", "type")
# stationId: what OCPP 2.0.1 tools call the charge point id (@ocpp-debugkit's trace metadata).
CP_KEYS = ("chargePointId", "charge_point_id", "chargeBoxId", "chargeBoxIdentity", "cp", "cpId",
           "cp_id", "stationId", "station_id", "chargingStationId", "station", "identity")
VERSION_KEYS = ("ocppVersion", "ocpp_version", "protocol", "subprotocol", "protocolVersion")
CONNECTION_KEYS = ("connectionId", "connection_id", "sessionId", "session_id", "session")

def said_from(value: object) -> Said | None:
    """A direction field's value -> what it says; None when it names no direction (every vocabulary
    of :mod:`.direction`)."""
    if not isinstance(value, str):
        return None
    return said_from_word(value)


class _Lines:
    """Offset -> 1-based line number for one text. Offsets asked in increasing order (the usual
    case) cost only the newlines between them, counted at C speed; no table of every line start."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.offset = 0
        self.line = 1

    def line_of(self, offset: int) -> int:
        if offset < self.offset:
            self.offset, self.line = 0, 1
        self.line += self.text.count("\n", self.offset, offset)
        self.offset = offset
        return self.line


def _first(record: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in keys:
        if key in record and record[key] is not None:
            return key, record[key]
    return None, None


@dataclass(frozen=True, slots=True)
class _Shape:
    """Which of the known keys a record has, in preference order: looked up once per set of keys
    (the records of one file almost always share one), not once per record."""

    message: tuple[str, ...]
    direction: tuple[str, ...]
    time: tuple[str, ...]
    cp: tuple[str, ...]
    connection: tuple[str, ...]
    viewpoint: tuple[str, ...]
    version: tuple[str, ...]
    trace_record: bool


_SHAPES: dict[tuple[str, ...], _Shape] = {}
_fast_loads = jsonfast.loads
_iso_with_zone = timestamps.iso_with_zone


def _shape_of(record: dict[str, Any]) -> _Shape:
    keys = tuple(record)
    shape = _SHAPES.get(keys)
    if shape is None:
        present = set(keys)

        def having(names: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(name for name in names if name in present)

        shape = _Shape(having(MESSAGE_KEYS), having(DIRECTION_KEYS), having(TIME_KEYS), having(CP_KEYS),
                       having(CONNECTION_KEYS), having(VIEWPOINT_KEYS), having(VERSION_KEYS),
                       open_ocpp_trace.is_trace_record(record))
        if len(_SHAPES) < 1024:  # files of ever-changing keys do not grow the cache without bound
            _SHAPES[keys] = shape
    return shape


def _first_of(record: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in keys:
        value = record[key]
        if value is not None:
            return key, value
    return None, None


_DECODER = json.JSONDecoder()


def _message_text(record: dict[str, Any], raw: str | None, keys: tuple[str, ...]) -> tuple[str | None, Any, bool]:
    """(frame text, its decoded value, whether that value is given) of a record (``keys``: its
    message keys present, in preference order): a string as is; an array as written in ``raw``
    when we have it (decoded there once more, exactly, so integers beyond 64 bits stay integers)."""
    key, value = _first_of(record, keys)
    if isinstance(value, str):
        return value, None, False
    if isinstance(value, list):
        if raw is not None:
            match = re.search(r'"' + re.escape(key) + r'"\s*:\s*', raw)
            if match:
                try:
                    exact, end = _DECODER.raw_decode(raw, match.end())
                except (ValueError, RecursionError):
                    exact, end = None, None
                if end is not None:
                    return raw[match.end(): end], exact, True
        return json.dumps(value, ensure_ascii=False), value, True
    return None, None, False


def object_frame(record: dict[str, Any], raw: str | None, line_no: int, tz: dt.tzinfo,
                 out: ReaderOutput, defaults: dict[str, Any] | None = None,
                 spans: dict[str, tuple[int, int]] | None = None, source: str | None = None) -> None:
    """Turn one ``{timestamp, direction, message, ...}`` object (or an Open OCPP Trace v1.1 record)
    into a found frame or a report row. ``spans`` (with ``source``): where each value of the
    record stands in ``source``, so an array message is taken as written without decoding again."""
    defaults = defaults or {}
    shape = _shape_of(record)
    binary = None
    decoded: Any = None
    has_decoded = False
    if shape.trace_record:
        text, binary_b64 = record.get("rawFrame"), record.get("rawFrameBase64")
        if not isinstance(text, str) and not isinstance(binary_b64, str):
            decoded = open_ocpp_trace.message_of(record)
            if decoded is None:
                out.skip(line_no, f"not a frame: unknown messageType {record.get('messageType')!r}", _shown(record, raw))
                return
            text, has_decoded = open_ocpp_trace.compact(decoded), True
    else:
        key = _first_of(record, shape.message)[0] if spans is not None else None
        if key is not None and isinstance(record[key], list):
            start, end = spans[key]
            text, decoded, has_decoded = source[start:end], record[key], True  # type: ignore[index]
        else:
            text, decoded, has_decoded = _message_text(record, raw, shape.message)
        binary_b64 = record.get("message_b64")
    if text is None and isinstance(binary_b64, str):  # a binary message, as our exports write it
        try:
            binary = base64.b64decode(binary_b64, validate=True)
        except (binascii.Error, ValueError):
            out.skip(line_no, "invalid base64 in binary message", _shown(record, raw))
            return
        text = ""
    said = None
    for key in shape.direction:
        value = record[key]
        said = said_from_word(value) if isinstance(value, str) else None
        if said:
            break
    if said is Said.SENT or said is Said.RECEIVED:
        _, stated = _first_of(record, shape.viewpoint)
        said = resolve_viewpoint(said, viewpoint_from(stated) or defaults.get("viewpoint"))
    # A message with a direction is a WebSocket message even when it is no OCPP-J frame: it is kept
    # as a damaged frame. Without a direction, only frame-like text counts (the rest is log chatter).
    if binary is None and (text is None or (said is None and not FRAME_START.match(text.lstrip()))):
        out.skip(line_no, "not a frame", _shown(record, raw))
        return
    if shape.version:
        _, version = _first_of(record, shape.version)
        version = open_ocpp_trace.stated_version(version)
        if version is not None:  # a "protocol" field naming something else says nothing
            out.stated_versions[version] += 1
    # The usual record has one key of each kind: read it directly (this runs once per frame).
    when_value = record[shape.time[0]] if len(shape.time) == 1 else _first_of(record, shape.time)[1]
    if when_value is None:
        when = None
    else:
        when = (_iso_with_zone(when_value) if type(when_value) is str else None) or timestamps.parse_time(when_value, tz)
    cp = record[shape.cp[0]] if len(shape.cp) == 1 else _first_of(record, shape.cp)[1]
    connection = record[shape.connection[0]] if len(shape.connection) == 1 else _first_of(record, shape.connection)[1]
    if type(cp) is not str:
        cp = defaults.get("charge_point_id")
    if connection is not None and type(connection) is not str:
        connection = str(connection)
    frame = FoundFrame(
        line_no=line_no, text=text, log_time=when.when if when else None,
        zone_given=when.zone_given if when else True, said=said, charge_point_id=cp,
        connection_key=connection, dialect="json-object",
    )
    if when is not None and _is_capture_time(when_value):
        frame.ts_text = when_value
    if binary is not None:
        frame.text, frame.binary, frame.problem = "", binary, "binary frame"
    else:
        frame.problem, frame.parsed = _checked(text, decoded, has_decoded)
    out.frames.append(frame)


def _is_capture_time(value: object) -> bool:
    """True for a time written exactly as a capture writes it (``2024-05-01T10:00:00.123456Z``)."""
    return (isinstance(value, str) and len(value) == 27 and value[26] == "Z" and value[19] == "."
            and value[10] == "T" and value[0] != "0")  # years before 1000 are written otherwise


def _shown(record: dict[str, Any], raw: str | None) -> str:
    return raw if raw is not None else json.dumps(record, ensure_ascii=False)


def _checked(text: str, decoded: Any, has_decoded: bool) -> tuple[str | None, Any]:
    """:func:`check_frame` with the frame decoded once by the fast decoder (the usual, whole frame)."""
    if not has_decoded:
        try:
            decoded, has_decoded = _fast_loads(text), True
        except ValueError:
            return check_frame(text)  # says why it is damaged
        except RecursionError:
            return "invalid JSON: nested too deeply", None
    return check_frame(text, decoded=decoded, has_decoded=True)


def _stated_defaults(meta: dict[str, Any], defaults: dict[str, Any], out: ReaderOutput) -> None:
    """What a trace's metadata states for all its frames: charge point, viewpoint, OCPP version."""
    _, cp = _first(meta, CP_KEYS)
    if isinstance(cp, str):
        defaults["charge_point_id"] = cp
    viewpoint = viewpoint_from(next((meta[k] for k in VIEWPOINT_KEYS if k in meta), None))
    if viewpoint:
        defaults["viewpoint"] = viewpoint
    version = open_ocpp_trace.stated_version(next((meta[k] for k in VERSION_KEYS if k in meta), None))
    if version is not None:
        out.stated_versions[version] += 1


def _array_frame(text: str, line_no: int, out: ReaderOutput, *, complete: bool = True,
                 decoded: Any = None, has_decoded: bool = False) -> None:
    frame = FoundFrame(line_no=line_no, text=text, dialect="bare")
    frame.problem, frame.parsed = check_frame(text, complete=complete, decoded=decoded, has_decoded=has_decoded)
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
        naive += _json_line(line_no, line, line.strip(), tz, out, defaults, blank)
    _naive_note(out, naive, tz)
    _blank_note(out, blank)
    return out


def _json_line(line_no: int, line: str, stripped: str, tz: dt.tzinfo, out: ReaderOutput,
               defaults: dict[str, Any], blank: list[int]) -> int:
    """One line of :func:`read_json_lines` (``stripped``: the line without surrounding space);
    1 when it added a frame whose time has no zone, else 0."""
    if not stripped:
        blank.append(line_no)
        return 0
    try:
        value = jsonfast.loads(stripped)
    except (ValueError, RecursionError):
        if FRAME_START.match(stripped):
            _array_frame(stripped, line_no, out, complete=False)
        else:
            out.skip(line_no, "invalid JSON", line)
        return 0
    if isinstance(value, list):
        _array_frame(stripped, line_no, out, decoded=value, has_decoded=True)
    elif isinstance(value, dict) and (value.get("type") == "meta" or "metadata" in value):
        out.note(line_no, "trace metadata", line)
        _stated_defaults(value.get("metadata") if isinstance(value.get("metadata"), dict) else value,
                         defaults, out)
    elif isinstance(value, dict):
        return int(_object_frame_is_naive(value, stripped, line_no, tz, out, defaults))
    else:
        out.skip(line_no, "not a frame", line)
    return 0


BLANK_LINES_LISTED = 10


def _blank_note(out: ReaderOutput, blank: list[int]) -> None:
    """Blank lines in one note (counted, so every line read is accounted for; not a finding each)."""
    if blank:
        listed = ", ".join(str(n) for n in blank[:BLANK_LINES_LISTED]) + (", ..." if len(blank) > BLANK_LINES_LISTED else "")
        out.note(None, "blank lines", f"{len(blank)} blank line{'s' if len(blank) != 1 else ''}: {listed}")


def read_json_document(text: str, *, tz: dt.tzinfo, document: Any = None) -> ReaderOutput:
    """A whole-file JSON document: an array of frames or objects, or ``{metadata, events}``.
    ``document``: the text already decoded (by format detection), else None."""
    out = ReaderOutput()
    lines = _Lines(text)
    out.lines_read = text.count("\n") + (0 if text.endswith("\n") else 1)
    defaults: dict[str, Any] = {}
    found = document_items(text, document, out, defaults)
    if found is None:
        return out
    items, base = found
    items_text = text
    naive = 0
    scanned = _scan_objects(items_text, base, len(items))
    if scanned is not None:
        # Each item decoded once more by the standard library's C scanner, value by value: exact
        # integers, and where each value stands, so an array message is sliced as written.
        for (record, value_spans, start, end) in scanned:
            line_no = lines.line_of(start)
            naive += _object_frame_is_naive(record, items_text[start:end], line_no, tz, out, defaults,
                                            value_spans, items_text)
        _naive_note(out, naive, tz)
        return out
    spans = slice_values(items_text, base) or []
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


def document_items(text: str, document: Any, out: ReaderOutput, defaults: dict[str, Any]) -> tuple[list[Any], int] | None:
    """(the items of a whole-file document, the offset of their array in ``text``), the metadata's
    statements into ``defaults``; None (and a report row) when the document holds no items."""
    if document is None:
        try:
            document = jsonfast.loads(text)
        except (ValueError, RecursionError) as exc:
            out.skip(1, f"invalid JSON: {exc}", text)
            return None
    if isinstance(document, dict):
        metadata = document.get("metadata") or document.get("meta") or {}
        if isinstance(metadata, dict):
            _stated_defaults(metadata, defaults, out)
        events_key = next((k for k in ("events", "messages", "frames", "entries") if isinstance(document.get(k), list)), None)
        if events_key is None:
            out.skip(1, "not a frame: JSON object without an events list", text)
            return None
        match = re.search(r'"' + events_key + r'"\s*:\s*(?=\[)', text)
        return document[events_key], (match.end() if match else 0)
    if isinstance(document, list):
        return document, len(text) - len(text.lstrip())
    out.skip(1, "not a frame", text)
    return None


_WHITESPACE = re.compile(r"[ \t\n\r]*")
_SCAN_ONCE = json.JSONDecoder().scan_once  # the C scanner: one JSON value at an index -> (value, end)


# A key and its colon, with the space around them (a key with a control character does not match:
# the standard library's decoder refuses it too); and what may follow a value inside an object.
_KEY = re.compile(r'[ \t\n\r]*"((?:[^"\\\x00-\x1f]|\\.)*)"[ \t\n\r]*:[ \t\n\r]*')
_AFTER_VALUE = re.compile(r"[ \t\n\r]*([,}])")


def _scan_objects(text: str, start: int, count: int) -> list[tuple[dict[str, Any], dict[str, tuple[int, int]], int, int]] | None:
    """The ``count`` objects of the JSON array at ``text[start]``, each as (object, key -> span of
    its value, start, end); None when the array holds anything else (then the general path reads it).
    Per key two regular expressions and one call of the C scanner (this runs once per value)."""
    skip = _WHITESPACE.match
    key_at, after_value, scan = _KEY.match, _AFTER_VALUE.match, _SCAN_ONCE
    index = skip(text, start).end()
    if not text.startswith("[", index):
        return None
    index = skip(text, index + 1).end()
    found = []
    try:
        while len(found) < count:
            if not text.startswith("{", index):
                return None
            item_start = index
            record: dict[str, Any] = {}
            spans: dict[str, tuple[int, int]] = {}
            index = skip(text, index + 1).end()
            if text.startswith("}", index):
                index += 1
            else:
                while True:
                    match = key_at(text, index)
                    if match is None:
                        return None
                    key = match.group(1)
                    if "\\" in key:
                        key = json.loads(f'"{key}"')
                    index = match.end()
                    value, end = scan(text, index)
                    record[key], spans[key] = value, (index, end)
                    match = after_value(text, end)
                    if match is None:
                        return None
                    index = match.end()
                    if match.group(1) == "}":
                        break
            found.append((record, spans, item_start, index))
            index = skip(text, index).end()
            if text.startswith(",", index):
                index = skip(text, index + 1).end()
    except (StopIteration, ValueError, RecursionError):
        return None
    return found


def _object_frame_is_naive(record: dict[str, Any], raw: str | None, line_no: int, tz: dt.tzinfo,
                           out: ReaderOutput, defaults: dict[str, Any],
                           spans: dict[str, tuple[int, int]] | None = None, source: str | None = None) -> bool:
    """:func:`object_frame`, and whether the frame it added had a time without a zone (counted for one note)."""
    before = len(out.frames)
    object_frame(record, raw, line_no, tz, out, defaults, spans, source)
    return len(out.frames) > before and not out.frames[-1].zone_given


def _naive_note(out: ReaderOutput, count: int, tz: dt.tzinfo) -> None:
    if count:
        first = next(f.line_no for f in out.frames if not f.zone_given)
        out.note(first, f"{count} timestamps without a time zone; read as {tz}")
