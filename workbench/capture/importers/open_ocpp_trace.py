"""The published Open OCPP Trace v1.1 shape, both ways: one JSON object per line with
``schemaVersion``, ``timestamp``, ``ocppVersion``, ``chargePointId``, ``direction``
(``cp-to-csms`` / ``csms-to-cp``), ``messageType``, ``messageId``, ``action`` and ``payload``.

How the OCPP-J envelope maps to it (our reading of the shape, the same for writing and reading):

- ``messageType``: ``"CALL"``, ``"CALLRESULT"``, ``"CALLERROR"`` (read also as 2/3/4 and any case);
- ``action``: the CALL's action; for a reply the action of the request it answers, when known;
- ``payload``: the CALL/CALLRESULT payload; for a CALLERROR its ``errorDetails``, with
  ``errorCode`` and ``errorDescription`` as fields of the record (read also inside ``payload``).

Workbench extensions, which readers of the published shape may ignore: ``connectionId``;
``rawFrame``, the frame text exactly as on the wire, written only when it differs from the compact
JSON the fields give (pretty-printed frames, number spellings, frames that are not OCPP-J);
``rawFrameBase64`` for binary messages.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from ...jsonfast import std_loads

SCHEMA_VERSION = "1.1"
TYPE_NAMES = {2: "CALL", 3: "CALLRESULT", 4: "CALLERROR"}
TYPE_NUMBERS = {"call": 2, "callresult": 3, "callerror": 4, "2": 2, "3": 3, "4": 4,
                "request": 2, "result": 3, "response": 3, "error": 4}
_orjson_dumps = orjson.dumps
_NUMBER_OF: dict[str, int] = {}  # messageType as written -> 2, 3 or 4
LONG_INTEGER = re.compile(r"\d{20}")
DIRECTIONS = {"charger_to_csms": "cp-to-csms", "csms_to_charger": "csms-to-cp"}


def is_trace_record(value: dict[str, Any]) -> bool:
    """True for a v1.1 record (a ``messageType`` with a ``messageId`` or a ``schemaVersion``)."""
    return "messageType" in value and ("messageId" in value or "schemaVersion" in value)


def compact(message: list[Any]) -> str:
    """The compact JSON text of an OCPP-J message (what a record without ``rawFrame`` stands for).

    orjson where it gives what ``json.dumps(separators=(",", ":"), ensure_ascii=False)`` would up to
    float spelling (the writer compares with this same function, so both ends agree); the standard
    library where orjson cannot (integers beyond 64 bits, lone surrogates) or may not be exact
    (it writes NaN and Infinity as null: any "null" is checked by the standard library)."""
    try:
        text = _orjson_dumps(message).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        text = None
    if text is None or "null" in text:
        text = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
    return text


def message_of(record: dict[str, Any]) -> list[Any] | None:
    """The OCPP-J message (as a JSON value) a v1.1 record describes; None if its type is unknown."""
    kind = record.get("messageType")
    number = _NUMBER_OF.get(kind) if type(kind) is str else None  # the usual spellings, once each
    if number is None:
        number = TYPE_NUMBERS.get(str(kind).replace("_", "").replace(" ", "").lower()) if kind is not None else None
        if number is not None and type(kind) is str and len(_NUMBER_OF) < 64:
            _NUMBER_OF[kind] = number
    if number is None:
        return None
    unique_id = record.get("messageId")
    payload = record.get("payload")
    if number == 2:
        return [2, unique_id, record.get("action"), {} if payload is None else payload]
    if number == 3:
        return [3, unique_id, {} if payload is None else payload]
    inner = payload if isinstance(payload, dict) else {}
    code = record.get("errorCode", inner.get("errorCode", "GenericError"))
    description = record.get("errorDescription", inner.get("errorDescription", ""))
    details = record.get("errorDetails", inner.get("errorDetails") if "errorCode" in inner else payload)
    return [4, unique_id, code, description, {} if details is None else details]


def record_of(*, text: str | None, data_b64: str | None, timestamp: str, charge_point_id: str | None,
              direction: str, connection_id: str | None, ocpp_version: str,
              request_action: str | None) -> dict[str, Any]:
    """One v1.1 record for a frame. ``direction``: ``charger_to_csms``/``csms_to_charger``;
    ``request_action``: for a reply, the action of the request it answers (None if unknown)."""
    record: dict[str, Any] = {
        "schemaVersion": SCHEMA_VERSION, "timestamp": timestamp, "ocppVersion": ocpp_version,
        "chargePointId": charge_point_id, "direction": DIRECTIONS[direction],
        "messageType": None, "messageId": None, "action": None, "payload": None,
    }
    if connection_id is not None:
        record["connectionId"] = connection_id
    if text is None:
        record["rawFrameBase64"] = data_b64
        return record
    try:
        message = std_loads(text)
    except (ValueError, RecursionError):
        message = None
    if not _is_envelope(message):
        record["rawFrame"] = text
        return record
    number = message[0]
    record["messageType"], record["messageId"] = TYPE_NAMES[number], message[1]
    if number == 2:
        record["action"], record["payload"] = message[2], message[3]
    elif number == 3:
        record["action"], record["payload"] = request_action, message[2]
    else:
        record["action"] = request_action
        record["errorCode"], record["errorDescription"], record["payload"] = message[2], message[3], message[4]
    rebuilt = message_of(record)
    # Integers beyond 64 bits are read back as floats by the fast decoder, and NaN/Infinity are no
    # JSON a strict writer keeps: such frames are also kept as text.
    if (rebuilt is None or compact(rebuilt) != text or LONG_INTEGER.search(text)
            or "NaN" in text or "Infinity" in text):
        record["rawFrame"] = text
    return record


def _is_envelope(message: object) -> bool:
    """A list the record fields can say back exactly: type 2/3/4 with its element count."""
    if not isinstance(message, list) or not message or isinstance(message[0], bool):
        return False
    sizes = {2: 4, 3: 3, 4: 5}
    return message[0] in sizes and type(message[0]) is int and len(message) == sizes[message[0]]


def stated_version(value: object) -> str | None:
    """``"1.6"`` / ``"2.0.1"`` / ``"2.1"`` from an ``ocppVersion`` or subprotocol (``"ocpp2.0.1"``, ``"OCPP 1.6J"``)."""
    if not isinstance(value, str):
        return None
    text = value.lower().replace("ocpp", "").replace(" ", "").replace("v", "").rstrip("j")
    if text.startswith("2.0") or text in ("20", "201"):
        return "2.0.1"
    if text.startswith("2.1") or text == "21":
        return "2.1"
    if text.startswith("1.6") or text == "16":
        return "1.6"
    return None
