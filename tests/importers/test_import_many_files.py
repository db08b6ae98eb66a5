"""Imported logs loaded together keep their connections apart: every import numbers its connections
from import-1, and a second file's import-1 is not the first file's."""

from __future__ import annotations

import json
from pathlib import Path

import workbench as wb


def _open_ocpp_trace(path: Path, charge_point_id: str, second: int) -> Path:
    """A Heartbeat and its answer from one charge point, as Open OCPP Trace v1.1 lines."""
    lines = [
        {"schemaVersion": "1.1", "timestamp": f"2026-01-01T00:00:{second:02d}Z", "ocppVersion": "1.6",
         "chargePointId": charge_point_id, "direction": "cp-to-csms", "messageType": "CALL", "messageId": "m1",
         "action": "Heartbeat", "payload": {}},
        {"schemaVersion": "1.1", "timestamp": f"2026-01-01T00:00:{second + 1:02d}Z", "ocppVersion": "1.6",
         "chargePointId": charge_point_id, "direction": "csms-to-cp", "messageType": "CALLRESULT",
         "messageId": "m1", "payload": {"currentTime": "2026-01-01T00:00:00Z"}},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_two_imported_logs_keep_their_charge_points_apart(tmp_path: Path) -> None:
    first = _open_ocpp_trace(tmp_path / "a.jsonl", "CP-A", 0)
    second = _open_ocpp_trace(tmp_path / "b.jsonl", "CP-B", 10)
    cap = wb.load([first, second])
    assert cap.frames.groupby("charge_point_id", observed=True).size().to_dict() == {"CP-A": 2, "CP-B": 2}
    assert sorted(cap.connections["connection_id"]) == ["import-1", "import-1@2"]
    assert dict(zip(cap.connections["connection_id"], cap.connections["charge_point_id"])) == {
        "import-1": "CP-A", "import-1@2": "CP-B"}
    # each charger used message id m1 once on its own connection: no reuse, every request answered
    assert not len(cap.findings[cap.findings["check"].isin(["duplicate_message_id", "unanswered_request"])])
    assert wb.load(first).frames["connection_id"].unique().tolist() == ["import-1"]  # one file: unchanged


def test_a_second_file_of_records_is_numbered_too(tmp_path: Path) -> None:
    """The record-by-record import path (a file the column path does not take) numbers the same way."""
    first = _open_ocpp_trace(tmp_path / "a.jsonl", "CP-A", 0)
    second = tmp_path / "b.jsonl"
    lines = _open_ocpp_trace(tmp_path / "tmp.jsonl", "CP-B", 10).read_text().splitlines()
    odd = json.loads(lines[1])
    odd["note"] = "an extra key: the file is no longer uniform"
    second.write_text(lines[0] + "\n" + json.dumps(odd) + "\n", encoding="utf-8")
    cap = wb.load([first, second])
    assert cap.frames.groupby("charge_point_id", observed=True).size().to_dict() == {"CP-A": 2, "CP-B": 2}
    assert set(cap.frames["connection_id"]) == {"import-1", "import-1@2"}
