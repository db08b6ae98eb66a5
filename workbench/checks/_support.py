"""Small helpers shared by the status, energy, timing and transaction checks (helper C2's modules)."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
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


def object_column(values: np.ndarray, index: pd.Index | None = None) -> pd.Series:
    """``values`` (e.g. from :func:`cp_key`) as a Series of dtype object. Given to a DataFrame as an array,
    pandas would turn them into a ``str`` column: an Arrow copy of every string, and a copy back for each
    join or group, the largest cost of several checks on millions of rows."""
    return pd.Series(values, index=index, dtype=object)


def first_of_each(keys: np.ndarray) -> np.ndarray:
    """Positions of the first occurrence of each distinct key, in key order, as
    ``np.unique(keys, return_index=True)[1]``. Keys taken in capture order are usually sorted already:
    then this is one linear pass instead of a sort."""
    if len(keys) and bool(np.all(keys[1:] >= keys[:-1])):
        return np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return np.unique(keys, return_index=True)[1]


def epoch_us(times: pd.Series) -> np.ndarray:
    """Microseconds since 1970 (int64; NaT is the int64 minimum) of a UTC timestamp column. A table column
    already holds exactly that: it is returned as is, not copied (read it, never write to it)."""
    values = times.array
    if isinstance(values, pd.arrays.DatetimeArray) and values.unit == "us":
        view = values.asi8.view()
        view.flags.writeable = False  # the table's own buffer
        return view
    return times.to_numpy(dtype="datetime64[us]").astype(np.int64)


def isin(series: pd.Series, values: Iterable[Any]) -> np.ndarray:
    """``series.isin(values)`` as a bool array, missing values False. A categorical column (most of
    meter_values) is tested on its few categories and picked by code: no per-row comparison of labels."""
    values = list(values)
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        hits = np.flatnonzero(series.cat.categories.isin(values))
        if len(hits) > 8:
            return np.append(series.cat.categories.isin(values), False)[codes]  # code -1 (missing): False
        out = np.zeros(len(codes), dtype=bool)
        for code in hits:  # comparing small codes: no index array of 8 bytes per row, unlike a lookup table
            out |= codes == code
        return out
    if len(values) == 1:  # one comparison is quicker than a set lookup per row
        return (series == values[0]).to_numpy(dtype=bool, na_value=False)
    return series.isin(values).to_numpy(dtype=bool, na_value=False)


def sort_codes(values: pd.Series | np.ndarray) -> np.ndarray:
    """Non-negative integer codes of a column that sort as ``sort_values`` sorts it (a categorical by its
    categories, missing values last), not necessarily consecutive: a cheap key for np.lexsort and for
    telling groups apart."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        return np.where(codes < 0, len(values.cat.categories), codes).astype(np.int64)
    if isinstance(values, np.ndarray) and values.dtype.kind == "i" and len(values):
        low, high = int(values.min()), int(values.max())
        if high - low < 2 * len(values):  # a narrow range (connectors, codes): the values, shifted to 0
            return values.astype(np.int64) - low
    codes, uniques = pd.factorize(values, sort=True)
    return np.where(codes < 0, len(uniques), codes)


def group_codes(*codes: np.ndarray) -> np.ndarray:
    """One int64 code per row for tuples of non-negative integer codes (e.g. from :func:`sort_codes`): equal
    tuples get equal codes, and codes sort as the tuples do. One key instead of several for np.lexsort,
    merge_asof and comparisons with the row before."""
    out = np.zeros(len(codes[0]), dtype=np.int64)
    for part in codes:
        size = int(part.max()) + 1 if len(part) else 1
        if int(out.max(initial=0)) + 1 > np.iinfo(np.int64).max // size:  # too many: number the tuples instead
            return np.unique(np.column_stack(codes), axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)
        out = out * size + part
    return out


def joint_codes(left: list[np.ndarray], right: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One int64 code per row of two tables for a tuple of key columns (e.g. charge point and connector),
    equal on both sides for equal tuples: one integer key is what merge_asof joins and np.isin looks up
    fastest (rather than a Python tuple per row)."""
    both = group_codes(*(sort_codes(np.concatenate([mine, theirs])) for mine, theirs in zip(left, right)))
    return both[:len(left[0])], both[len(left[0]):]


def cp_codes(*columns: pd.Series) -> tuple[np.ndarray, list[np.ndarray]]:
    """Charge point keys (see :func:`cp_key`) of one or more tables as int64 codes into one sorted array of
    keys: equal keys get equal codes in every table, and codes sort as the keys do. Integers join, group
    and sort many times faster than strings; a categorical column is coded from its few categories."""
    labels, local = [], []
    for column in columns:
        if isinstance(column.dtype, pd.CategoricalDtype):
            names, codes = column.cat.categories.to_numpy(dtype=object), column.cat.codes.to_numpy()
        else:
            codes, uniques = pd.factorize(column)
            names = np.asarray(uniques, dtype=object)
        labels.append(np.append(names, ""))  # code -1 (missing) picks the trailing ""
        local.append(codes)
    keys, position = np.unique(np.concatenate(labels), return_inverse=True)
    ends = np.cumsum([len(names) for names in labels])
    return keys, [position[end - len(names):end][codes].astype(np.int64)
                  for names, end, codes in zip(labels, ends, local)]


def frames_mask(cap: Any, column: str, value: str) -> np.ndarray:
    """``cap.frames[column] == value`` as a bool array (missing: False), made once per capture: several
    checks ask which frames are CALLs, or come from the charger."""
    def compute() -> np.ndarray:
        mask = isin(cap.frames[column], [value])
        mask.flags.writeable = False  # shared by every check that asks
        return mask

    return memo(cap, ("frames_mask", column, value), compute)


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
