"""A fleet dataset: every table as Parquet partitioned by charge point bucket, written by the workers.

Layout of ``DIR`` (written as ``.DIR.tmp-<id>`` beside it and renamed when complete, so a crashed
run leaves no half dataset under the name)::

    manifest.json                      inputs, versions, buckets, row counts, load problems
    <table>/bucket=<b>/part.parquet    frames, calls, connections, meter_values, status, transactions,
                                       findings (object columns as JSON text, as ``analyze --out``)
    records/bucket=<b>/part.parquet    each bucket's input records (seq, charge point, JSON line), so
                                       one charge point can be analysed again in pandas
    findings/bucket=0/load-problems.parquet   findings of the lines that could not be read

:func:`open_fleet` reads it back: tables as lazy Dask DataFrames, one charge point as a
:class:`~workbench.analysis.Capture`, and small pandas summaries computed on the cluster.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import socket
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import jsonfast
from ..analysis import Capture
from ..capture.identity import UNKNOWN_PREFIX, connection_charge_point_id
from ..errors import WorkbenchError
from ..tables._columns import ARROW_STR
from .buckets import LOAD_PROBLEM_CHECKS, TABLES, analyse_bucket, bucket_of
from .executors import Executor
from .pipeline import run
from .route import Share

MANIFEST = "manifest.json"
DATASET_FORMAT = 1


def _parquet_ready(table: pd.DataFrame) -> pd.DataFrame:
    # The conversion `analyze --out` uses (payloads -- as compact JSON -- and frame_seqs as JSON text), and
    # categories as plain text: buckets have different categories, and one schema across the dataset's
    # files is wanted.
    from ..commands.analyze import parquet_ready

    ready = parquet_ready(table, compact_payloads=True)
    for column in ready.columns:
        dtype = ready[column].dtype
        if not isinstance(dtype, pd.CategoricalDtype):
            continue
        if pd.api.types.is_string_dtype(dtype.categories.dtype):  # Arrow decodes text categories at once
            try:
                values = pa.array(ready[column].array, from_pandas=True).cast(pa.large_string())
            except (pa.ArrowException, TypeError, ValueError):
                pass
            else:
                ready[column] = pd.array(pa.chunked_array([values]), dtype=ARROW_STR)
                continue
        ready[column] = ready[column].astype("str").where(ready[column].notna(), None).astype("str")
    return ready


class BucketWriter:
    """The bucket task of a dataset run: analyse one bucket and write its tables under ``root``;
    returns row counts (small), so no table travels back to the client."""

    __name__ = "write_bucket"

    def __init__(self, root: str, config: Any = None) -> None:
        self.root = root
        self.config = config

    def __call__(self, bucket: int, shares: Sequence[Share], offsets: dict[int, int],
                 headers: Sequence[dict[str, Any]]) -> dict[str, Any]:
        tables = analyse_bucket(shares, offsets, headers, self.config)
        charge_points = tables["frames"]["charge_point_id"]
        counts = {}
        # One table at a time, each let go once written: the worker's peak is the tables plus one
        # Parquet-ready copy, not the tables plus all the copies.
        for name in list(tables):
            counts[name] = self._write(bucket, name, tables.pop(name))
        counts["records"] = self._write(bucket, "records", _records_table(shares, offsets, charge_points))
        return {"bucket": bucket, "rows": counts, "worker": f"{socket.gethostname()}:{os.getpid()}"}

    def _write(self, bucket: int, name: str, table: pd.DataFrame) -> int:
        folder = Path(self.root) / name / f"bucket={bucket}"
        folder.mkdir(parents=True, exist_ok=True)
        write_parquet(table, folder / "part.parquet")
        return len(table)


WRITE_ROWS = 25_000
"""Rows converted and written at a time: the Parquet-ready copy (payloads as JSON text) of one slice,
not of the whole table, is what writing adds to a worker's memory."""


def write_parquet(table: pd.DataFrame, path: Path) -> None:
    """``_parquet_ready(table).to_parquet(path, index=False)``, converted and written ``WRITE_ROWS`` rows at
    a time (a row group each)."""
    import pyarrow.parquet as pq

    writer = None
    try:
        for start in range(0, max(len(table), 1), WRITE_ROWS):
            part = pa.Table.from_pandas(_parquet_ready(table.iloc[start:start + WRITE_ROWS]), preserve_index=False,
                                        schema=None if writer is None else writer.schema)
            if writer is None:
                writer = pq.ParquetWriter(path, part.schema, compression="snappy")
            writer.write_table(part)
            del part
    finally:
        if writer is not None:
            writer.close()
        pa.default_memory_pool().release_unused()  # Arrow keeps freed memory for itself otherwise


