"""One JSON decoder for the hot paths: orjson where it can, the standard library where it cannot.

orjson decodes capture lines about 4x faster than ``json.loads`` and caches dict keys, which
also saves memory on millions of small payload dicts. It is stricter than the standard library
(it refuses NaN/Infinity and lone surrogate escapes, which some chargers do send), so anything it
refuses is decoded again with ``json.loads``: the result is what ``json.loads`` would give, with one
documented exception: an integer outside the 64-bit range becomes a float (orjson's choice; finding
it would cost more than the decode). No OCPP 1.6 field can hold such a number, the frame's ``raw``
text keeps it exactly, and the schema check reports the field as not an integer.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_orjson_loads = orjson.loads
_json_loads = json.loads


def loads(data: str | bytes) -> Any:
    """Decode one JSON text; raises ``ValueError`` exactly when ``json.loads`` would (see the module
    docstring for integers beyond 64 bits)."""
    try:
        return _orjson_loads(data)
    except orjson.JSONDecodeError:
        return _json_loads(data)
