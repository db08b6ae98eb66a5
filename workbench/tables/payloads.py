"""The ``payload`` column: each frame's decoded payload, read from its raw text when asked for.

A million decoded MeterValues payloads are about 2 GB of small dicts, and every table that needs
their contents is built in the one pass that decodes the frames (see :mod:`workbench.tables.frames`).
So the column keeps no dicts: a :class:`PayloadArray` holds, per row, a reference to the frame's
``raw`` text (the same ``str`` object as the ``raw`` column, so it costs a pointer) and which element
of the decoded OCPP-J array is the payload (3 for a CALL, 2 for a CALLRESULT, 4 for CALLERROR
details). Reading an element decodes it again (:func:`workbench.jsonfast.loads`, a few microseconds).

It behaves like an object column of dicts: ``frames.loc[i, "payload"]``, ``.tolist()``, iteration,
``.map``, ``take``/filtering, comparison and ``to_numpy()`` give the decoded values. Each access
decodes afresh, so changing a returned dict in place changes nothing in the table (assign to the
column to change it). Values assigned or built from Python objects are kept as given.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.extensions import (
    ExtensionArray,
    ExtensionDtype,
    register_extension_dtype,
)
from pandas.api.indexers import check_array_indexer

from .. import jsonfast

NO_SLOT = -1
"""``slot`` of a row whose value is held as a Python object (None when missing)."""


@register_extension_dtype
class PayloadDtype(ExtensionDtype):
    """dtype of the ``payload``, ``request`` and ``response`` columns: JSON values decoded on access."""

    name = "ocpp_payload"
    type = object
    kind = "O"
    na_value = None
    _is_boolean = False

    @classmethod
    def construct_array_type(cls) -> type[PayloadArray]:
        return PayloadArray


class PayloadArray(ExtensionArray):
    """Per row: ``raw`` (the frame's JSON text, or None), ``slot`` (which element of the decoded array
    is the value; -1 when the value is ``objects[row]`` instead)."""

    _dtype = PayloadDtype()

    def __init__(self, raw: np.ndarray, slot: np.ndarray, objects: np.ndarray | None = None) -> None:
        self._raw = raw
        self._slot = slot
        if objects is None:
            objects = np.full(len(raw), None, dtype=object)
        self._objects = objects

    @classmethod
    def from_frames(cls, raw: Sequence[Any], slot: Sequence[int]) -> PayloadArray:
        """Rows decoded from ``raw`` texts: ``slot`` is the payload's index in the OCPP-J array, -1 for none."""
        return cls(np.fromiter(raw, dtype=object, count=len(raw)), np.asarray(slot, dtype=np.int8))

    @classmethod
    def from_objects(cls, values: Sequence[Any]) -> PayloadArray:
        """Rows holding the given Python values (None = missing)."""
        objects = np.fromiter(values, dtype=object, count=len(values))
        return cls(np.full(len(objects), None, dtype=object), np.full(len(objects), NO_SLOT, dtype=np.int8), objects)

    # --- what pandas needs -------------------------------------------------------------------

    @classmethod
    def _from_sequence(cls, scalars: Any, *, dtype: Any = None, copy: bool = False) -> PayloadArray:
        if isinstance(scalars, PayloadArray):
            return scalars.copy() if copy else scalars
        return cls.from_objects(list(scalars))

    @classmethod
    def _from_factorized(cls, values: np.ndarray, original: PayloadArray) -> PayloadArray:
        return cls.from_objects([None if v is None else jsonfast.loads(v) for v in values])

    @property
    def dtype(self) -> PayloadDtype:
        return self._dtype

    def __len__(self) -> int:
        return len(self._slot)

    @property
    def nbytes(self) -> int:
        return self._raw.nbytes + self._slot.nbytes + self._objects.nbytes

    def _value(self, row: int) -> Any:
        slot = self._slot[row]
        if slot < 0:
            return self._objects[row]
        try:
            return jsonfast.loads(self._raw[row])[slot]
        except (ValueError, TypeError, IndexError, KeyError):  # only if raw or slot were altered
            return None

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)):
            return self._value(int(key))
        if isinstance(key, tuple) and len(key) == 1:
            key = key[0]
        if not isinstance(key, slice):
            key = check_array_indexer(self, key)
        return type(self)(self._raw[key], self._slot[key], self._objects[key])

    def __setitem__(self, key: Any, value: Any) -> None:
        if not isinstance(key, (int, np.integer, slice)):
            key = check_array_indexer(self, key)
        if isinstance(value, PayloadArray):
            value = value.to_numpy()
        elif not isinstance(key, (int, np.integer)) and isinstance(value, (list, np.ndarray)):
            value = np.fromiter(value, dtype=object, count=len(value))
        self._objects[key] = value
        self._slot[key] = NO_SLOT
        self._raw[key] = None

    def __iter__(self) -> Iterator[Any]:
        raw, slot, objects, loads = self._raw, self._slot, self._objects, jsonfast.loads
        for row in range(len(slot)):
            index = slot[row]
            if index < 0:
                yield objects[row]
            else:
                try:
                    yield loads(raw[row])[index]
                except (ValueError, TypeError, IndexError, KeyError):
                    yield None

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.fromiter(iter(self), dtype=object, count=len(self))

    def isna(self) -> np.ndarray:
        return (self._slot < 0) & np.fromiter((v is None for v in self._objects), dtype=bool, count=len(self))

    def take(self, indices: Any, *, allow_fill: bool = False, fill_value: Any = None) -> PayloadArray:
        indices = np.asarray(indices, dtype=np.intp)
        if not allow_fill:
            return type(self)(self._raw[indices], self._slot[indices], self._objects[indices])
        if (indices < -1).any():
            raise ValueError("take: with allow_fill, indices must be -1 (fill) or valid positions")
        fill = indices == -1
        if len(self) == 0:
            if not fill.all():
                raise IndexError("cannot take from an empty PayloadArray")
            return type(self).from_objects([fill_value] * len(indices))
        safe = np.where(fill, 0, indices)
        raw, slot, objects = self._raw[safe], self._slot[safe], self._objects[safe]
        raw[fill] = None
        slot[fill] = NO_SLOT
        objects[fill] = fill_value
        return type(self)(raw, slot, objects)

    def copy(self) -> PayloadArray:
        return type(self)(self._raw.copy(), self._slot.copy(), self._objects.copy())

    @classmethod
    def _concat_same_type(cls, to_concat: Sequence[PayloadArray]) -> PayloadArray:
        return cls(np.concatenate([a._raw for a in to_concat]) if to_concat else np.empty(0, dtype=object),
                   np.concatenate([a._slot for a in to_concat]) if to_concat else np.empty(0, dtype=np.int8),
                   np.concatenate([a._objects for a in to_concat]) if to_concat else np.empty(0, dtype=object))

    def __eq__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        if isinstance(other, (PayloadArray, pd.Series, pd.Index, np.ndarray, list)):
            others = list(other)
            if len(others) != len(self):
                raise ValueError("lengths must match to compare")
            return np.fromiter((a == b for a, b in zip(self, others)), dtype=bool, count=len(self))
        return np.fromiter((a == other for a in self), dtype=bool, count=len(self))

    def __ne__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return ~self.__eq__(other)

    def _values_for_factorize(self) -> tuple[np.ndarray, Any]:
        # Dicts are not hashable: factorise (unique, groupby, drop_duplicates) on their canonical JSON text.
        return np.fromiter((None if v is None else json_text(v, sort_keys=True) for v in self),
                           dtype=object, count=len(self)), None

    def __arrow_array__(self, type: Any = None) -> Any:
        """For Parquet: each value as JSON text (lone surrogates spelled as escapes, as Arrow needs UTF-8)."""
        import pyarrow as pa

        texts = [None if v is None else json_text(v).encode("utf-8", "backslashreplace").decode("utf-8")
                 for v in self]
        return pa.array(texts, type=pa.large_string())

    def unique(self) -> PayloadArray:
        """The distinct values in order of first appearance (equal JSON values are one)."""
        texts, _ = self._values_for_factorize()
        first: dict[Any, int] = {}
        for row, text in enumerate(texts.tolist()):
            first.setdefault(text, row)
        return self.take(np.fromiter(first.values(), dtype=np.intp, count=len(first)))

    def _formatter(self, boxed: bool = False) -> Any:
        return repr


def json_text(value: Any, sort_keys: bool = False) -> str:
    """Compact JSON text of a decoded value (non-JSON values as their str())."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys, default=str)


__all__ = ["NO_SLOT", "PayloadArray", "PayloadDtype", "json_text"]