def _records_table(shares: Sequence[Share], offsets: dict[int, int], charge_points: pd.Series) -> pd.DataFrame:
    """The bucket's input records: frames (with their seq and charge point, in the frames table's order)
    then connection records. Clean frame lines go to Arrow as they are (no Python str per line)."""
    lines: list[pa.Array] = []
    seqs: list[np.ndarray] = []
    ordered = sorted(shares, key=lambda s: s.file)
    for share in ordered:
        ordinals, items = share.frames()
        seqs.append(ordinals + offsets[share.file])
        if any(item.__class__ is dict for item in items):
            # Records read by the slow path may hold NaN or lone surrogates: json.dumps spells both in ASCII.
            lines.append(pa.array([json.dumps(i) if i.__class__ is dict else bytes(i).decode("utf-8") for i in items],
                                  type=pa.large_string()))
        else:  # lines orjson read: valid UTF-8 (the cast checks it)
            lines.append(pa.array(items, type=pa.binary()).cast(pa.large_string()))
        del items
    records = [r for share in ordered for r in share.records]
    by_connection = {_key(r.get("connection_id")): connection_charge_point_id(r) for r in records
                     if r.get("type") in ("connection_open", "upgrade_rejected")}
    frame_count = sum(len(part) for part in lines)
    lines.append(pa.array([json.dumps(r) for r in records], type=pa.large_string()))
    frame_seqs = np.concatenate(seqs) if seqs else np.zeros(0, dtype=np.int64)
    return pd.DataFrame({
        "kind": pd.array(["frame"] * frame_count + ["connection"] * len(records), dtype="str"),
        "seq": pd.arrays.IntegerArray(np.concatenate([frame_seqs, np.zeros(len(records), dtype=np.int64)]),
                                      np.arange(frame_count + len(records)) >= frame_count),
        "charge_point_id": pd.array(charge_points.tolist() + [by_connection.get(_key(r.get("connection_id")))
                                                              for r in records], dtype="str"),
        "record": pd.array(pa.chunked_array(lines, type=pa.large_string()), dtype=ARROW_STR),
    })


def _key(value: Any) -> Any:
    """A connection id usable as a dict key (a damaged record may hold a list there)."""
    try:
        hash(value)
    except TypeError:
        return None
    return value


