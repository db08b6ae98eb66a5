"""The two stages of a fleet analysis, on any :class:`~.executors.Executor`.

1. Read each input file once, in parallel across files (:func:`~.route.read_routed`).
2. Plan: every connection belongs to the bucket of the charge point its first ``connection_open``
   (or ``upgrade_rejected``) names, in input order; frames and records of a connection never opened,
   extra headers and unknown records go to bucket 0. A frame's ``seq`` is the number of frames in the
   files before its file plus its place in its file: what one process numbering the input gives.
3. Each bucket takes its share of every file (:meth:`~.route.RoutedFile.take`, run where that file's
   result is) and is analysed on its own (:func:`~.buckets.analyse_bucket`, or a ``bucket_task``).

Damaged lines become :class:`~workbench.analysis.LoadProblem` rows in stage 1 and findings once, when
the buckets are merged (or in bucket 0's findings of a dataset): nothing is dropped.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..analysis import LoadProblem
from .buckets import BucketTables, analyse_bucket, bucket_of
from .executors import Executor
from .route import RoutedFile, Share, read_routed


def _read_summary(routed: RoutedFile) -> dict[str, Any]:
    summary = routed.summary()
    summary["record_connections"] = sorted({r.get("connection_id") for r in routed.connection_records
                                            if isinstance(r.get("connection_id"), str)})
    summary["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return summary


def _take(routed: RoutedFile, connection_ids: list[Any], opened: set[Any] | None) -> Share:
    return routed.take(connection_ids, opened)


@dataclass
class Plan:
    """What stage 1 told the driver: per file its header, frame count and problems; the buckets' shares."""

    summaries: list[dict[str, Any]]
    offsets: dict[int, int]
    headers: list[dict[str, Any]]
    problems: list[LoadProblem]
    shares: dict[int, dict[int, list[Any]]]  # bucket -> file -> connection ids
    owner: dict[str, int]
    buckets: int
    frames: dict[int, int]  # bucket -> its frames

    def placement(self, workers: int) -> list[tuple[int, int]]:
        """(bucket, place) for every bucket to analyse, largest first: each given to the place (0 to
        ``workers`` - 1) with the fewest frames so far, counting a bucket's fixed cost as 50k frames
        (longest-processing-time-first: no worker is left with two large buckets while another idles)."""
        load = [0] * max(1, workers)
        placed = []
        for bucket in sorted(set(self.shares) | {0}, key=lambda b: (-self.frames.get(b, 0), b)):
            place = load.index(min(load))
            load[place] += self.frames.get(bucket, 0) + 50_000
            placed.append((bucket, place))
        return placed


FRAMES_PER_BUCKET = 250_000
"""Default bucket size: a bucket costs about 0.17 s of fixed work (pandas calls per table and check) and
about 1.8 KB of worker memory per frame while analysed and written, so 250k frames keep the fixed part
near 5 % and a bucket near 0.45 GB (docs/scaling.md)."""


def bucket_count(total_frames: int, workers: int) -> int:
    """Buckets for ``total_frames``: one per 250k frames, and at least one per worker when there are
    20k frames per worker or more (below that the fixed cost of a bucket outweighs the parallelism)."""
    count = -(-total_frames // FRAMES_PER_BUCKET)
    if total_frames >= 20_000 * workers:
        count = max(count, workers)
    return max(1, count)


def plan(summaries: list[dict[str, Any]], buckets: int | None, workers: int = 1) -> Plan:
    """Assign every connection of every file to a bucket (see the module docstring); ``buckets`` None
    picks :func:`bucket_count`."""
    summaries = sorted(summaries, key=lambda s: s["index"])
    if buckets is None:
        buckets = bucket_count(sum(s["frame_count"] for s in summaries), workers)
    owner: dict[str, int] = {}
    for summary in summaries:
        for connection_id, charge_point_id in summary["opens"]:
            if isinstance(connection_id, str):
                owner.setdefault(connection_id, bucket_of(charge_point_id, buckets))
    offsets: dict[int, int] = {}
    total = 0
    shares: dict[int, dict[int, list[Any]]] = {}
    frames: dict[int, int] = {}
    for summary in summaries:
        offsets[summary["index"]] = total
        total += summary["frame_count"]
        counts = summary["connections"]
        seen: set[Any] = set()
        for connection_id in [*counts, *summary["record_connections"]]:
            if connection_id in seen:
                continue
            seen.add(connection_id)
            bucket = owner.get(connection_id, 0) if isinstance(connection_id, str) else 0
            shares.setdefault(bucket, {}).setdefault(summary["index"], []).append(connection_id)
            frames[bucket] = frames.get(bucket, 0) + counts.get(connection_id, 0)
    return Plan(summaries, offsets, [s["header"] for s in summaries],
                [p for s in summaries for p in s["problems"]], shares, owner, buckets, frames)


BucketTask = Callable[[int, Sequence[Share], dict[int, int], Sequence[dict[str, Any]]], Any]


class Analyse:
    """The default bucket task: the bucket's tables (:class:`~.buckets.BucketTables`), pickled in the task
    when ``pack`` (they will travel to another process)."""

    __name__ = "analyse"

    def __init__(self, pack: bool) -> None:
        self.pack = pack

    def __call__(self, bucket: int, shares: Sequence[Share], offsets: dict[int, int],
                 headers: Sequence[dict[str, Any]]) -> BucketTables:
        tables = BucketTables(analyse_bucket(shares, offsets, headers))
        return tables.pack() if self.pack else tables


def run(files: Sequence[str | Path], executor: Executor, buckets: int | None = None, *, charge_point_id: str | None = None,
        tz: str = "UTC", bucket_task: BucketTask | None = None,
        receive: Callable[[Plan], Callable[[Any], Any]] | None = None) -> tuple[Plan, list[Any]]:
    """Read ``files`` once, route and analyse every bucket with ``bucket_task`` (default: its tables).
    Returns the plan and the buckets' results (buckets without a frame or record are skipped;
    bucket 0 always runs, so there is at least one result). ``receive(plan)``, when given, returns what
    to run here on each result as it comes (see :meth:`~.executors.Executor.gather`); its return values
    are the results."""
    bucket_task = bucket_task or Analyse(pack=executor.ships_results)
    # Files in turn over the workers (rotated files are about equally large); Dask alone put 47 MB of
    # 55 on one worker and 8 on the other.
    reads = [executor.submit(read_routed, index, path, charge_point_id, tz, place=index)
             for index, path in enumerate(files)]
    summaries = executor.gather([executor.nearby(_read_summary, read) for read in reads])
    the_plan = plan(summaries, buckets, executor.workers)
    opened = set(the_plan.owner)
    results = {}
    for bucket, place in the_plan.placement(executor.workers):  # largest first, spread over the workers
        by_file = the_plan.shares.get(bucket, {})
        files_here = sorted(set(by_file) | (set(range(len(files))) if bucket == 0 else set()))
        shares = [executor.nearby(_take, reads[index], by_file.get(index, []), opened if bucket == 0 else None)
                  for index in files_here]
        results[bucket] = executor.submit(bucket_task, bucket, shares, the_plan.offsets, the_plan.headers, place=place)
    del reads  # the files' results are needed only by the takes: let the workers free them after
    each = receive(the_plan) if receive is not None else _unpack
    return the_plan, executor.gather([results[bucket] for bucket in sorted(results)], each=each)


def _unpack(result: Any) -> Any:
    if isinstance(result, BucketTables):
        result.tables  # noqa: B018  (unpickled as it comes, while the workers analyse the next buckets)
    return result
