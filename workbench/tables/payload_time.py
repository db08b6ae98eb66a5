"""Payload timestamps (OCPP ``dateTime`` fields) -> UTC, in one vectorised pass.

OCPP 1.6 §7 says dateTime values are UTC-offset ISO 8601; chargers also send local time without an
offset, short ``+03`` offsets and non-strings. A value without an offset is read as UTC and flagged
``naive``; one that cannot be read becomes NaT with a problem text, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

TS_DTYPE = "datetime64[us, UTC]"

# A time of day followed by "Z" or a numeric offset (+02:00, +0200, +02).
_OFFSET_AT_END = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$")


def parse_payload_times(values: Sequence[Any]) -> tuple[pd.Series, np.ndarray, list[str | None]]:
    """Parse dateTime values. Returns (UTC timestamps as a ``datetime64[us, UTC]`` Series, with NaT
    where unreadable; ``naive`` bool array: read but without a UTC offset; problem text per value,
    None when fine). A missing value (None) is NaT with no problem: callers decide the fallback."""
    texts = [value if isinstance(value, str) else None for value in values]
    # cache=False: pandas caches unique strings when a sample of them repeats, and at a few million
    # values that guess costs more than parsing each one (measured 0.8 s at 2M frames)
    parsed = pd.to_datetime(pd.Series(texts, dtype=object), utc=True, format="ISO8601", errors="coerce",
                            cache=False)
    parsed = parsed.astype(TS_DTYPE)
    unreadable = parsed.isna().to_numpy()
    naive = np.zeros(len(texts), dtype=bool)
    problems: list[str | None] = [None] * len(texts)
    for i, text in enumerate(texts):
        if text is None:
            value = values[i]
            if value is not None:
                problems[i] = f"timestamp is not a string: {value!r:.40}"
        elif unreadable[i]:
            problems[i] = f"unreadable timestamp {text!r:.40}"
        elif text[-1] not in "Zz" and _OFFSET_AT_END.search(text) is None:
            naive[i] = True
    return parsed, naive, problems
