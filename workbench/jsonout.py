"""Strict JSON for everything the workbench writes for machines (analyze --format json, export, table cells).

Python's ``json`` writes NaN and infinities as bare ``NaN`` / ``Infinity`` tokens, which strict parsers
(JavaScript's ``JSON.parse``, jq, RFC 8259) reject. Here a missing or non-finite number is ``null``:
float NaN/inf, numpy floats, ``pd.NA`` and ``pd.NaT`` alike; numpy scalars become plain numbers,
tuples lists, and anything else JSON cannot hold (timestamps, paths) its ``str``. The output is then
checked by ``json.dumps(allow_nan=False)``, so a bare token can never slip through.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd


def strict(value: Any) -> Any:
    """``value`` with every NaN / inf / NA / NaT replaced by None (recursively through dicts, lists, tuples)."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        return {key if isinstance(key, str) else str(key): strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(item) for item in value]
    if isinstance(value, np.ndarray):
        return [strict(item) for item in value.tolist()]
    if isinstance(value, np.generic):
        return strict(value.item())
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return str(value)
    return value  # left to the caller's ``default`` (str by default)


def dumps(value: Any, *, indent: int | None = None, separators: tuple[str, str] | None = None,
          ensure_ascii: bool = False) -> str:
    """``json.dumps`` of :func:`strict` ``(value)``: never a bare NaN / Infinity; unknown types as their str."""
    return json.dumps(strict(value), indent=indent, separators=separators, ensure_ascii=ensure_ascii,
                      allow_nan=False, default=_fallback)


def _fallback(value: Any) -> Any:
    # Types json does not know: a strict() form when there is one (a numpy scalar nested in an object), else str.
    converted = strict(value)
    return converted if converted is not value else str(value)
