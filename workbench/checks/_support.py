"""Small helpers shared by the status, energy, timing and transaction checks (helper C2's modules)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")
_MEMO: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Any]] = weakref.WeakKeyDictionary()

MAX_PROOF_FRAMES = 20
"""A finding cites at most this many frames; the message says how many there were."""


def clean(value: Any) -> Any:
    """None for pandas' missing markers (NA, NaT, NaN), the value otherwise."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def payload_connector(payload: Any) -> int | None:
    """The integer ``connectorId`` of a payload, or None."""
    value = payload.get("connectorId") if isinstance(payload, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_int(value: Any) -> int | None:
    value = clean(value)
    return None if value is None else int(value)


def seqs(*values: Any) -> tuple[int, ...]:
    """Frame seqs for a finding: missing ones dropped, duplicates removed, in order, at most MAX_PROOF_FRAMES."""
    out: list[int] = []
    for value in values:
        items = value if isinstance(value, (list, tuple, np.ndarray)) else [value]
        for item in items:
            item = clean(item)
            if item is not None and int(item) not in out:
                out.append(int(item))
    return tuple(out[:MAX_PROOF_FRAMES])


def fmt_wh(value: float) -> str:
    return f"{value:,.1f} Wh"


def cp_key(series: pd.Series) -> np.ndarray:
    """Charge point ids as a join/group key: an object array, missing ids as "" (no string-dtype
    round trips: those dominate the cost on millions of rows)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        categories = np.append(series.cat.categories.to_numpy(dtype=object), "")
        return categories[series.cat.codes.to_numpy()]  # code -1 (missing) picks the trailing ""
    return series.to_numpy(dtype=object, na_value="")


def cp_or_none(key: Any) -> str | None:
    return None if key in ("", None) else str(key)


def memo(cap: Any, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """``compute()`` once per capture and key: several checks share one intermediate table (the key
    must name every input that matters, e.g. thresholds). Captures that cannot be weakly referenced
    are simply not cached."""
    try:
        store = _MEMO.setdefault(cap, {})
    except TypeError:
        return compute()
    if key not in store:
        store[key] = compute()
    return store[key]
