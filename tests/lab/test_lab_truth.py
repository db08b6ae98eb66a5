"""The ground-truth sidecar: round trip, exact JSON shape, clear errors on bad files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from workbench.errors import WorkbenchError
from workbench.lab.truth import (
    InjectedFault,
    SessionTruth,
    TruthFormatError,
    read_truth,
    truth_path,
    write_truth,
)

UTC = dt.timezone.utc
START = dt.datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)


def _session(**changes) -> SessionTruth:
    values = dict(
        charge_point_id="CP-1",
        connector_id=1,
        transaction_id=7,
        id_tag="TAG1",
        start_ts=START,
        stop_ts=START + dt.timedelta(minutes=30),
        energy_wh=3456.25,
        meter_start_wh=1000.0,
        meter_stop_wh=4456.25,
    )
    values.update(changes)
    return SessionTruth(**values)


def test_truth_path_appends_suffix() -> None:
    assert truth_path("captures/demo.ocpp.jsonl") == Path("captures/demo.ocpp.jsonl.truth.json")


def test_round_trip_and_exact_document_shape(tmp_path: Path) -> None:
    fault = InjectedFault("kwh_as_wh", "CP-1", 1, START + dt.timedelta(minutes=5), "register sent in kWh")
    open_session = _session(transaction_id=None, stop_ts=None, meter_stop_wh=None, connector_id=2)
    path = write_truth(tmp_path / "x.truth.json", [_session(), open_session], [fault])

    document = json.loads(path.read_text())
    assert list(document) == ["format", "version", "sessions", "faults"]
    assert document["format"] == "ocpp-workbench-truth" and document["version"] == 1
    assert document["sessions"][0] == {
        "charge_point_id": "CP-1",
        "connector_id": 1,
        "transaction_id": 7,
        "id_tag": "TAG1",
        "start_ts": "2026-11-21T10:00:00.123456Z",
        "stop_ts": "2026-11-21T10:30:00.123456Z",
        "energy_wh": 3456.25,
        "meter_start_wh": 1000.0,
        "meter_stop_wh": 4456.25,
    }
    assert document["faults"] == [
        {
            "fault": "kwh_as_wh",
            "charge_point_id": "CP-1",
            "connector_id": 1,
            "ts": "2026-11-21T10:05:00.123456Z",
            "detail": "register sent in kWh",
        }
    ]

    truth = read_truth(path)
    assert truth.sessions == (_session(), open_session)
    assert truth.faults == (fault,)
    assert truth.energy_by_transaction() == {("CP-1", 7): 3456.25}


def test_accepts_mappings_and_string_timestamps(tmp_path: Path) -> None:
    session = {
        "charge_point_id": "CP-9",
        "connector_id": "2",
        "transaction_id": 3,
        "id_tag": "T",
        "start_ts": "2026-01-01T00:00:00+01:00",
        "stop_ts": "2026-01-01T00:10:00Z",
        "energy_wh": 5,
        "meter_start_wh": 0,
        "meter_stop_wh": 5,
    }
    path = write_truth(tmp_path / "m.truth.json", [session])
    document = json.loads(path.read_text())
    assert document["sessions"][0]["start_ts"] == "2025-12-31T23:00:00.000000Z"
    assert document["sessions"][0]["energy_wh"] == 5.0 and document["faults"] == []
    assert read_truth(path).sessions[0].connector_id == 2


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "cannot read"),
        ('{"format": "other", "version": 1}', "not an ocpp-workbench truth file"),
        ('{"format": "ocpp-workbench-truth", "version": 2, "sessions": [], "faults": []}', "version 2"),
        ('{"format": "ocpp-workbench-truth", "version": 1, "sessions": [{}], "faults": []}', "damaged"),
    ],
)
def test_bad_files_raise_a_clear_workbench_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.truth.json"
    path.write_text(content)
    with pytest.raises(TruthFormatError, match=message) as caught:
        read_truth(path)
    assert isinstance(caught.value, WorkbenchError)
    assert str(path) in str(caught.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TruthFormatError, match="cannot read"):
        read_truth(tmp_path / "absent.truth.json")