def write_fleet(files: Sequence[Any], executor: Executor, out: str | os.PathLike[str], *, buckets: int | None = None,
                charge_point_id: str | None = None, tz: str = "UTC", config: Any = None) -> dict[str, Any]:
    """Analyse ``files`` bucket by bucket on ``executor`` and write the dataset ``out``; returns the manifest.

    ``out`` must be on storage every worker writes to (a local folder for a LocalCluster). An existing
    fleet dataset there is replaced once the new one is complete; any other existing folder is refused."""
    out = Path(out)
    if out.exists() and not (out / MANIFEST).exists() and any(out.iterdir()):
        raise WorkbenchError(f"{out} exists and is not a fleet dataset: choose an empty or new folder")
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir(parents=True)
        the_plan, results = run(files, executor, buckets, charge_point_id=charge_point_id, tz=tz,
                                bucket_task=BucketWriter(str(tmp), config))
        problems = Capture.from_tables(the_plan.headers, {}, the_plan.problems, list(files))
        from ..checks.registry import run_checks

        load_findings = run_checks(problems, config, names=LOAD_PROBLEM_CHECKS)
        if len(load_findings):
            folder = tmp / "findings" / "bucket=0"
            folder.mkdir(parents=True, exist_ok=True)
            write_parquet(load_findings, folder / "load-problems.parquet")
        rows = {name: sum(r["rows"][name] for r in results) for name in (*TABLES, "records")}
        rows["findings"] += len(load_findings)
        manifest = {
            "format": DATASET_FORMAT,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(),
            "engine": executor.name,
            "buckets": the_plan.buckets,
            "inputs": [{"path": s["path"], "frames": s["frame_count"], "bytes_read": s["bytes_read"],
                        "worker": s["worker"]} for s in the_plan.summaries],
            "versions": _versions(),
            "rows": rows,
            "bucket_workers": {str(r["bucket"]): r["worker"] for r in results},
            "problems": [{k: v for k, v in asdict(p).items() if k != "raw"} | {"raw": p.raw[:200]}
                         for p in the_plan.problems],
            "headers": the_plan.headers,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str, ensure_ascii=False) + "\n")
        if out.exists():
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
        return manifest
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("ocpp-workbench", "pandas", "pyarrow", "dask", "distributed"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


class Fleet:
    """A fleet dataset opened for reading (see :func:`open_fleet`)."""

    def __init__(self, root: Path, manifest: dict[str, Any]) -> None:
        self.root = root
        self.manifest = manifest
        self.buckets = int(manifest["buckets"])

    def table(self, name: str) -> Any:
        """Table ``name`` as a lazy Dask DataFrame (with a ``bucket`` column)."""
        if name not in (*TABLES, "records"):
            raise ValueError(f"unknown table {name!r}: one of {', '.join((*TABLES, 'records'))}")
        try:
            import dask.dataframe as dd
        except ImportError:
            from .executors import DASK_MISSING

            raise WorkbenchError(DASK_MISSING) from None
        return dd.read_parquet(str(self.root / name), dataset={"partitioning": "hive"})

    def __getattr__(self, name: str) -> Any:
        if name in TABLES:
            return self.table(name)
        raise AttributeError(name)

    def charge_point(self, charge_point_id: str) -> Capture:
        """One charge point analysed again in this process from its stored records: a :class:`Capture`
        equal to a serial load of that charger's records (seq numbered 0, 1, ... over its frames)."""
        # A connection of no known identity ("unknown:<connection>") was never opened as a charge point's:
        # its records are in bucket 0.
        bucket = 0 if charge_point_id.startswith(UNKNOWN_PREFIX) else bucket_of(charge_point_id, self.buckets)
        folder = self.root / "records" / f"bucket={bucket}"
        if not folder.exists():
            raise WorkbenchError(f"no records of charge point {charge_point_id!r} in {self.root}")
        rows = pd.read_parquet(folder, filters=[("charge_point_id", "==", charge_point_id)])
        if not len(rows):
            raise WorkbenchError(f"no records of charge point {charge_point_id!r} in {self.root}")
        frames = rows[rows["kind"] == "frame"].sort_values("seq", kind="stable")
        connections = rows[rows["kind"] == "connection"]
        records = [jsonfast.loads(line) for line in connections["record"].tolist() + frames["record"].tolist()]
        header = self.manifest["headers"][0] if self.manifest.get("headers") else {}
        return Capture.from_records(records, header)

    # --- fleet summaries (computed by Dask, returned as small pandas DataFrames) ------------------

    def findings_by_check(self) -> pd.DataFrame:
        """Findings counted per charge point, check and severity (columns ``charge_point_id``, ``check``,
        ``severity``, ``findings``)."""
        findings = self.table("findings")[["charge_point_id", "check", "severity"]]
        counts = findings.groupby(["charge_point_id", "check", "severity"], dropna=False).size().compute()
        return counts.rename("findings").reset_index().sort_values(
            ["charge_point_id", "check", "severity"], na_position="last", kind="stable").reset_index(drop=True)

    def top_chargers(self, limit: int = 10) -> pd.DataFrame:
        """The ``limit`` charge points with the most findings (``charge_point_id``, ``findings``, ``errors``)."""
        findings = self.table("findings")[["charge_point_id", "severity"]].dropna(subset=["charge_point_id"])
        findings = findings.assign(errors=(findings["severity"] == "error").astype("int64"), findings=1)
        totals = findings.groupby("charge_point_id")[["findings", "errors"]].sum().compute()
        return totals.sort_values(["findings", "errors"], ascending=False, kind="stable").head(limit).reset_index()

    def energy_per_day(self) -> pd.DataFrame:
        """Energy per charge point and UTC day of session
        start (sessions without a start time are left out), three ways (kWh: meter stop - start,
        register, integrated power) with the sessions and the register/meter mismatch total (kWh)."""
        tx = self.table("transactions")[["charge_point_id", "start_ts", "energy_wh", "energy_register_wh",
                                         "energy_integrated_wh"]]
        tx = tx.dropna(subset=["start_ts"])
        tx = tx.assign(day=tx["start_ts"].dt.floor("D"), sessions=1,
                       mismatch_wh=(tx["energy_register_wh"] - tx["energy_wh"]).abs())
        sums = tx.groupby(["charge_point_id", "day"], dropna=False)[["sessions", "energy_wh", "energy_register_wh",
                                                        "energy_integrated_wh", "mismatch_wh"]].sum().compute()
        out = sums.reset_index().sort_values(["day", "charge_point_id"], kind="stable").reset_index(drop=True)
        for column in ("energy_wh", "energy_register_wh", "energy_integrated_wh", "mismatch_wh"):
            out[column.replace("_wh", "_kwh")] = out.pop(column) / 1000.0
        return out

    def sessions_per_day(self) -> pd.DataFrame:
        """Sessions per UTC day of session start (``day``, ``sessions``, ``charge_points``)."""
        tx = self.table("transactions")[["charge_point_id", "start_ts"]]
        tx = tx.assign(day=tx["start_ts"].dt.floor("D"))
        sessions = tx.groupby("day").size().compute().rename("sessions")
        chargers = tx.groupby("day")["charge_point_id"].nunique().compute().rename("charge_points")
        return pd.concat([sessions, chargers], axis=1).sort_index().reset_index()


def open_fleet(path: str | os.PathLike[str]) -> Fleet:
    """Open a fleet dataset written by ``ocpp-workbench analyze --out DIR --dask``."""
    root = Path(path)
    manifest_path = root / MANIFEST
    if not manifest_path.exists():
        raise WorkbenchError(f"{root} is not a fleet dataset (no {MANIFEST}); write one with "
                             "`ocpp-workbench analyze FILES --out DIR --dask`")
    return Fleet(root, json.loads(manifest_path.read_text()))
