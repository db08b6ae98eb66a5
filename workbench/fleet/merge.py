"""The merge of buckets' tables into one Capture's, row by row into place as each bucket arrives.

A frame's ``seq`` is its final row in the frames table (0 to N - 1, what one process numbering the
input gives), and a bucket's frames, meter values and status rows come in ``seq`` order. So instead of
concatenating every bucket's tables after the last one and sorting them (two copies of every column,
all of it after the workers are done), :class:`TableMerge`:

- as each bucket arrives (on Dask, while the workers compute the next ones), writes its frames' columns
  straight into arrays of N rows at their ``seq``, and counts the rows of ``calls``, ``meter_values``
  and ``status`` per frame (a call's frame is its request, else its reply);
- after the last bucket, places those three tables' rows with one copy: a row's place is the number
  of rows of earlier frames (a running sum of the counts) plus its place among its frame's rows.

Arrow text columns of few distinct values are turned into int32 codes as each bucket arrives and
placed like numbers; the others (``unique_id``) cannot be written into place and are gathered once,
at the end, in a second thread (Arrow lets go of the interpreter lock) while this one places the
numbers. The small tables (connections, transactions, findings) are concatenated and sorted as
before (:func:`~.buckets.concat_tables`, :func:`~.buckets.in_order`), which is also the fallback of
any table whose rows do not fit the rule (a row of no frame or beyond the input, a frame's rows in
two buckets, a bucket not in frame order): the result is then still the serial one, only slower.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.extensions import ExtensionArray
from pandas.arrays import ArrowExtensionArray, DatetimeArray, NumpyExtensionArray, StringArray

from ..analysis import Capture, LoadProblem
from ..tables.payloads import PayloadArray
from .buckets import TABLES, BucketTables, call_frames, capture_of, concat_tables, in_order

PLACED = ("frames", "calls", "meter_values", "status")
"""Tables placed by frame: each row belongs to one frame (its ``seq``; for ``calls`` the request's,
else the reply's) and a table holds the rows of a frame together, in capture order."""


def _key(name: str, table: pd.DataFrame) -> np.ndarray:
    """The frame (seq) of each row of a placed table; -1 where there is none."""
    if name == "calls":
        return call_frames(table)
    return table["seq"].to_numpy(dtype=np.int64, na_value=-1)


RESERVE_MIN_ROWS = 65_536
"""Tables expected smaller than this are not reserved ahead (:meth:`TableMerge._reserve`)."""


def _touched(array: np.ndarray) -> np.ndarray:
    """``array`` with every memory page written once (object arrays are, by numpy: filled with None)."""
    if array.dtype != object:
        array.view(np.uint8)[::4096] = 0
    return array


class _Placement:
    """Where each bucket's rows of one placed table go: rows per frame, counted as buckets arrive."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.counts = np.zeros(frames, dtype=np.int64)
        self.ok = True
        self._starts: np.ndarray | None = None

    def add(self, key: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Count a bucket's rows (``key``: each row's frame); returns the runs (first row of each frame,
        the frames) or None when the rows break the rule (the table is then merged by sorting)."""
        if not self.ok:
            return None
        if len(key) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        if key[0] < 0 or key[-1] >= self.frames or (len(key) > 1 and (np.diff(key) < 0).any()):
            self.ok = False  # no frame, a frame beyond the input, or not in frame order
            return None
        first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        frames = key[first]
        if self.counts[frames].any():  # a frame whose rows another bucket has: order between them unknown
            self.ok = False
            return None
        self.counts[frames] = np.diff(np.r_[first, len(key)])
        return first, frames

    def positions(self, runs: tuple[np.ndarray, np.ndarray], rows: int) -> np.ndarray:
        """Final row of each of a bucket's ``rows`` rows (after every bucket was added)."""
        if self._starts is None:
            self._starts = np.cumsum(self.counts) - self.counts  # rows of the frames before each frame
        first, frames = runs
        within = np.arange(rows, dtype=np.int64) - np.repeat(first, np.diff(np.r_[first, rows]))
        return np.repeat(self._starts[frames], np.diff(np.r_[first, rows])) + within


class _Codes(np.ndarray):
    """A bucket's Arrow text column as codes into a :class:`_Coder`'s values (-1: missing)."""


class _Coder:
    """An Arrow text column of few distinct values (direction, action, charge point...) turned into int32
    codes as each bucket arrives, so that it is written into place like a number column and made once,
    at the end, from its distinct values (instead of gathering every bucket's texts after the last)."""

    def __init__(self, template: ArrowExtensionArray) -> None:
        self.template = template
        self.codes: dict[Any, int] = {}

    @staticmethod
    def suits(array: ArrowExtensionArray) -> bool:
        """Few distinct values: at most one per 8 rows (a unique id per frame does not suit)."""
        kind = array._pa_array.type
        return ((pa.types.is_string(kind) or pa.types.is_large_string(kind))
                and len(array) >= 64 and len(pc.unique(array._pa_array)) * 8 <= len(array))

    def encode(self, array: ArrowExtensionArray) -> _Codes:
        encoded = pc.dictionary_encode(array._pa_array).combine_chunks()
        codes = self.codes
        recode = np.fromiter((codes.setdefault(v, len(codes)) for v in encoded.dictionary.to_pylist()),
                             dtype=np.int32, count=len(encoded.dictionary))
        own = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
        return np.append(recode, np.int32(-1))[own].view(_Codes)  # -1 (missing) takes the appended -1

    def decode(self, codes: np.ndarray) -> ExtensionArray:
        values = pa.array(list(self.codes), type=self.template._pa_array.type)
        taken = pa.chunked_array([values.take(pa.array(codes, mask=codes < 0))])
        return _arrow_like(self.template, taken)


def _arrow_like(template: ArrowExtensionArray, values: pa.ChunkedArray) -> ExtensionArray:
    """An array of ``template``'s type and dtype holding ``values``."""
    if isinstance(template, pd.arrays.ArrowStringArray):
        try:
            return type(template)(values, dtype=template.dtype)  # pandas 3: "str" (NaN) or "string" (NA)
        except TypeError:  # pandas 2: the dtype follows from the class
            return type(template)(values)
    return type(template)(values)


class _Column:
    """One column of a placed table: the buckets' values written at their final rows (one copy each),
    into ``reserved`` arrays when they are long enough. Arrow-held columns keep the buckets' arrays and
    gather them once, in :meth:`array`; categorical ones recode their codes into the union of categories
    there."""

    def __init__(self, template: ExtensionArray, rows: int, reserved: list[np.ndarray] | None = None,
                 coder: _Coder | None = None) -> None:
        self.template = template
        self.coder = coder
        self.rows = rows
        self.parts: list[np.ndarray] | None = None
        if reserved is not None and all(len(r) >= rows for r in reserved):
            self.parts = [r[:rows] for r in reserved]
        self.pieces: list[tuple[Any, np.ndarray]] = []  # (bucket's array, its rows' positions)

    @staticmethod
    def parts_of(array: ExtensionArray) -> list[np.ndarray] | None:
        """The numpy arrays a column is made of, or None (Arrow, categorical: gathered at the end)."""
        if isinstance(array, _Codes):
            return [array]
        if isinstance(array, PayloadArray):
            return [array._raw, array._slot, array._objects]
        if isinstance(array, (NumpyExtensionArray, DatetimeArray, StringArray)):
            return [array._ndarray]
        if isinstance(array, pd.arrays.IntegerArray | pd.arrays.BooleanArray | pd.arrays.FloatingArray):
            return [array._data, array._mask]
        return None

    @staticmethod
    def layout(array: ExtensionArray) -> list[np.dtype] | None:
        """dtypes of the arrays to reserve for a column like ``array`` (None: nothing to reserve)."""
        if isinstance(array, pd.Categorical):  # codes in the union of categories: room for 2-4x this bucket's
            return [np.dtype(np.int8 if len(array.categories) < 32 else np.int16 if len(array.categories) < 8192
                             else np.int32)]
        parts = _Column.parts_of(array)
        return None if parts is None else [p.dtype for p in parts]

    @staticmethod
    def placeable(array: ExtensionArray, template: ExtensionArray) -> bool:
        """Whether ``array`` (a bucket's) can be put into a column made like ``template``."""
        if type(array) is not type(template):
            return False
        if isinstance(array, pd.Categorical):
            return True  # categories differ between buckets: their union is made at the end
        return array.dtype == template.dtype and (
            _Column.parts_of(array) is not None or isinstance(array, ArrowExtensionArray))

    def put(self, array: ExtensionArray, positions: np.ndarray) -> None:
        parts = self.parts_of(array)
        if parts is None:
            self.pieces.append((array, positions))
            return
        if self.parts is None:
            self.parts = [np.empty(self.rows, dtype=p.dtype) for p in parts]
        for out, values in zip(self.parts, parts):
            out[positions] = values

    def array(self, order: Callable[[], np.ndarray]) -> ExtensionArray:
        """The column; ``order()``: final row -> row of the buckets' rows one after the other (the same
        for every column of a table, made once)."""
        template = self.template
        if isinstance(template, pd.Categorical):
            return self._categorical()
        if self.coder is not None:
            return self.coder.decode(self.parts[0] if self.parts is not None else np.empty(0, dtype=np.int32))
        if self.parts_of(template) is not None:
            parts = self.parts or [np.empty(0, dtype=p.dtype) for p in self.parts_of(template)]  # type: ignore[union-attr]
            if isinstance(template, PayloadArray):
                return PayloadArray(*parts)
            if isinstance(template, (NumpyExtensionArray, DatetimeArray, StringArray)):
                return template._from_backing_data(parts[0])  # same dtype, these values (no copy, no check)
            return type(template)(parts[0], parts[1])
        chunks = [c for array, _ in self.pieces for c in array._pa_array.chunks] or list(template._pa_array.chunks)
        values = pa.concat_arrays(chunks) if chunks else pa.array([], type=template._pa_array.type)
        return _arrow_like(template, pa.chunked_array([values.take(order())]))

    def _categorical(self) -> pd.Categorical:
        # The union of the buckets' (sorted) categories, as concat_tables makes it; each bucket's codes
        # recoded into it and written into place.
        arrays = [array for array, _ in self.pieces]
        first = next((a.categories for a in arrays if len(a.categories)), self.template.categories)
        categories = pd.Index(sorted(set().union(*(set(a.categories) for a in arrays))), dtype=first.dtype)
        codes = self.parts[0] if self.parts is not None else None
        if codes is None or len(categories) >= np.iinfo(codes.dtype).max:  # more categories than reserved for
            codes = np.empty(self.rows, dtype=np.int32)
        for array, positions in self.pieces:
            recode = np.append(categories.get_indexer(array.categories), -1).astype(codes.dtype)
            codes[positions] = recode[array.codes]  # code -1 (missing) takes the appended -1
        return pd.Categorical.from_codes(codes, categories=categories)


class TableMerge:
    """Merge buckets' tables (:class:`~.buckets.BucketTables` or dicts) of an input of ``frames``
    frames: :meth:`add` each bucket as it comes, then :meth:`capture`."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self._placements = {name: _Placement(frames) for name in PLACED}
        self._runs: dict[str, list[tuple[dict[str, pd.DataFrame], tuple[np.ndarray, np.ndarray], dict[str, _Codes]]]] = \
            {name: [] for name in PLACED}
        self._frames: dict[str, _Column] | None = None
        self._rows = 0
        self._seen = dict.fromkeys(PLACED, 0)  # rows of each table in the buckets so far
        self._reserved: dict[str, dict[str, list[np.ndarray]]] = {}
        self._coders: dict[str, dict[str, _Coder]] = {}  # table -> its Arrow text columns of few values

    def _coded(self, name: str, table: pd.DataFrame) -> dict[str, _Codes]:
        """The columns of ``table`` that have a :class:`_Coder` (chosen on the first bucket), as codes."""
        if name not in self._coders:
            self._coders[name] = {c: _Coder(table[c].array) for c in table.columns
                                  if isinstance(table[c].array, ArrowExtensionArray) and _Coder.suits(table[c].array)}
        return {c: coder.encode(table[c].array) for c, coder in self._coders[name].items()
                if isinstance(table[c].array, ArrowExtensionArray)}

    def add(self, part: BucketTables | dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """Take in one bucket's tables; returns them (for :meth:`capture`, in bucket order)."""
        tables = part.tables if isinstance(part, BucketTables) else part
        for name in PLACED:
            placement = self._placements[name]
            runs = placement.add(_key(name, tables[name]))
            if runs is not None:
                self._runs[name].append((tables, runs, self._coded(name, tables[name]) if name != "frames" else {}))
        frames = tables["frames"]
        self._rows += len(frames)
        for name in PLACED[1:]:
            self._seen[name] += len(tables[name])
            if self._placements[name].ok:
                self._reserve(name, tables[name])
        if self._placements["frames"].ok:  # a frame's row is its seq: into place now
            coded = self._coded("frames", frames)
            if self._frames is None:
                coders = self._coders["frames"]
                self._frames = {c: _Column(frames[c].array, self.frames, coder=coders.get(c)) for c in frames.columns}
            if list(frames.columns) == list(self._frames) and \
                    all(_Column.placeable(frames[c].array, t.template) for c, t in self._frames.items()):
                seqs = frames["seq"].to_numpy(dtype=np.int64)
                for column, target in self._frames.items():
                    target.put(coded.get(column, frames[column].array), seqs)
            else:
                self._placements["frames"].ok = False
        return tables

    def _reserve(self, name: str, table: pd.DataFrame) -> None:
        """Arrays for the rows of ``name`` the whole input will have (estimated from the first bucket,
        10 % more; once: if short, the table gets new arrays at the end), their memory touched now: the
        kernel's cost of first touching a page (here 1-2.5 ms a MB) is then paid while the workers still
        compute, not after the last bucket."""
        if not self._rows or name in self._reserved:
            return
        expected = self._seen[name] * self.frames // self._rows
        if expected < RESERVE_MIN_ROWS:
            return
        rows = expected + expected // 10
        reserved = {}
        coders = self._coders.get(name, {})
        for column in table.columns:
            layout = [np.dtype(np.int32)] if column in coders else _Column.layout(table[column].array)
            if layout is not None:
                reserved[column] = [_touched(np.empty(rows, dtype=dtype)) for dtype in layout]
        self._reserved[name] = reserved

    def _placed(self, name: str, parts: Sequence[dict[str, pd.DataFrame]],
                pool: ThreadPoolExecutor) -> dict[str, Any] | None:
        """The columns of a placed table (Arrow ones as futures of ``pool``), or None: merge by sorting."""
        placement = self._placements[name]
        rows = sum(len(p[name]) for p in parts)
        if not placement.ok or int(placement.counts.sum()) != rows:
            return None
        if name == "frames":
            if rows != self.frames or self._frames is None or not (placement.counts == 1).all():
                return None
            columns = self._frames
        else:
            template = parts[0][name]
            if not all(list(p[name].columns) == list(template.columns)
                       and all(_Column.placeable(p[name][c].array, template[c].array) for c in template.columns)
                       for p in parts):
                return None
            reserved = self._reserved.pop(name, {})
            coders = self._coders.get(name, {})
            columns = {c: _Column(template[c].array, rows, reserved.get(c), coders.get(c)) for c in template.columns}
            for tables, runs, coded in self._runs[name]:
                table = tables[name]
                positions = placement.positions(runs, len(table))
                for column, target in columns.items():
                    target.put(coded.get(column, table[column].array), positions)
        made: list[pa.Array] = []

        def order() -> pa.Array:
            if not made:
                pieces = next((c.pieces for c in columns.values() if c.pieces), [])
                inverse = np.empty(rows, dtype=np.int64)
                if pieces:
                    inverse[np.concatenate([p for _, p in pieces])] = np.arange(rows, dtype=np.int64)
                made.append(pa.array(inverse))
            return made[0]

        # Arrow columns are gathered in another thread: Arrow lets go of the interpreter lock, so they take
        # the core the workers no longer need while this thread places the next table's numbers.
        return {column: pool.submit(target.array, order) if isinstance(target.template, ArrowExtensionArray)
                else target.array(order) for column, target in columns.items()}

    def capture(self, parts: Sequence[dict[str, pd.DataFrame]], headers: Sequence[dict[str, Any]],
                problems: Sequence[LoadProblem], paths: Sequence[Any]) -> Capture:
        """One :class:`Capture` of the buckets' tables (``parts``: what :meth:`add` returned, in bucket
        order), each table in the order a serial load gives."""
        tables: dict[str, pd.DataFrame] = {}
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="wb-merge") as pool:
            placed = {name: self._placed(name, parts, pool) for name in PLACED}
            for name in TABLES:
                columns = placed.get(name)
                if columns is None:
                    tables[name] = in_order(name, concat_tables([p[name] for p in parts]))
                else:
                    tables[name] = pd.DataFrame({c: v.result() if isinstance(v, Future) else v
                                                 for c, v in columns.items()}, copy=False)
        return capture_of(headers, tables, problems, paths)
