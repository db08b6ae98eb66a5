"""The OCPP-J envelope, modelled once: a frame's text -> CALL / CALLRESULT / CALLERROR or invalid.

Malformed input is data: :func:`parse_frame` never raises; it returns a :class:`ParsedFrame` whose
``parse_error`` says what is wrong, and keeps whatever parts it could read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from .jsonfast import TooDeep, std_loads


class MessageType(IntEnum):
    CALL = 2
    CALLRESULT = 3
    CALLERROR = 4


class MessageKind(StrEnum):
    """The ``message_type`` column: the three OCPP-J types, or ``invalid``."""

    CALL = "CALL"
    CALLRESULT = "CALLRESULT"
    CALLERROR = "CALLERROR"
    INVALID = "invalid"


# OCPP-J 1.6 Table 7, in the 1.6 spelling. The [JERR] "known issues that will not be fixed" keep
# FormationViolation and OccurenceConstraintViolation; peers also send the 2.0.1 / corrected forms,
# which we accept and map to the 1.6 name.
ERROR_CODES_16 = frozenset({
    "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
    "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
    "TypeConstraintViolation", "GenericError",
})
ERROR_CODE_ALIASES = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
}
MAX_UNIQUE_ID_LENGTH = 36


def canonical_error_code(code: str) -> str | None:
    """The 1.6 spelling of a CALLERROR code, accepting both spellings; None if unknown."""
    code = ERROR_CODE_ALIASES.get(code, code)
    return code if code in ERROR_CODES_16 else None


_CALL, _CALLRESULT, _CALLERROR = int(MessageType.CALL), int(MessageType.CALLRESULT), int(MessageType.CALLERROR)
# (plain ints: comparing with them is cheaper than with the enum members, the same result)


@dataclass(slots=True)  # not frozen: building one cost three times as much; treat it as read-only
class ParsedFrame:
    """What a frame says. ``payload`` is the CALL/CALLRESULT payload or the CALLERROR details."""

    kind: MessageKind
    unique_id: str | None = None
    action: str | None = None
    payload: Any = None
    error_code: str | None = None
    error_description: str | None = None
    parse_error: str | None = None


def parse_frame(text: str | bytes | None) -> ParsedFrame:
    """Parse one WebSocket message as OCPP-J (``json.loads`` semantics). Never raises: a frame nested
    deeper than :data:`workbench.jsonfast.MAX_DEPTH` is invalid, with that as its ``parse_error``."""
    if text is None:
        return ParsedFrame(MessageKind.INVALID, parse_error="binary frame (OCPP-J frames are text)")
    try:
        message = std_loads(text)
    except TooDeep as exc:
        return ParsedFrame(MessageKind.INVALID, parse_error=str(exc))
    except (ValueError, UnicodeDecodeError) as exc:
        return ParsedFrame(MessageKind.INVALID, parse_error=f"invalid JSON: {exc}")
    return parse_message(message)


def parse_message(message: Any) -> ParsedFrame:
    """Classify an already decoded JSON value as an OCPP-J message. Never raises."""
    if not isinstance(message, list) or not message:
        return ParsedFrame(MessageKind.INVALID, parse_error="not a JSON array")
    type_id = message[0]
    unique_id = message[1] if len(message) > 1 else None
    if not isinstance(unique_id, str):
        return ParsedFrame(
            MessageKind.INVALID,
            parse_error=f"message id must be a string, got {type(unique_id).__name__}",
        )
    if type_id == _CALL and type_id.__class__ is not bool:
        if len(message) != 4:
            return ParsedFrame(MessageKind.INVALID, unique_id,
                               parse_error=f"CALL must have 4 elements, has {len(message)}")
        action, payload = message[2], message[3]
        if not isinstance(action, str):
            return ParsedFrame(MessageKind.INVALID, unique_id, parse_error="CALL action is not a string")
        if not isinstance(payload, dict):
            return ParsedFrame(MessageKind.INVALID, unique_id, action, payload,
                               parse_error="CALL payload is not a JSON object")
        return ParsedFrame(MessageKind.CALL, unique_id, action, payload)
    if type_id == _CALLRESULT and type_id.__class__ is not bool:
        if len(message) != 3:
            return ParsedFrame(MessageKind.INVALID, unique_id,
                               parse_error=f"CALLRESULT must have 3 elements, has {len(message)}")
        payload = message[2]
        if not isinstance(payload, dict):
            return ParsedFrame(MessageKind.INVALID, unique_id, payload=payload,
                               parse_error="CALLRESULT payload is not a JSON object")
        return ParsedFrame(MessageKind.CALLRESULT, unique_id, payload=payload)
    if type_id == _CALLERROR and type_id.__class__ is not bool:
        if len(message) != 5:
            return ParsedFrame(MessageKind.INVALID, unique_id,
                               parse_error=f"CALLERROR must have 5 elements, has {len(message)}")
        code, description, details = message[2], message[3], message[4]
        if not isinstance(code, str) or not isinstance(description, str):
            return ParsedFrame(MessageKind.INVALID, unique_id,
                               parse_error="CALLERROR code and description must be strings")
        if not isinstance(details, dict):
            return ParsedFrame(MessageKind.INVALID, unique_id, payload=details, error_code=code,
                               error_description=description,
                               parse_error="CALLERROR details are not a JSON object")
        return ParsedFrame(MessageKind.CALLERROR, unique_id, payload=details,
                           error_code=code, error_description=description)
    return ParsedFrame(MessageKind.INVALID, unique_id, parse_error=f"unknown message type {type_id!r}")


_compact = json.JSONEncoder(separators=(",", ":")).encode
"""``json.dumps(value, separators=(",", ":"))``, without building an encoder per call (the replayer
encodes every request it sends)."""


def call(unique_id: str, action: str, payload: dict[str, Any]) -> str:
    """Encode a CALL as compact OCPP-J text."""
    return _compact([MessageType.CALL, unique_id, action, payload])


def call_result(unique_id: str, payload: dict[str, Any]) -> str:
    return _compact([MessageType.CALLRESULT, unique_id, payload])


def call_error(unique_id: str, code: str, description: str = "", details: dict[str, Any] | None = None) -> str:
    return _compact([MessageType.CALLERROR, unique_id, code, description, details or {}])
