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

Text columns held by Arrow cannot be written into place; they are gathered once, at the end, with
the final order. The small tables (connections, transactions, findings) are concatenated and sorted as
before (:func:`~.buckets.merge_tables`), which is also the fallback of any table whose rows do not
fit the rule (a key missing or out of range, a key in two buckets, a bucket not in key order): the
result is then still the serial one, only slower.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.extensions import ExtensionArray
from pandas.arrays import ArrowExtensionArray, DatetimeArray, NumpyExtensionArray, StringArray

from ..analysis import Capture, LoadProblem
from ..checks.registry import run_checks, sort_findings
from ..tables.payloads import PayloadArray
from .buckets import LOAD_PROBLEM_CHECKS, TABLES, BucketTables, concat_tables, in_order

PLACED = ("frames", "calls", "meter_values", "status")
"""Tables placed by frame: each row belongs to one frame (its ``seq``; for ``calls`` the request's,
else the reply's) and a table holds the rows of a frame together, in capture order."""


def _key(name: str, table: pd.DataFrame) -> np.ndarray:
    """The frame (seq) of each row of a placed table; -1 where there is none."""
    if name == "calls":
        return table["request_seq"].fillna(table["reply_seq"]).to_numpy(dtype=np.int64, na_value=-1)
    return table["seq"].to_numpy(dtype=np.int64, na_value=-1)


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


class _Column:
    """One column of a placed table: the buckets' values written at their final rows (one copy each).
    Arrow-held columns keep the buckets' arrays and gather them once, in :meth:`array`."""

    def __init__(self, template: ExtensionArray, rows: int) -> None:
        self.template = template
        self.rows = rows
        self.parts: list[np.ndarray] | None = None
        self.pieces: list[tuple[Any, np.ndarray]] = []  # (bucket's array or codes, its rows' positions)

    @staticmethod
    def parts_of(array: ExtensionArray) -> list[np.ndarray] | None:
        """The numpy arrays a column is made of, or None (Arrow, categorical: gathered at the end)."""
        if isinstance(array, PayloadArray):
            return [array._raw, array._slot, array._objects]
        if isinstance(array, (NumpyExtensionArray, DatetimeArray, StringArray)):
            return [array._ndarray]
        if isinstance(array, pd.arrays.IntegerArray | pd.arrays.BooleanArray | pd.arrays.FloatingArray):
            return [array._data, array._mask]
        return None

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

    def array(self) -> ExtensionArray:
        template = self.template
        if self.parts is not None or self.parts_of(template) is not None:
            parts = self.parts or [np.empty(0, dtype=p.dtype) for p in self.parts_of(template)]  # type: ignore[union-attr]
            if isinstance(template, PayloadArray):
                return PayloadArray(*parts)
            if isinstance(template, DatetimeArray):
                return DatetimeArray._from_sequence(parts[0], dtype=template.dtype)  # the UTC values, as they were
            if isinstance(template, StringArray):
                return StringArray(parts[0], dtype=template.dtype)
            if isinstance(template, NumpyExtensionArray):
                return NumpyExtensionArray(parts[0])
            return type(template)(parts[0], parts[1])
        order = np.empty(self.rows, dtype=np.int64)
        if self.pieces:
            order[np.concatenate([p for _, p in self.pieces])] = np.arange(self.rows, dtype=np.int64)
        if isinstance(template, pd.Categorical):
            return self._categorical(order)
        chunks = [c for array, _ in self.pieces for c in array._pa_array.chunks] or list(template._pa_array.chunks)
        values = pa.concat_arrays(chunks) if chunks else pa.array([], type=template._pa_array.type)
        taken = pa.chunked_array([values.take(pa.array(order))])
        if isinstance(template, pd.arrays.ArrowStringArray):
            return type(template)(taken, dtype=template.dtype)
        return type(template)(taken)

    def _categorical(self, order: np.ndarray) -> pd.Categorical:
        # The union of the buckets' (sorted) categories, as concat_tables makes it.
        merged = concat_tables([pd.DataFrame({"c": array}) for array, _ in self.pieces]
                               or [pd.DataFrame({"c": self.template})])["c"].array
        return pd.Categorical.from_codes(merged.codes[order], dtype=merged.dtype)


class TableMerge:
    """Merge buckets' tables (:class:`~.buckets.BucketTables` or dicts) of an input of ``frames``
    frames: :meth:`add` each bucket as it comes, then :meth:`capture`."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self._placements = {name: _Placement(frames) for name in PLACED}
        self._runs: dict[str, list[tuple[dict[str, pd.DataFrame], tuple[np.ndarray, np.ndarray]]]] = \
            {name: [] for name in PLACED}
        self._frames: dict[str, _Column] | None = None
        self._rows = 0

    def add(self, part: BucketTables | dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """Take in one bucket's tables; returns them (for :meth:`capture`, in bucket order)."""
        tables = part.tables if isinstance(part, BucketTables) else part
        for name in PLACED:
            placement = self._placements[name]
            runs = placement.add(_key(name, tables[name]))
            if runs is not None:
                self._runs[name].append((tables, runs))
        frames = tables["frames"]
        self._rows += len(frames)
        if self._placements["frames"].ok:  # a frame's row is its seq: into place now
            if self._frames is None:
                self._frames = {c: _Column(frames[c].array, self.frames) for c in frames.columns}
            if list(frames.columns) == list(self._frames) and \
                    all(_Column.placeable(frames[c].array, t.template) for c, t in self._frames.items()):
                seqs = frames["seq"].to_numpy(dtype=np.int64)
                for column, target in self._frames.items():
                    target.put(frames[column].array, seqs)
            else:
                self._placements["frames"].ok = False
        return tables

    def _placed(self, name: str, parts: Sequence[dict[str, pd.DataFrame]]) -> pd.DataFrame | None:
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
            columns = {c: _Column(template[c].array, rows) for c in template.columns}
            for tables, runs in self._runs[name]:
                table = tables[name]
                positions = placement.positions(runs, len(table))
                for column, target in columns.items():
                    target.put(table[column].array, positions)
        return pd.DataFrame({column: target.array() for column, target in columns.items()}, copy=False)

    def capture(self, parts: Sequence[dict[str, pd.DataFrame]], headers: Sequence[dict[str, Any]],
                problems: Sequence[LoadProblem], paths: Sequence[Any]) -> Capture:
        """One :class:`Capture` of the buckets' tables (``parts``: what :meth:`add` returned, in bucket
        order), each table in the order a serial load gives."""
        tables: dict[str, pd.DataFrame] = {}
        for name in TABLES:
            placed = self._placed(name, parts) if name in PLACED else None
            tables[name] = placed if placed is not None else in_order(name, concat_tables([p[name] for p in parts]))
        cap = Capture.from_tables(headers, tables, problems, paths)
        fresh = run_checks(cap, names=LOAD_PROBLEM_CHECKS)
        if len(fresh):
            cap.__dict__["findings"] = sort_findings(pd.concat([tables["findings"], fresh], ignore_index=True))
        return cap
