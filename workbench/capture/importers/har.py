"""HAR files (browser devtools exports) with Chrome's ``_webSocketMessages``.

Each HAR entry with WebSocket messages is one connection; frames of all entries are put in time
order (stable), as a capture interleaves them. A browser is always the WebSocket
client, which in OCPP is the charger (a charger simulator in a browser), so ``send`` is
charger_to_csms. ``time`` is Unix seconds (float); opcode 1 is text, 2 binary (base64).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from urllib.parse import urlsplit

from ...jsonfast import std_loads
from ..identity import derive_charge_point_id
from . import timestamps
from .found import ConnectionFacts, FoundFrame, ReaderOutput, Said
from .jsonscan import check_frame
from .structured import _Lines


def server_url_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a WebSocket (or its HTTP upgrade) URL, as ws/wss; None if it names no host."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme.lower(), parts.scheme.lower())
    host = parts.netloc.rsplit("@", 1)[-1]  # never credentials
    return f"{scheme}://{host}" if scheme in ("ws", "wss") and host else None


def read_har(text: str, *, tz: dt.tzinfo) -> ReaderOutput:
    out = ReaderOutput()
    out.lines_read = text.count("\n") + (0 if text.endswith("\n") else 1)
    lines = _Lines(text)
    try:
        har = std_loads(text)
        entries = har["log"]["entries"]
    except (ValueError, KeyError, TypeError) as exc:
        out.skip(1, f"not a HAR file: {exc}", text[:2000])
        return out
    if not isinstance(entries, list):
        out.skip(1, "not a HAR file: log.entries is not a list", text[:2000])
        return out
    out.dialects.add("har")
    search_from, locate = 0, True
    for number, entry in enumerate(entries):
        messages = entry.get("_webSocketMessages") if isinstance(entry, dict) else None
        if not isinstance(messages, list):
            continue
        request = entry.get("request") or {}
        url = request.get("url") if isinstance(request, dict) else None
        path = urlsplit(url).path if isinstance(url, str) else None
        if out.server_url is None and isinstance(url, str):
            out.server_url = server_url_of(url)
        key = f"har-{number}"
        facts = ConnectionFacts(url_path=path)
        opened = timestamps.parse_time(entry.get("startedDateTime"), tz)
        facts.opened = opened.when if opened else None
        facts.client_address = None
        headers = {h.get("name", "").lower(): h.get("value") for h in (entry.get("response") or {}).get("headers", [])
                   if isinstance(h, dict)}
        facts.subprotocol = headers.get("sec-websocket-protocol")
        out.connections[key] = facts
        cp, cp_source = derive_charge_point_id(path)
        for message in messages:
            if not isinstance(message, dict):
                out.skip(None, "not a frame", json.dumps(message))
                continue
            data = message.get("data")
            # Line numbers: find the message's data in the text, scanning forward (HAR is pretty-printed).
            # Once a message is not found as written (other escaping), stop looking: no rescans.
            line_no = None
            if locate and isinstance(data, str):
                at = text.find(json.dumps(data, ensure_ascii=False)[1:-1], search_from)
                if at < 0:
                    at = text.find(json.dumps(data)[1:-1], search_from)
                if at >= 0:
                    search_from, line_no = at, lines.line_of(at)
                else:
                    locate = False
            kind = message.get("type")
            # The browser is the WebSocket client, which in OCPP is always the charger.
            said = Said.CHARGER_TO_CSMS if kind == "send" else Said.CSMS_TO_CHARGER if kind == "receive" else None
            when = timestamps.parse_time(message.get("time"), tz)
            if not isinstance(data, str):
                out.skip(line_no, "not a frame: message without data", json.dumps(message))
                continue
            frame = FoundFrame(line_no=line_no, text=data, log_time=when.when if when else None,
                               said=said, charge_point_id=cp, connection_key=key, dialect="har",
                               charge_point_id_source=cp_source if cp else None)
            if message.get("opcode") == 2:
                try:
                    frame.binary = base64.b64decode(data, validate=True)
                except (binascii.Error, ValueError):
                    frame.binary = data.encode("utf-8")
                frame.problem = "binary frame"
            else:
                frame.problem, frame.parsed = check_frame(data)
            out.frames.append(frame)
    # HAR groups messages by connection; a capture interleaves connections in time order.
    out.frames.sort(key=lambda f: (f.log_time is None, f.log_time or dt.datetime.min.replace(tzinfo=dt.timezone.utc)))
    return out
