"""Find OCPP-J frames inside arbitrary text: where one starts, where it ends, what is wrong with it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ...jsonfast import std_loads
from ...ocppj import MessageKind, ParsedFrame, parse_frame, parse_message

# An OCPP-J message: a JSON array whose first element is 2, 3 or 4 and whose second is a string.
FRAME_START = re.compile(r'\[\s*[234]\s*,\s*"')
# The same inside a JSON string literal (quotes escaped), e.g. a JSON log line's "msg" field.
ESCAPED_FRAME_START = re.compile(r'\[\s*[234]\s*,\s*\\+"')
# Loggers that shorten long messages: "...", "…", "[truncated]", "(+123 chars)", "<...>".
ABBREVIATION = re.compile(r"(\.\.\.|…|\[truncated\]|\(\+?\d+ (?:more )?(?:chars|bytes|characters)\)|<\.\.\.>)\s*$")


@dataclass(slots=True)
class Balance:
    """Bracket depth of a JSON value read so far, across chunks (strings and escapes respected)."""

    depth: int = 0
    in_string: bool = False
    escaped: bool = False

    def feed(self, chunk: str) -> int | None:
        """Consume ``chunk``; return the index just past the value's end, or None if it goes on."""
        for index, char in enumerate(chunk):
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif char == "\\":
                    self.escaped = True
                elif char == '"':
                    self.in_string = False
            elif char == '"':
                self.in_string = True
            elif char in "[{":
                self.depth += 1
            elif char in "]}":
                self.depth -= 1
                if self.depth <= 0:
                    return index + 1
        return None


_DECODER = json.JSONDecoder()


def decode_prefix(text: str) -> tuple[object, int] | None:
    """The JSON value at the start of ``text`` and the index past it (C speed), or None.

    The fast path for the usual case of a whole frame on one line; the caller falls back to
    :class:`Balance` for frames that are cut, pretty-printed over lines, or not valid JSON.
    """
    try:
        return _DECODER.raw_decode(text)
    except (ValueError, RecursionError):  # nested too deep: the slow path makes it a frame with its error
        return None


def check_frame(text: str, *, complete: bool = True, decoded: object = None,
                has_decoded: bool = False) -> tuple[str | None, ParsedFrame | None]:
    """(why ``text`` is not a whole OCPP-J frame or None, its parse when it is JSON).

    ``complete`` False means the brackets never closed before the source moved on. ``decoded``
    (with ``has_decoded``) is the already decoded JSON value, to avoid decoding twice.
    """
    if not complete:
        stripped = text.rstrip()
        reason = "abbreviated preview" if ABBREVIATION.search(stripped) and not _is_json(stripped) else "truncated frame"
        return reason, None
    parsed = parse_message(decoded) if has_decoded else parse_frame(text)
    if parsed.kind is not MessageKind.INVALID:
        return None, parsed
    if parsed.parse_error and parsed.parse_error.startswith("invalid JSON"):
        stripped = text.rstrip()
        if ABBREVIATION.search(stripped):
            return "abbreviated preview", None
        return "invalid JSON", None
    return f"not an OCPP-J frame: {parsed.parse_error}", parsed


def _is_json(text: str) -> bool:
    try:
        std_loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def unescape_string_at(text: str, quote_index: int) -> tuple[str, int] | None:
    """Decode the JSON string literal starting at ``text[quote_index] == '"'``.

    Returns (decoded text, index past the closing quote), or None when it is not a whole literal.
    """
    try:
        value, end = json.JSONDecoder().raw_decode(text, quote_index)
    except ValueError:
        return None
    return (value, end) if isinstance(value, str) else None


def slice_values(text: str, start: int = 0) -> list[tuple[int, int]] | None:
    """(start, end) offsets of each element of the JSON array at ``text[start]``, exact as written.

    None when the text is not a JSON array; elements after a damaged one are not returned.
    """
    decoder = json.JSONDecoder()
    index = _skip_ws(text, start)
    if index >= len(text) or text[index] != "[":
        return None
    index = _skip_ws(text, index + 1)
    spans: list[tuple[int, int]] = []
    if index < len(text) and text[index] == "]":
        return spans
    while index < len(text):
        try:
            _, end = decoder.raw_decode(text, index)
        except (ValueError, RecursionError):  # an element nested too deep is damaged like invalid JSON
            return spans
        spans.append((index, end))
        index = _skip_ws(text, end)
        if index < len(text) and text[index] == ",":
            index = _skip_ws(text, index + 1)
            continue
        break
    return spans


def _skip_ws(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index
