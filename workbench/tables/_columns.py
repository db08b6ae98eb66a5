"""Turn Python lists (built in one pass) into typed pandas columns, without per-row pandas work."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute

TS_DTYPE = "datetime64[us, UTC]"


def utc_times(values: Sequence[Any]) -> pd.DatetimeIndex:
    """UTC timestamps (microseconds) from ISO 8601 strings; anything unreadable becomes NaT."""
    if len(values) == 0:
        return pd.DatetimeIndex([], dtype=TS_DTYPE)
    try:
        parsed = pd.to_datetime(values, format="ISO8601", utc=True, cache=False)
    except (ValueError, TypeError, OverflowError):
        # Only reached when some value is malformed: coerce those (and only those) to NaT.
        parsed = pd.to_datetime(pd.Series(values, dtype="object").map(_one_time), utc=True)
        parsed = pd.DatetimeIndex(parsed)
    return parsed.as_unit("us")


def _one_time(value: Any) -> pd.Timestamp:
    if not isinstance(value, str):
        return pd.NaT
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        return pd.NaT
    if stamp is pd.NaT:
        return pd.NaT
    try:
        return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    except (ValueError, TypeError, OverflowError):
        return pd.NaT


PYTHON_STR = pd.StringDtype("python", na_value=np.nan)
ARROW_STR = pd.StringDtype("pyarrow", na_value=np.nan)  # what dtype="str" means in pandas 3 with pyarrow


def str_column(values: Sequence[Any], storage: str = "pyarrow") -> pd.api.extensions.ExtensionArray:
    """A pandas ``str`` column; None stays missing, anything else that is not a str is shown as text.

    ``storage="python"`` keeps the Python strings (no copy: right for long, unique texts such as
    ``raw``); the default Arrow storage is faster to compare and group (short, repeated values).
    """
    if storage != "python":
        try:
            # Straight to Arrow: several times faster than pd.array(values, dtype="str"), same dtype.
            return pd.array(pa.array(values, type=pa.large_string()), dtype=ARROW_STR)
        except (pa.ArrowException, TypeError, ValueError):
            pass  # a value that is not a str (or not encodable): the general path below
    dtype = PYTHON_STR if storage == "python" else "str"
    try:
        return pd.array(values, dtype=dtype)
    except (TypeError, ValueError):  # UnicodeEncodeError is a ValueError
        return pd.array([_as_text(v) for v in values], dtype=dtype)


def labels_column(names: Sequence[str], codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """A ``str`` column of ``names[code]`` per row, built in Arrow (no Python string per row)."""
    return pd.array(pa.array(names, type=pa.large_string()).take(pa.array(codes, type=pa.int64())), dtype=ARROW_STR)


def sparse_str_column(length: int, values: Mapping[int, Any],
                      storage: str = "python") -> pd.api.extensions.ExtensionArray:
    """A ``str`` column of ``length`` rows, missing but for ``values`` ({row: value}): for columns such as
    errors, empty in nearly every row. Values that are not str are shown as text; ``storage`` as in
    :func:`str_column`."""
    if storage != "python":
        rows = sorted(row for row, value in values.items() if value is not None)
        if not rows:
            return pd.array(pa.nulls(length, pa.large_string()), dtype=ARROW_STR)
        mask = np.zeros(length, dtype=bool)
        mask[rows] = True
        try:
            texts = pa.array([_as_text(values[row]) for row in rows], type=pa.large_string())
            column = pa.compute.replace_with_mask(pa.nulls(length, pa.large_string()), pa.array(mask), texts)
            return pd.array(column, dtype=ARROW_STR)
        except (pa.ArrowException, TypeError, ValueError):
            return str_column(_spread(length, values))
    column = np.full(length, np.nan, dtype=object)
    for row, value in values.items():
        if value is not None:
            column[row] = value if value.__class__ is str else str(value)
    return pd.arrays.StringArray(column, dtype=PYTHON_STR)


def _spread(length: int, values: Mapping[int, Any]) -> list[Any]:
    """A list of ``length`` Nones but for ``values`` ({row: value})."""
    column: list[Any] = [None] * length
    for row, value in values.items():
        column[row] = value
    return column


def _as_text(value: Any) -> str | None:
    """A str Arrow can hold: non-str values as their str(), lone surrogates (valid JSON escapes such as
    "\\ud800", invalid UTF-8) spelled as backslash escapes."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def arrow_safe(value: Any) -> Any:
    """A decoded JSON value whose strings (keys too) Arrow can hold: lone surrogates spelled as backslash
    escapes (as :func:`str_column` spells them), everything else unchanged. Depth is bounded by
    :data:`workbench.jsonfast.MAX_DEPTH`, so the recursion is safe."""
    if isinstance(value, str):
        return _as_text(value)
    if isinstance(value, list):
        return [arrow_safe(item) for item in value]
    if isinstance(value, dict):
        return {_as_text(key): arrow_safe(item) for key, item in value.items()}
    return value


def take_str(column: pd.Series, positions: np.ndarray, mask: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``column[positions]`` as a ``str`` column, missing where ``mask`` is False. Arrow-backed columns
    are taken in Arrow (no Python object per row); others go through Python."""
    values = column.array
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow" and len(values):
        taken = pa.array(values).take(pa.array(np.where(mask, positions, 0)))
        taken = pa.compute.if_else(pa.array(mask, type=pa.bool_()), taken, pa.scalar(None, taken.type))
        return pd.array(taken.cast(pa.large_string()), dtype=ARROW_STR)
    objects = column.to_numpy(dtype=object, na_value=None)[positions] if len(values) else np.empty(0, dtype=object)
    return str_column(np.where(mask, objects, None).tolist())


def object_column(values: Sequence[Any]) -> np.ndarray:
    """A 1-D object array that keeps dicts and lists as elements (numpy would broadcast nested lists)."""
    return np.fromiter(values, dtype=object, count=len(values))


def int64_column(values: Sequence[Any]) -> pd.api.extensions.ExtensionArray:
    """A nullable ``Int64`` column; None becomes <NA>."""
    return pd.array(values, dtype="Int64")


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of acyclic dicts and lists.

    Each allocation burst otherwise triggers full collections that rescan every object already
    built, which doubles the cost of decoding a large capture. Reference counting still frees memory.
    On the way out what was built is frozen (``gc.freeze``): later collections skip the million
    payload dicts of a table, which hold no reference cycles for the collector to find anyway.
    Inside another pause (an import inside ``load()``) it does nothing: the outer pause freezes and
    gives memory back once, at its end, not midway through the work.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
        _release_free_memory()


def _release_free_memory() -> None:
    """Give freed heap memory back to the OS (glibc's malloc_trim): a table build frees hundreds of MB
    of temporaries that would otherwise count in the process's peak until the next allocations reuse them."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def _find_malloc_trim() -> Any:
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return None


_malloc_trim = _find_malloc_trim()
