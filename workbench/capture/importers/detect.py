"""Which format a file is in, from its first bytes and, for JSON, its shape."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from ... import jsonfast

FORMATS = ("mitmproxy", "har", "ndjson", "json-array", "json-objects", "open-ocpp-trace", "json-trace", "log")
std_loads = jsonfast.std_loads
_orjson_loads = orjson.loads
from .found import split_lines
from .open_ocpp_trace import is_trace_record
from .structured import DIRECTION_KEYS, said_from

SNIFF_LINES = 20


_NON_SPACE = re.compile(r"\S")
MITM_HEAD = re.compile(rb"^\d{1,10}:\d{1,5}:[A-Za-z_]+;")


def looks_like_mitmproxy(head: bytes) -> bool:
    """mitmproxy dumps are tnetstrings: ``<length>:`` then a dict whose first key is a
    tnetstring too (``9:websocket;``), which no log line starts with."""
    return bool(MITM_HEAD.match(head))


def detect_format(path: Path, text: str | None, head: bytes) -> str:
    """One of :data:`FORMATS`. ``text`` is the decoded file (None when it is not text)."""
    return detect_document(path, text, head)[0]


def detect_document(path: Path, text: str | None, head: bytes) -> tuple[str, Any]:
    """(:func:`detect_format`, the decoded JSON document for the whole-document formats, else None):
    the document is decoded once, here, not again by its reader."""
    if looks_like_mitmproxy(head):
        return "mitmproxy", None
    if text is None:
        return "log", None
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("{"):
        try:
            document = _whole_document(stripped)
        except ValueError:  # TooDeep is one too
            document = None
        if isinstance(document, dict):
            if isinstance(document.get("log"), dict) and "entries" in document["log"]:
                return "har", None
            if any(isinstance(document.get(k), list) for k in ("events", "messages", "frames", "entries")):
                return "json-trace", document
        return _sniff_lines(stripped), None
    if stripped.startswith("["):
        try:
            document = _whole_document(stripped)
        except ValueError:
            return _sniff_lines(stripped), None
        return ("json-array", document) if isinstance(document, list) else ("log", None)
    return "log", None


def _whole_document(text: str) -> Any:
    """``text`` decoded as one JSON document; ValueError when it is not one, as ``json.loads`` says.
    A first line that is a whole value followed by more (NDJSON) is refused after that line, not
    after decoding the whole file."""
    if first_line_is_whole(text):
        raise ValueError("Extra data: more than one JSON value")
    # orjson (it refuses nesting past 1,024) without jsonfast's depth walk, which would visit every
    # value of the file (6 us per frame of a JSON trace): nothing walks this document recursively;
    # its items are decoded again by their reader and each frame is held to the limit in the frames table.
    try:
        return _orjson_loads(text)
    except orjson.JSONDecodeError:
        return std_loads(text)  # json.loads semantics, TooDeep past the limit


def first_line_is_whole(text: str) -> bool:
    """True when ``text``'s first line is a whole JSON value and more follows (NDJSON, not one document)."""
    first_end = text.find("\n")
    if first_end > 0 and _NON_SPACE.search(text, first_end):
        try:
            std_loads(text[:first_end])
        except ValueError:
            return False  # the first line is not a whole value: the document goes on
        return True
    return False


def _sniff_lines(text: str) -> str:
    """NDJSON of frames, of frame objects, an Open OCPP Trace, or structured log lines."""
    kinds = []
    end = -1
    for _ in range(SNIFF_LINES):  # only the head is split: the file may have millions of lines
        end = text.find("\n", end + 1)
        if end < 0:
            break
    for line in split_lines(text if end < 0 else text[:end])[:SNIFF_LINES]:
        line = line.strip()
        if not line:
            continue
        try:
            value = std_loads(line)
        except ValueError:
            kinds.append("other")
            continue
        if isinstance(value, list):
            kinds.append("ndjson")
        elif isinstance(value, dict):
            if value.get("format") == "open-ocpp-trace" or is_trace_record(value):
                return "open-ocpp-trace"  # our legacy meta line, or a published v1.1 record
            message = next((value[k] for k in ("message", "msg", "frame", "data", "payload", "ocpp")
                            if k in value), None)
            directed = any(said_from(value.get(k)) for k in DIRECTION_KEYS)
            is_frame = isinstance(message, list) or (
                isinstance(message, str) and (directed or message.lstrip().startswith("[")))
            kinds.append("json-objects" if is_frame else "log")
        else:
            kinds.append("other")
    if not kinds:
        return "log"
    best = max(set(kinds), key=kinds.count)
    return "log" if best == "other" else best
