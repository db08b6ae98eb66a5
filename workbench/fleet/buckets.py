"""Stage 2 of a fleet analysis: every table of one bucket of charge points, and the merge of buckets.

Every table and check depends only on one charge point's frames (docs/analysis.md), so a bucket --
the charge points whose ``crc32(id) % buckets`` is its number -- is analysed on its own with the
single-capture analysis (:class:`~workbench.analysis.Capture`). Frames carry their final ``seq``
(the frames of earlier files plus their place in their file), so a bucket's tables cite the same
seqs a serial load gives, and the merge places each row by its frame's seq (:mod:`.merge`;
:func:`merge_tables` concatenates and sorts, the merge's fallback).
"""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd

from ..analysis import Capture, LoadProblem, _route
from ..checks.registry import run_checks, sort_findings
from ..tables._columns import paused_gc
from ..tables.frames import FrameCollector
from ..tables.transactions import _FAR_FUTURE
from .route import CODEC, Share

TABLES = Capture.TABLES
LOAD_PROBLEM_CHECKS = ["capture_read", "import"]
"""Checks that report unreadable lines: run once on all problems, not per bucket (they cite no frame)."""


def bucket_of(charge_point_id: Any, buckets: int) -> int:
    """The bucket of a charge point (stable across runs, processes and machines); no id: bucket 0."""
    if not isinstance(charge_point_id, str):
        return 0
    return zlib.crc32(charge_point_id.encode("utf-8", "surrogatepass")) % buckets


def analyse_bucket(shares: Sequence[Share], offsets: dict[int, int],
                   headers: Sequence[dict[str, Any]], config: Any = None) -> dict[str, pd.DataFrame]:
    """Every table of one bucket from its ``shares`` (:meth:`RoutedFile.take` results, in file order);
    ``offsets[file]`` is the number of frames in the files before it; findings with ``config`` (a
    :class:`~workbench.checks.CheckConfig`, default thresholds when None). Findings of unreadable lines
    are left to the merge."""
    with paused_gc():  # as a serial load: no full collections while a million dicts are built
        return _analyse_bucket(shares, offsets, headers, config)


def _analyse_bucket(shares: Sequence[Share], offsets: dict[int, int],
                    headers: Sequence[dict[str, Any]], config: Any) -> dict[str, pd.DataFrame]:
    collector = FrameCollector()
    collector.seqs = []
    connections: list[dict[str, Any]] = []
    loads = orjson.loads
    add = collector.add
    for share in sorted(shares, key=lambda s: s.file):
        ordinals, items = share.frames()
        collector.seqs.extend((ordinals + offsets[share.file]).tolist())
        for item in items:  # decoded here, once more: the line stage 1 decoded cleanly
            add(item if item.__class__ is dict else loads(item))
        del items
        for record in share.records:
            _route(record, collector, connections, [], "", None, "capture_read")
    cap = Capture(list(headers), collector, connections, [], [])
    tables = {name: getattr(cap, name) for name in TABLES if name != "findings"}
    tables["findings"] = cap.findings if config is None else cap.check(config)
    return tables


class BucketTables:
    """A bucket's tables as one object: Dask ships it as one pickle (the frame texts several tables share
    travel once; 53k frames: 0.13 s instead of 0.2-0.6 s) rather than table by table, as it does a dict.

    :meth:`pack` pickles the tables where they were built, in the task: a worker's network thread then
    only sends bytes, instead of pickling 200 MB while the worker's task thread analyses the next
    bucket (the two share one interpreter lock: a 220k-frame bucket took 2.6-2.9 s to fetch that way)."""

    __slots__ = ("_tables", "_packed", "_size")

    def __init__(self, tables: dict[str, pd.DataFrame]) -> None:
        self._tables: dict[str, pd.DataFrame] | None = tables
        self._packed: bytes | None = None
        self._size = -1  # of the pickle before compression; -1: not compressed

    def pack(self) -> BucketTables:
        """Pickle the tables now, lz4-compressed (about 5x smaller, 0.6 us a frame each way): one bytes
        object any engine ships as it is."""
        if self._tables is not None:
            data = pickle.dumps(self._tables, protocol=pickle.HIGHEST_PROTOCOL)
            self._size = len(data) if CODEC is not None else -1
            self._packed = CODEC.compress(data, asbytes=True) if CODEC is not None else data
            self._tables = None
        return self

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        if self._tables is None:
            assert self._packed is not None
            # Expanded into an Arrow buffer, not bytes: Arrow's allocator keeps and reuses its memory, where a
            # new 200 MB bytes object is new pages the kernel must first map (1M frames: 1.05 s instead of 1.5).
            data = (self._packed if self._size < 0
                    else CODEC.decompress(self._packed, decompressed_size=self._size))
            self._packed = None
            self._tables = pickle.loads(data)
        return self._tables

    def __getstate__(self) -> tuple[Any, Any, int]:
        return (self._tables, self._packed, self._size)

    def __setstate__(self, state: tuple[Any, Any, int]) -> None:
        self._tables, self._packed, self._size = state

    def __sizeof__(self) -> int:
        # What Dask counts: the pickle, or the arrays and about 600 B of frame text per frame (object
        # columns hold pointers).
        if self._packed is not None:
            return len(self._packed)
        tables = self._tables or {}
        return (sum(int(t.memory_usage(index=False, deep=False).sum()) for t in tables.values())
                + 600 * len(tables.get("frames", ())))


