"""Write a capture's frames in formats other tools read: NDJSON, Open OCPP Trace JSONL, HAR.

Each format keeps what the importer needs to give the same frames back (``import_file`` of an
export yields the same text, direction, time and charge point per frame):

- ``ndjson``: one ``{"timestamp", "chargePointId", "connectionId", "direction", "message"}`` per
  frame; ``message`` is the frame text (binary frames: ``message_b64``).
- ``open-ocpp-trace``: the published Open OCPP Trace v1.1, one JSON object per frame:
  ``schemaVersion``, ``timestamp``, ``ocppVersion``, ``chargePointId``, ``direction``
  (``cp-to-csms`` | ``csms-to-cp``), ``messageType``, ``messageId``, ``action``, ``payload``, and
  our extensions ``connectionId`` and ``rawFrame`` (only when the frame's text is not the compact
  JSON of those fields). The importer still reads our earlier ``{"type": "meta", ...}`` /
  ``{"type": "message", "origin", "message"}`` shape.
- ``har``: HAR 1.2, one entry per connection with Chrome's ``_webSocketMessages`` (``send`` =
  charger -> CSMS, since the charger is the WebSocket client; ``time`` in Unix seconds); the
  request URL has the capture's real scheme and host (:func:`connection_url`).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit
from typing import Any

from . import jsonout
from .capture.records import Direction, frame_bytes, parse_ts
from .ocppj import MessageKind, parse_frame

EXPORT_FORMATS = ("ndjson", "open-ocpp-trace", "har")
Record = dict[str, Any]


def _frames(records: list[Record]) -> Iterator[tuple[Record, Record]]:
    """(frame record, its connection_open record) in capture order."""
    opens: dict[str, Record] = {}
    for record in records:
        if record.get("type") == "connection_open":
            opens[record["connection_id"]] = record
        elif record.get("type") == "frame":
            yield record, opens.get(record.get("connection_id"), {})


def _message_fields(frame: Record) -> dict[str, Any]:
    if frame.get("binary"):
        return {"message_b64": frame["data_b64"]}
    return {"message": frame["text"]}


def _dumps(value: Any) -> str:
    return jsonout.dumps(value, separators=(",", ":"))  # strict JSON: a NaN read from a record is null


def to_ndjson(header: Record, records: list[Record]) -> str:
    lines = []
    for frame, opened in _frames(records):
        lines.append(_dumps({
            "timestamp": frame["ts"], "chargePointId": opened.get("charge_point_id"),
            "connectionId": frame["connection_id"], "direction": frame["direction"], **_message_fields(frame),
        }))
    return "".join(line + "\n" for line in lines)


def to_open_ocpp_trace(header: Record, records: list[Record]) -> str:
    """The published Open OCPP Trace v1.1: one record per frame, no meta line (see
    :mod:`workbench.capture.importers.open_ocpp_trace` for the mapping and our extensions)."""
    from .capture.importers.open_ocpp_trace import record_of, stated_version

    lines = []
    pending: dict[tuple[str, str], str] = {}  # (connection, message id) -> action of the open request
    for frame, opened in _frames(records):
        text = None if frame.get("binary") else frame["text"]
        parsed = parse_frame(text) if text is not None else None
        request_action = None
        if parsed is not None and parsed.unique_id is not None:
            key = (frame["connection_id"], parsed.unique_id)
            if parsed.kind is MessageKind.CALL:
                pending[key] = parsed.action or ""
            elif parsed.kind in (MessageKind.CALLRESULT, MessageKind.CALLERROR):
                request_action = pending.pop(key, None)
        version = stated_version(opened.get("subprotocol")) or header.get("ocpp_version") or "1.6"
        lines.append(_dumps(record_of(
            text=text, data_b64=frame.get("data_b64"), timestamp=frame["ts"],
            charge_point_id=opened.get("charge_point_id"), direction=frame["direction"],
            connection_id=frame["connection_id"], ocpp_version=version, request_action=request_action or None,
        )))
    return "".join(line + "\n" for line in lines)


def connection_url(header: Record, opened: Record) -> str:
    """The URL the charger opened, as far as the capture knows it: scheme ``wss`` when the charger
    leg had TLS (proxy captures), else the scheme of the header's ``upstream_url`` for imported and
    synthetic captures (``ws`` when none); host from the charger's SNI, else ``upstream_url``'s host,
    else ``unknown.invalid`` (a reserved name: the capture does not say); path as the charger sent it."""
    upstream = urlsplit(header.get("upstream_url") or "")
    proxied = not str(header.get("proxy_mode") or "").startswith(("import:", "synthetic"))
    tls = opened.get("charger_tls")
    if proxied and "charger_tls" in opened:
        scheme = "wss" if tls else "ws"
    else:
        scheme = {"http": "ws", "https": "wss"}.get(upstream.scheme, upstream.scheme) or "ws"
    sni = tls.get("sni") if isinstance(tls, dict) else None
    host = sni or upstream.netloc.rsplit("@", 1)[-1] or "unknown.invalid"
    path = opened.get("url_path") or f"/{opened.get('charge_point_id') or ''}"
    return f"{scheme}://{host}{path}"


def to_har(header: Record, records: list[Record]) -> str:
    entries: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.get("type") == "connection_open":
            entries[record["connection_id"]] = {
                "startedDateTime": record["ts"], "time": 0, "_resourceType": "websocket",
                "request": {"method": "GET", "url": connection_url(header, record), "httpVersion": "HTTP/1.1",
                            "headers": [], "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
                "response": {"status": 101, "statusText": "Switching Protocols", "httpVersion": "HTTP/1.1",
                             "headers": ([{"name": "Sec-WebSocket-Protocol", "value": record["subprotocol"]}]
                                         if record.get("subprotocol") else []),
                             "cookies": [], "content": {"size": 0, "mimeType": "x-unknown"}, "redirectURL": "",
                             "headersSize": -1, "bodySize": -1},
                "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0},
                "_webSocketMessages": [],
            }
        elif record.get("type") == "frame" and record.get("connection_id") in entries:
            binary = bool(record.get("binary"))
            entries[record["connection_id"]]["_webSocketMessages"].append({
                "type": "send" if record["direction"] == Direction.CHARGER_TO_CSMS else "receive",
                "time": parse_ts(record["ts"]).timestamp(),
                "opcode": 2 if binary else 1,
                "data": base64.b64encode(frame_bytes(record)).decode("ascii") if binary else record["text"],
            })
    har = {"log": {"version": "1.2", "creator": {"name": "ocpp-workbench", "version": header.get("tool_version", "")},
                   "pages": [], "entries": list(entries.values())}}
    return jsonout.dumps(har, indent=1) + "\n"


WRITERS = {"ndjson": to_ndjson, "open-ocpp-trace": to_open_ocpp_trace, "har": to_har}


def load_any(path: str | os.PathLike[str]) -> tuple[Record, list[Record]]:
    """(header, records) of a native capture, or of any file the importers read."""
    from .capture.importers import import_file
    from .capture.reader import read_capture
    from .errors import CaptureFormatError

    try:
        header, records, _ = read_capture(path)
    except CaptureFormatError as exc:
        if "not an ocpp-workbench capture" not in str(exc):
            raise
        result = import_file(path)
        header, records = result.header, result.records
    return header, records


def export_capture(in_path: str | os.PathLike[str], out_path: str | os.PathLike[str], fmt: str) -> int:
    """Write ``in_path``'s frames to ``out_path`` in ``fmt``; returns the number of frames written."""
    from .errors import WorkbenchError

    if fmt not in WRITERS:
        raise WorkbenchError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    header, records = load_any(in_path)
    if not any(r.get("type") == "frame" for r in records):
        from .errors import NoFramesError

        raise NoFramesError([str(in_path)])  # nothing to export: no empty file, no exit 0
    Path(out_path).write_text(WRITERS[fmt](header, records), encoding="utf-8")
    return sum(1 for r in records if r.get("type") == "frame")
