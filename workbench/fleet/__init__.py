"""Fleet scale: the analysis of many charge points by bucket, on one process, local processes or Dask.

``wb.load(paths, engine="dask")`` gives the same :class:`~workbench.analysis.Capture` a serial load
gives; the work is split by charge point bucket (:mod:`.pipeline`) and run by an executor
(:mod:`.executors`). This package is a layer above :mod:`workbench.analysis` (the analysis of one
bucket); it imports dask only when the dask engine is asked for.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from ..analysis import Capture, ProgressCallback
from ..analysis import load as load_serial
from .executors import Executor, cores, make_executor
from .merge import TableMerge
from .pipeline import Plan, run
from .route import fleet_inputs, is_url

ENGINES = ("serial", "processes", "dask")
MIN_PARTITION_BYTES = 48 * 1024 * 1024
"""With ``partitions=0``, captures smaller than this (in all) are analysed in one process."""


def load(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *,
         charge_point_id: str | None = None, tz: str = "UTC",
         progress: ProgressCallback | bool | None = None, partitions: int = 1,
         engine: str | None = None, client: Any = None, buckets: int | None = None) -> Capture:
    """Read captures into one :class:`~workbench.analysis.Capture`, on the engine asked for.

    ``engine="serial"`` (the default) is :func:`workbench.analysis.load`. ``engine="processes"``
    (or ``partitions=N``, N > 1) analyses by charge point bucket in N local processes; ``partitions=0``
    picks one per core for inputs of 48 MiB and more. ``engine="dask"`` runs on ``client`` (a
    ``distributed.Client``, a scheduler address, or None: the current client, else a LocalCluster of
    this machine's cores). Every engine gives equal tables, ``seq`` as one process numbers it; the
    bucketed engines build every table before returning. Inputs may be local paths, folders, gzip, or
    fsspec URLs (``s3://``, ``file://``, ``memory://``; bucketed engines only).
    """
    engine = engine or ("processes" if partitions != 1 else "serial")
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}")
    files = fleet_inputs(paths)  # a missing input fails here, before any work
    if engine == "processes":
        workers = _partition_count(files) if partitions == 0 else max(1, partitions if partitions > 1 else cores())
        if workers <= 1:
            engine = "serial"
    if engine == "serial" and not any(is_url(f) for f in files):
        return load_serial(files, charge_point_id=charge_point_id, tz=tz, progress=progress)
    with make_executor(engine, client=client, workers=workers if engine == "processes" else None) as executor:
        return load_with(files, executor, buckets=buckets, charge_point_id=charge_point_id, tz=tz)


def load_with(files: list[Any], executor: Executor, *, buckets: int | None = None,
              charge_point_id: str | None = None, tz: str = "UTC") -> Capture:
    """A merged :class:`Capture` of ``files`` analysed bucket by bucket on ``executor``."""
    merges: list[TableMerge] = []

    def receive(the_plan: Plan) -> Callable[[Any], Any]:
        # Each bucket's frames into place as it comes, while the workers analyse the next ones.
        merges.append(TableMerge(sum(s["frame_count"] for s in the_plan.summaries)))
        return merges[-1].add

    the_plan, parts = run(files, executor, buckets, charge_point_id=charge_point_id, tz=tz, receive=receive)
    return merges[-1].capture(parts, the_plan.headers, the_plan.problems, files)


def _partition_count(files: list[Any]) -> int:
    try:
        total = sum(os.path.getsize(f) for f in files if not is_url(f))
    except OSError:
        return 1
    return 1 if total < MIN_PARTITION_BYTES else max(1, min(cores(), 8))


__all__ = ["ENGINES", "load", "load_with"]
