"""Analyse a large capture in charge-point partitions, one process per partition.

Every table and check depends only on one charge point's frames (see docs/analysis.md), so a
capture can be split by charge point, each part analysed on its own core, and the tables merged.
Each partition reads the whole file but decodes only its own frame lines (and every connection,
header and damaged line, which are few): a frame line's connection id is found with a byte search.
A charge point belongs to partition ``crc32(id) % N``; frames of a connection with no
``connection_open`` record go to partition 0.

Frames are numbered by their place in the files while partitions run; the merge sorts every table
into the order one analysis gives and renumbers ``seq`` (and every column citing it) to 0, 1, 2, ...
so the result equals :func:`workbench.analysis.load` without partitions (tests/test_partition.py).

Partition 0 runs in the calling process; the others run as ``python -m workbench.partition`` and
stream their tables back as a pickle on stdout. Used by :func:`workbench.analysis.load` for large
native captures when the machine has more than one core.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .analysis import Capture, LoadProblem, ProgressCallback, _route
from .capture.identity import connection_charge_point_id
from .capture.reader import CaptureReader
from .checks.registry import run_checks, sort_findings
from .tables.transactions import _FAR_FUTURE

FILE_KEY_SHIFT = 40  # a frame's provisional seq: file index << 40 | line number
MIN_PARTITION_BYTES = 48 * 1024 * 1024
"""Captures smaller than this (in all) are analysed in one process: starting another costs about a second."""

TABLES = ("frames", "calls", "connections", "meter_values", "status", "transactions", "findings")
SEQ_COLUMNS = {
    "frames": ("seq",),
    "calls": ("request_seq", "reply_seq"),
    "meter_values": ("seq",),
    "status": ("seq",),
    "transactions": ("start_seq", "start_reply_seq", "stop_seq"),
}
"""Columns holding a frames.seq, per table (findings cite theirs in ``frame_seqs``)."""
LOAD_PROBLEM_CHECKS = ["capture_read", "import"]


def partition_of(charge_point_id: Any, partitions: int) -> int:
    """The partition a charge point belongs to (stable across runs and processes)."""
    if not isinstance(charge_point_id, str):
        return 0
    return zlib.crc32(charge_point_id.encode("utf-8", "surrogatepass")) % partitions


def partition_count(paths: Sequence[Path]) -> int:
    """How many partitions to use for these files: 1 when small, else the cores this process may use."""
    try:
        total = sum(p.stat().st_size for p in paths)
    except OSError:
        return 1
    if total < MIN_PARTITION_BYTES:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


class _Owners:
    """Which partition each connection's records belong to, learnt from its connection_open record."""

    def __init__(self, index: int, partitions: int) -> None:
        self.index = index
        self.partitions = partitions
        self.owner: dict[str, int] = {}
        self.mine: set[bytes] = set()  # UTF-8 ids of connections of this partition / of the others
        self.others: set[bytes] = set()

    def skip_frame(self, connection_id: bytes) -> bool:
        if connection_id in self.mine:
            return False
        # A connection without a connection_open record so far belongs to partition 0.
        return connection_id in self.others if self.index == 0 else True

    def keeps(self, record: dict[str, Any]) -> bool:
        kind = record.get("type")
        connection_id = record.get("connection_id")
        if kind in ("connection_open", "upgrade_rejected"):
            owner = partition_of(connection_charge_point_id(record), self.partitions)
            if isinstance(connection_id, str):
                owner = self.owner.setdefault(connection_id, owner)
                (self.mine if owner == self.index else self.others).add(
                    connection_id.encode("utf-8", "surrogatepass"))
            return owner == self.index
        if kind in ("frame", "connection_close"):
            owner = self.owner.get(connection_id, 0) if isinstance(connection_id, str) else 0
            return owner == self.index
        return self.index == 0  # extra headers, unknown record types: reported once