def merge_tables(parts: Sequence[dict[str, pd.DataFrame] | BucketTables], headers: Sequence[dict[str, Any]],
                 problems: Sequence[LoadProblem], paths: Sequence[Any]) -> Capture:
    """One :class:`Capture` of the buckets' tables, each table in the order a serial load gives."""
    parts = [p.tables if isinstance(p, BucketTables) else p for p in parts]
    tables: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        tables[name] = in_order(name, concat_tables([p[name] for p in parts]))
    return capture_of(headers, tables, problems, paths)


def capture_of(headers: Sequence[dict[str, Any]], tables: dict[str, pd.DataFrame], problems: Sequence[LoadProblem],
               paths: Sequence[Any]) -> Capture:
    """The :class:`Capture` of merged ``tables``, with the findings of unreadable lines (``problems``)
    added once: the buckets left them out."""
    cap = Capture.from_tables(headers, tables, problems, paths)
    fresh = run_checks(cap, names=LOAD_PROBLEM_CHECKS)
    if len(fresh):
        cap.__dict__["findings"] = sort_findings(pd.concat([tables["findings"], fresh], ignore_index=True))
    return cap


def concat_tables(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Tables of the buckets as one; categorical columns get the union of their (sorted) categories."""
    if len(tables) == 1:
        return tables[0]
    categorical = [c for c in tables[0].columns if isinstance(tables[0][c].dtype, pd.CategoricalDtype)]
    columns = {}
    for column in categorical:
        first = next((t[column].cat.categories for t in tables if len(t[column].cat.categories)),
                     tables[0][column].cat.categories)
        categories = pd.Index(sorted(set().union(*(set(t[column].cat.categories) for t in tables))),
                              dtype=first.dtype)
        # Recode each part's codes into the union (no per-row objects): position of its categories there.
        codes = [np.where(t[column].cat.codes.to_numpy() >= 0,
                          categories.get_indexer(t[column].cat.categories)[t[column].cat.codes.to_numpy()], -1)
                 if len(t[column].cat.categories) else np.full(len(t), -1) for t in tables]
        columns[column] = pd.Categorical.from_codes(np.concatenate(codes) if codes else [], categories=categories)
    merged = pd.concat([t.drop(columns=categorical) for t in tables], ignore_index=True)
    for column, values in columns.items():
        merged[column] = values
    return merged[list(tables[0].columns)]


def call_frames(calls: pd.DataFrame) -> np.ndarray:
    """The frame (seq) each call belongs to: its request's, else its reply's; -1 where there is none."""
    return calls["request_seq"].fillna(calls["reply_seq"]).to_numpy(dtype=np.int64, na_value=-1)


def in_order(name: str, table: pd.DataFrame) -> pd.DataFrame:
    """A merged table in the order its builder gives (see each table module)."""
    if name == "findings":
        return sort_findings(table)
    if name == "connections":
        return table.sort_values(["ts", "connection_id"], kind="stable", na_position="last").reset_index(drop=True)
    if name == "calls":
        order = np.argsort(call_frames(table), kind="stable")
    elif name == "transactions":
        order = np.lexsort((table["stop_seq"].fillna(-1).to_numpy(), table["start_seq"].fillna(-1).to_numpy(),
                            table["ts"].fillna(_FAR_FUTURE).to_numpy()))
    else:  # frames, meter_values, status: capture order
        order = np.argsort(table["seq"].to_numpy(), kind="stable")
    return table.take(order).reset_index(drop=True)
