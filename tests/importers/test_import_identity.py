"""Importers find the charge point id by the capture's own rule (issue 9 item 1): the last non-empty
segment of a URL or path, also in a log line, and say how they found it."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.capture.importers import import_file


def _opens(result):
    return [r for r in result.records if r["type"] == "connection_open"]


def test_har_entries_with_django_urls_are_two_charge_points(tmp_path: Path) -> None:
    def entry(cp: str, t: float) -> dict:
        return {"startedDateTime": "2025-01-06T08:00:00.000Z",
                "request": {"url": f"wss://csms.example/ws/ocpp/{cp}/", "headers": []},
                "response": {"headers": [{"name": "Sec-WebSocket-Protocol", "value": "ocpp1.6"}]},
                "_webSocketMessages": [
                    {"type": "send", "time": t, "opcode": 1, "data": json.dumps([2, "1", "Heartbeat", {}])},
                    {"type": "receive", "time": t + 0.1, "opcode": 1,
                     "data": json.dumps([3, "1", {"currentTime": "2025-01-06T08:00:00Z"}])}]}
    path = tmp_path / "two.har"
    path.write_text(json.dumps({"log": {"entries": [entry("CP1", 1736150400.0), entry("CP2", 1736150401.0)]}}))
    opens = _opens(import_file(path))
    assert [(r["charge_point_id"], r["charge_point_id_source"]) for r in opens] == [
        ("CP1", "url_path"), ("CP2", "url_path")]


def test_a_url_in_a_log_line_gives_the_charge_point_id(tmp_path: Path) -> None:
    path = tmp_path / "csms.log"
    path.write_text(
        '2025-01-06T08:00:00.000Z ws://csms:8000/ws/ocpp/CP-9/ received: [2,"1","Heartbeat",{}]\n'
        '2025-01-06T08:00:00.100Z ws://csms:8000/ws/ocpp/CP-9/ sent: [3,"1",{"currentTime":"2025-01-06T08:00:00Z"}]\n'
    )
    opens = _opens(import_file(path))
    assert [(r["charge_point_id"], r["charge_point_id_source"]) for r in opens] == [("CP-9", "url_path")]


def test_an_id_named_in_the_log_or_given_by_the_user_says_so(tmp_path: Path) -> None:
    path = tmp_path / "cp.log"
    path.write_text('2025-01-06T08:00:00.000Z chargePointId=CP-3 received: [2,"1","Heartbeat",{}]\n')
    assert _opens(import_file(path))[0]["charge_point_id_source"] == "log"
    bare = tmp_path / "bare.log"
    bare.write_text('2025-01-06T08:00:00.000Z received: [2,"1","Heartbeat",{}]\n')
    opened = _opens(import_file(bare, charge_point_id="CP-4"))[0]
    assert (opened["charge_point_id"], opened["charge_point_id_source"]) == ("CP-4", "given")


def test_connections_of_an_import_that_names_no_charge_point_are_never_merged(tmp_path: Path) -> None:
    import workbench

    lines = []
    for connection, t in (("a", 0), ("b", 1)):
        lines.append({"timestamp": f"2025-01-06T08:00:0{t}.000Z", "direction": "charger_to_csms",
                      "connectionId": connection, "message": json.dumps([2, f"{connection}1", "Heartbeat", {}])})
    path = tmp_path / "objects.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    opens = _opens(import_file(path))
    assert [(r["charge_point_id"], r["charge_point_id_source"]) for r in opens] == [("unknown", "connection")] * 2
    capture = tmp_path / "imported.ocpp.jsonl"
    from workbench.testing import write_capture
    write_capture(capture, import_file(path).records)
    ids = workbench.load(capture).charge_point_ids
    assert ids == sorted(f"unknown:{r['connection_id']}" for r in opens)
