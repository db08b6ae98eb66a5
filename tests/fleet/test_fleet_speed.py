"""What makes the bucketed engines fast and small: frame lines held compressed and shipped as one object,
buckets spread over the workers, tables written in slices; each still gives the serial tables."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from workbench import jsonout
from workbench.analysis import Capture
from workbench.analysis import load as load_serial
from workbench.capture.writer import CaptureWriter
from workbench.commands.analyze import _payload_json, parquet_ready
from workbench.fleet import dataset, load_with, route
from workbench.fleet.executors import DaskExecutor, SerialExecutor
from workbench.fleet.pipeline import Plan
from workbench.lab import synth
from workbench.testing import charger_records, clean_session_script, factory_header


def test_stage_one_holds_a_file_compressed_and_a_share_pickles_small(tmp_path: Path) -> None:
    path = synth.generate(tmp_path / "day.ocpp.jsonl", chargers=4, days=1, seed=3, write_sidecar=False).path
    routed = route.read_routed(0, path)
    assert routed.frame_count > 5_000
    # Before: every line as its own bytes object, more than the file itself.
    assert routed.__sizeof__() < routed.bytes_read / 3
    connections = list(routed.frames)
    share = routed.take(connections[: len(connections) // 2])
    assert isinstance(share, route.Share)  # one object for Dask to pickle, not a dict of lists
    assert len(pickle.dumps(share, protocol=5)) < routed.bytes_read / 3
    ordinals, items = share.frames()
    assert len(items) == len(share) and list(ordinals) == sorted(ordinals)
    lines = [line for line in path.read_bytes().splitlines()[1:] if b'"type":"frame"' in line]
    assert [bytes(item) for item in items] == [lines[o] for o in ordinals.tolist()]  # the lines, in file order


def test_odd_frames_among_clean_lines_keep_their_place(tmp_path: Path) -> None:
    """Frames the slow path reads (NaN, a lone surrogate) are held decoded among the clean lines of their
    connection; a last line without its newline is a frame too. Bucketed tables equal the serial ones."""
    records = charger_records("CP-ODD", clean_session_script())
    path = tmp_path / "odd.ocpp.jsonl"
    with CaptureWriter(path, factory_header()) as writer:
        for record in records:
            writer.write(record)
    lines = path.read_bytes().splitlines(keepends=True)
    frame_rows = [i for i, line in enumerate(lines) if line.startswith(b'{"type":"frame"')]
    odd = json.loads(lines[frame_rows[2]])
    text = lines[frame_rows[2]].rstrip(b"\n")[:-1] + b',"note":NaN}\n'  # json reads it, orjson does not
    lines[frame_rows[2]] = text
    lines[frame_rows[4]] = lines[frame_rows[4]].replace(b'"ts":"', b'"x":"\\udcff","ts":"', 1)
    lines[-1] = lines[-1].rstrip(b"\n")
    assert lines[-1].startswith(b'{"type":"frame"')
    path.write_bytes(b"".join(lines))
    routed = route.read_routed(0, path)
    assert sum(len(piece.odd) for piece in routed.frames.values()) == 2 and odd["type"] == "frame"
    serial = load_serial(path)
    bucketed = load_with(route.fleet_inputs(path), SerialExecutor(), buckets=2)
    for name in Capture.TABLES:
        pd.testing.assert_frame_equal(getattr(serial, name), getattr(bucketed, name), obj=name)
    assert len(serial.frames) == len(frame_rows)


def test_buckets_go_largest_first_to_the_least_loaded_place() -> None:
    the_plan = Plan([], {}, [], [], {0: {}, 1: {}, 2: {}, 3: {}, 4: {}}, {}, 5,
                    {0: 10_000, 1: 400_000, 2: 300_000, 3: 250_000, 4: 200_000})
    placed = the_plan.placement(2)
    assert [bucket for bucket, _ in placed] == [1, 2, 3, 4, 0]
    load = [0, 0]
    for bucket, place in placed:
        load[place] += the_plan.frames[bucket]
    assert sorted(load) == [560_000, 600_000]  # by bucket number, in turn: 510k and 650k


def test_dask_spreads_the_buckets_over_its_workers(faulty_fleet: Path, dask_client, tmp_path: Path) -> None:
    manifest = dataset.write_fleet(route.fleet_inputs(faulty_fleet), DaskExecutor(dask_client), tmp_path / "ds",
                                   buckets=2)
    assert len(manifest["bucket_workers"]) == 2
    assert len(set(manifest["bucket_workers"].values())) == 2  # before: both on one worker, the other idle


def test_tables_are_written_in_slices_with_the_same_content(faulty_fleet: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cap = load_serial(faulty_fleet)
    for name in ("frames", "calls", "findings"):
        table = getattr(cap, name)
        rows = len(table) // 4 + 1
        assert rows > 10
        monkeypatch.setattr(dataset, "WRITE_ROWS", rows)
        dataset.write_parquet(table, tmp_path / f"{name}.parquet")
        dataset._parquet_ready(table).to_parquet(tmp_path / f"{name}-whole.parquet", index=False)
        assert pq.ParquetFile(tmp_path / f"{name}.parquet").num_row_groups == math.ceil(len(table) / rows) == 4
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"{name}.parquet"),
                                      pd.read_parquet(tmp_path / f"{name}-whole.parquet"), obj=name)


@pytest.mark.parametrize("value", [
    {"a": 1, "b": [1.5, None, True], "c": {"d": "é\u2028"}},
    {"x": float("nan"), "y": [float("inf")]},  # no bare NaN token: null, as jsonout writes it
    {"s": "\udcff"},  # a lone surrogate stays for the column to spell
    [2, "1", "Heartbeat", {}],
    "text", 12345678901234567890, None,
])
def test_payload_json_is_jsonout_dumps(value: object) -> None:
    assert _payload_json(value) == jsonout.dumps(value)


@pytest.mark.parametrize("value", [
    {"a": 1, "b": [1.5, None, True, 1e16], "c": {"d": "é\u2028"}},
    {"x": float("nan"), "y": [float("-inf")]},
    {"s": "\udcff"}, {1: "not a string key"}, 12345678901234567890,
])
def test_compact_payload_json_holds_the_same_value(value: object) -> None:
    from workbench.commands.analyze import _compact_payload_json

    text = _compact_payload_json(value)
    assert json.loads(text) == json.loads(jsonout.dumps(value))
    assert "NaN" not in text and "Infinity" not in text


def test_parquet_ready_leaves_the_table_as_it_was(faulty_fleet: Path) -> None:
    frames = load_serial(faulty_fleet).frames
    before = frames.copy()
    ready = parquet_ready(frames)
    pd.testing.assert_frame_equal(frames, before)  # a shallow copy: the table itself is not changed
    assert ready["payload"].dtype == "str" and ready["raw"].tolist() == frames["raw"].tolist()


def test_a_bucket_travels_packed_and_arrives_equal(faulty_fleet: Path) -> None:
    from workbench.fleet.buckets import BucketTables

    cap = load_serial(faulty_fleet)
    tables = {name: getattr(cap, name) for name in Capture.TABLES}
    unpacked = BucketTables(dict(tables))
    packed = pickle.loads(pickle.dumps(BucketTables(dict(tables)).pack()))
    assert packed.__sizeof__() < unpacked.__sizeof__() / 3  # what Dask counts and moves
    for name in Capture.TABLES:
        pd.testing.assert_frame_equal(tables[name], packed.tables[name], obj=name)


def test_gather_runs_each_on_every_result_in_order(dask_client) -> None:
    executor = DaskExecutor(dask_client)
    handles = [executor.submit(pow, 2, n, place=n % 2) for n in range(6)]
    assert executor.gather(handles, each=lambda r: r + 1) == [2 ** n + 1 for n in range(6)]
    assert SerialExecutor().gather([1, 2], each=str) == ["1", "2"]