def analyse_partition(files: Sequence[Path], index: int, partitions: int,
                      progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Every table of partition ``index``, with provisional seqs (file index << 40 | line number)."""
    from .tables.frames import FrameCollector

    owners = _Owners(index, partitions)
    collector = FrameCollector()
    collector.seqs = []
    connections: list[dict[str, Any]] = []
    problems: list[LoadProblem] = []
    headers: list[dict[str, Any]] = []
    sizes = [p.stat().st_size for p in files]
    done = 0
    for file_index, path in enumerate(files):
        reader = CaptureReader(path)
        headers.append(reader.header)
        base = file_index << FILE_KEY_SHIFT
        for line_no, record in reader.numbered(owners.skip_frame, report_shared=index == 0):
            if not owners.keeps(record):
                continue
            if record["type"] == "frame":
                collector.add(record)
                collector.seqs.append(base | line_no)
            else:
                _route(record, collector, connections, problems, str(path), line_no, "capture_read")
        for problem in reader.problems:
            problems.append(LoadProblem(problem.path, problem.line_no, problem.kind, problem.detail,
                                        problem.raw, "capture_read"))
        done += sizes[file_index]
        if progress is not None:
            progress(done, sum(sizes))
    cap = Capture(headers, collector, connections, problems, list(files))
    tables = {name: getattr(cap, name) for name in TABLES}
    return {"tables": tables, "load_problems": cap.load_problems, "headers": headers}


def load_partitioned(files: Sequence[Path], partitions: int,
                     progress: ProgressCallback | None = None) -> Capture:
    """A :class:`Capture` of native capture files, analysed in ``partitions`` processes and merged."""
    files = [Path(f) for f in files]
    children = [_start_child(files, index, partitions) for index in range(1, partitions)]
    try:
        parts = [analyse_partition(files, 0, partitions, progress)]
        for child in children:
            parts.append(_result_of(child))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
            if child.stdout is not None:
                child.stdout.close()
    return _merge(parts, files)


def _start_child(files: Sequence[Path], index: int, partitions: int) -> subprocess.Popen[bytes]:
    job = json.dumps({"files": [str(f) for f in files], "index": index, "partitions": partitions})
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    return subprocess.Popen([sys.executable, "-m", "workbench.partition", job], stdout=subprocess.PIPE, env=env)


def _result_of(child: subprocess.Popen[bytes]) -> dict[str, Any]:
    assert child.stdout is not None
    try:
        result = pickle.load(child.stdout)  # streamed: no second copy of the bytes in memory
    except (EOFError, pickle.UnpicklingError) as exc:
        child.wait()
        raise RuntimeError(f"a partition process failed (exit code {child.returncode}); "
                           f"its error is printed above") from exc
    child.wait()
    return result


def _merge(parts: list[dict[str, Any]], files: Sequence[Path]) -> Capture:
    frames = pd.concat([p["tables"]["frames"] for p in parts], ignore_index=True)
    order = np.argsort(frames["seq"].to_numpy(), kind="stable")
    frames = frames.take(order).reset_index(drop=True)
    keys = frames["seq"].to_numpy()  # provisional seqs, sorted: a seq is its position here
    frames["seq"] = np.arange(len(frames), dtype=np.int64)
    tables: dict[str, pd.DataFrame] = {"frames": frames}
    for name in TABLES[1:]:
        table = _concat([p["tables"][name] for p in parts])
        for column in SEQ_COLUMNS.get(name, ()):
            table[column] = _renumber(table[column], keys)
        if name == "findings":
            table["frame_seqs"] = pd.Series(
                [[int(s) for s in np.searchsorted(keys, seqs)] for seqs in table["frame_seqs"].tolist()],
                dtype="object")
        tables[name] = _in_order(name, table)
    problems = [problem for p in parts for problem in p["load_problems"]]
    problems.sort(key=lambda p: (files.index(Path(p.path)) if Path(p.path) in files else len(files),
                                 p.line_no if p.line_no is not None else -1))
    cap = Capture.from_tables(parts[0]["headers"], tables, problems, files)
    # Findings about unreadable lines cite no frame: report them again from the merged problems, in
    # line order (each partition reported its own lines).
    findings = tables["findings"]
    fresh = run_checks(cap, names=LOAD_PROBLEM_CHECKS)
    kept = findings[~findings["check"].isin(LOAD_PROBLEM_CHECKS).to_numpy()]
    cap.__dict__["findings"] = (sort_findings(pd.concat([kept, fresh], ignore_index=True)) if len(fresh)
                                else kept.reset_index(drop=True))
    return cap


def _concat(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Tables of the partitions as one; categorical columns get the union of their (sorted) categories."""
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


def _renumber(column: pd.Series, keys: np.ndarray) -> Any:
    """Provisional seqs -> final seqs (positions in ``keys``); missing stays missing."""
    if isinstance(column.dtype, pd.Int64Dtype):
        missing = column.isna().to_numpy()
        values = np.searchsorted(keys, column.to_numpy(dtype=np.int64, na_value=0))
        return pd.arrays.IntegerArray(values.astype(np.int64), missing)
    return np.searchsorted(keys, column.to_numpy(dtype=np.int64)).astype(np.int64)


def _in_order(name: str, table: pd.DataFrame) -> pd.DataFrame:
    """A merged table in the order its builder gives (see each table module)."""
    if name == "findings":
        return sort_findings(table)
    if name == "connections":
        return table.sort_values(["ts", "connection_id"], kind="stable", na_position="last").reset_index(drop=True)
    if name == "calls":
        anchor = table["request_seq"].fillna(table["reply_seq"]).to_numpy(dtype=np.int64, na_value=-1)
        order = np.argsort(anchor, kind="stable")
    elif name == "transactions":
        order = np.lexsort((table["stop_seq"].fillna(-1).to_numpy(), table["start_seq"].fillna(-1).to_numpy(),
                            table["ts"].fillna(_FAR_FUTURE).to_numpy()))
    else:  # meter_values, status: capture order
        order = np.argsort(table["seq"].to_numpy(), kind="stable")
    return table.take(order).reset_index(drop=True)


def main(argv: Sequence[str]) -> int:
    """``python -m workbench.partition JOB``: analyse one partition and pickle its tables to stdout."""
    job = json.loads(argv[0])
    result = analyse_partition([Path(f) for f in job["files"]], job["index"], job["partitions"])
    with os.fdopen(sys.stdout.fileno(), "wb", closefd=False) as out:
        pickle.dump(result, out, protocol=pickle.HIGHEST_PROTOCOL)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
