"""One JSON decoder for the hot paths: orjson where it can, the standard library where it cannot.

orjson decodes capture lines about 4x faster than ``json.loads`` and caches dict keys, which
also saves memory on millions of small payload dicts. It is stricter than the standard library
(it refuses NaN/Infinity and lone surrogate escapes, which some chargers do send), so anything it
refuses is decoded again with ``json.loads``: the result is what ``json.loads`` would give, with one
documented exception: an integer outside the 64-bit range becomes a float (orjson's choice; finding
it would cost more than the decode). No OCPP 1.6 field can hold such a number, the frame's ``raw``
text keeps it exactly, and the schema check reports the field as not an integer.

Both decoders also hold one limit: a value nested deeper than :data:`MAX_DEPTH` arrays and objects is
refused with :class:`TooDeep` (a ``ValueError``). A charger can send a frame a thousand levels deep;
without the limit ``json.loads`` raises RecursionError, and every recursive reader of a decoded
payload (schema validation, redaction, JSON export) would crash further on.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

MAX_DEPTH = 100
"""Deepest nesting of arrays and objects decoded (an OCPP 1.6 frame needs about 8)."""

_orjson_loads = orjson.loads
_json_loads = json.loads


class TooDeep(ValueError):
    """A JSON text nested deeper than :data:`MAX_DEPTH`."""

    def __init__(self) -> None:
        super().__init__(f"JSON nested deeper than {MAX_DEPTH} levels")


def loads(data: str | bytes) -> Any:
    """Decode one JSON text; raises ``ValueError`` exactly when ``json.loads`` would (see the module
    docstring for integers beyond 64 bits), and :class:`TooDeep` beyond :data:`MAX_DEPTH`."""
    try:
        value = _orjson_loads(data)
    except orjson.JSONDecodeError:
        return std_loads(data)
    if len(data) > 2 * MAX_DEPTH and too_deep(data, value):
        raise TooDeep()
    return value


def std_loads(data: str | bytes) -> Any:
    """``json.loads`` (its exact semantics), with :class:`TooDeep` instead of RecursionError and beyond
    :data:`MAX_DEPTH`."""
    try:
        value = _json_loads(data)
    except RecursionError:
        raise TooDeep() from None
    if len(data) > 2 * MAX_DEPTH and too_deep(data, value):
        raise TooDeep()
    return value


def too_deep(data: str | bytes, value: Any) -> bool:
    """True when ``value`` (decoded from ``data``) nests deeper than :data:`MAX_DEPTH`.

    Costs two C-speed counts for nearly every text: nesting deeper than the limit needs more opening
    brackets than the limit; only then is the decoded value walked (without recursion)."""
    if isinstance(data, str):
        if data.count("[") + data.count("{") <= MAX_DEPTH:
            return False
    elif data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return False
    return depth(value) > MAX_DEPTH


def depth(value: Any) -> int:
    """Nesting depth of a decoded JSON value: 0 for a scalar, 1 for a flat array or object."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        if level > deepest:
            deepest = level
            if deepest > MAX_DEPTH:
                return deepest  # deep enough to refuse: no need to walk a huge value to the end
        stack.extend((child, level + 1) for child in item if isinstance(child, (dict, list)))
    return deepest
