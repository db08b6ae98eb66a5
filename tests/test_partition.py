"""Analysing by charge point in several processes gives exactly the tables one process gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from workbench.analysis import Capture, load
from workbench.capture.reader import CaptureReader
from workbench.capture.writer import CaptureWriter
from workbench.lab import synth
from workbench.partition import partition_of
from workbench.testing import (
    charger_records,
    clean_session_script,
    factory_header,
    merge_records,
)

FAULTS = ["invalid_transition", "kwh_as_wh", "unanswered_call", "duplicate_id", "schema_violation", "meter_gap",
          "offline_queue", "invalid_frame", "callerror", "clock_skew", "reply_without_request",
          "transaction_id_reused", "naive_timestamp", "unreadable_value"]


def _assert_same(serial: Capture, partitioned: Capture) -> None:
    for name in Capture.TABLES:
        pd.testing.assert_frame_equal(getattr(serial, name), getattr(partitioned, name), obj=name)
    assert serial.load_problems == partitioned.load_problems


@pytest.fixture(scope="module")
def faulty_fleet(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fleet") / "fleet.ocpp.jsonl"
    synth.generate(path, chargers=6, days=1, faults=FAULTS, seed=11, write_sidecar=False)
    return path


@pytest.mark.parametrize("partitions", [2, 3])
def test_partitioned_equals_serial_on_a_faulty_fleet(faulty_fleet: Path, partitions: int) -> None:
    serial = load(faulty_fleet)
    assert len(serial.findings) > 0 and serial.frames["charge_point_id"].nunique() == 6
    owners = {partition_of(cp, partitions) for cp in serial.frames["charge_point_id"].unique()}
    assert len(owners) > 1  # the work really is split
    _assert_same(serial, load(faulty_fleet, partitions=partitions))


def test_damaged_lines_rotated_files_and_unknown_connections(tmp_path: Path) -> None:
    records = merge_records(charger_records("CP1", clean_session_script()),
                            charger_records("CP2", clean_session_script(), connection_id="CP2-1"),
                            charger_records("CP3", clean_session_script(), connection_id="CP3-1"))
    # Frames of a connection whose connection_open is missing belong to partition 0.
    orphan = [dict(r, connection_id="lost") for r in charger_records("CP4", clean_session_script())
              if r["type"] == "frame"]
    folder = tmp_path / "site"
    with CaptureWriter(folder / "site.ocpp.jsonl", factory_header(), rotate_bytes=6000) as writer:
        for record in sorted(records + orphan, key=lambda r: r["ts"]):
            writer.write(record)
    files = sorted(folder.iterdir())
    assert len(files) > 2
    with open(files[1], "ab") as fh:
        fh.write(b'{"type":"frame","ts":"2025-01-06T09:00:00Z","connection_id":"CP2-1","direction": broken\n')
        fh.write(b'not json at all\n')
    with open(files[-1], "ab") as fh:
        fh.write(b'{"type":"frame","ts":"2025-01-06T09:00:01Z","connection_id":"CP1-1","dir')  # cut by a crash
    serial = load(folder)
    assert {p.kind for p in serial.load_problems} >= {"invalid_json", "truncated_last_line"}
    _assert_same(serial, load(folder, partitions=2))


def test_a_partition_process_reads_only_its_own_frame_lines(faulty_fleet: Path) -> None:
    from workbench.partition import _Owners

    owners = _Owners(1, 2)
    reader = CaptureReader(faulty_fleet)
    kept = [record for _, record in reader.numbered(owners.skip_frame, report_shared=False)
            if owners.keeps(record) and record["type"] == "frame"]
    total = sum(1 for record in CaptureReader(faulty_fleet) if record["type"] == "frame")
    assert 0 < len(kept) < total
    assert {owners.owner[r["connection_id"]] for r in kept} == {1}
    assert reader.records_read < total  # the other partition's frame lines were not decoded


def test_cli_partitions_give_the_same_report(faulty_fleet: Path) -> None:
    def report(partitions: int) -> dict:
        done = subprocess.run([sys.executable, "-m", "workbench", "analyze", str(faulty_fleet), "--format", "json",
                               "--partitions", str(partitions)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert report(2) == report(1)
