"""One JSON decoder for the hot paths: orjson where it can, the standard library where it cannot.

orjson decodes capture lines about 4x faster than ``json.loads`` and caches dict keys, which
also saves memory on millions of small payload dicts. It is stricter than the standard library
(it refuses NaN/Infinity and lone surrogate escapes, which some chargers do send), so anything it
refuses is decoded again with ``json.loads``: the result is always what ``json.loads`` would give.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_orjson_loads = orjson.loads
_json_loads = json.loads


def loads(data: str | bytes) -> Any:
    """Decode one JSON text; raises ``ValueError`` exactly when ``json.loads`` would."""
    try:
        return _orjson_loads(data)
    except orjson.JSONDecodeError:
        return _json_loads(data)
