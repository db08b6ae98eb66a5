"""Imports honour the direction a trace states, in every vocabulary in use, and say where it
contradicts inference; OCPP 2.0.1 traces are reported once, not analysed as 1.6."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import workbench.analysis as analysis
from workbench.capture.importers import import_file

FIXTURES = Path(__file__).parent / "fixtures"
TO_CSMS, TO_CP = "charger_to_csms", "csms_to_charger"


def directions(result) -> list[str]:
    return [r["direction"] for r in result.records if r["type"] == "frame"]


def texts(result) -> list[str]:
    return [r["text"] for r in result.records if r["type"] == "frame"]


def test_debugkit_trace_pairs_and_finds_the_callerror():
    """CS_TO_CSMS / CSMS_TO_CS: the CSMS's CALLERROR answering the charger's DataTransfer is the
    CSMS's; no unanswered request or orphan reply appears where the trace is fully paired."""
    cap = analysis.load(FIXTURES / "debugkit_trace.json")
    assert cap.frames["direction"].tolist() == [TO_CSMS, TO_CP, TO_CSMS, TO_CP, TO_CP, TO_CSMS]
    assert set(cap.findings["check"]) == {"callerror"}
    assert cap.connections["charge_point_id"].tolist() == ["DK-STATION-7"]  # metadata stationId


# (word for charger -> CSMS, word for CSMS -> charger): every vocabulary in use.
VOCABULARIES = [
    ("CS_TO_CSMS", "CSMS_TO_CS"), ("FROM_CP", "TO_CP"), ("TO_CSMS", "FROM_CSMS"), ("cp->cs", "cs->cp"),
    ("CP->CSMS", "CSMS->CP"), ("cp-to-csms", "csms-to-cp"), ("uplink", "downlink"), ("up", "down"),
    ("[client->target]", "[target->client]"), ("client->server", "server->client"), ("ChargePoint", "CentralSystem"),
    ("ChargingStation -> CSMS", "CSMS → ChargingStation"), ("charger_to_csms", "csms_to_charger"),
    ("fromChargePoint", "toChargePoint"), ("cp2csms", "csms2cp"),
]


@pytest.mark.parametrize(("up", "down"), VOCABULARIES)
def test_every_direction_vocabulary_is_honoured(tmp_path, up, down):
    """Frames inference cannot place (DataTransfer both ways, and the CSMS's CALLERROR) go the way stated."""
    events = [(up, [2, "a", "DataTransfer", {"vendorId": "v"}]), (down, [4, "a", "NotImplemented", "", {}]),
              (down, [2, "b", "DataTransfer", {"vendorId": "v"}]), (up, [3, "b", {"status": "Accepted"}])]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps({"timestamp": f"2024-05-01T10:00:0{n}Z", "direction": word, "message": msg,
                                        "chargePointId": "CP-V"}) + "\n" for n, (word, msg) in enumerate(events)))
    result = import_file(path)
    assert directions(result) == [TO_CSMS, TO_CP, TO_CP, TO_CSMS]
    assert not any("assumed" in reason for reason in result.report["reason"])


@pytest.mark.parametrize(("viewpoint", "inbound"), [("csms", TO_CSMS), ("CentralSystem", TO_CSMS),
                                                   ("chargePoint", TO_CP), ("charger", TO_CP)])
def test_in_and_out_follow_a_stated_viewpoint(tmp_path, viewpoint, inbound):
    outbound = TO_CP if inbound == TO_CSMS else TO_CSMS
    document = {"metadata": {"chargePointId": "CP-IO", "viewpoint": viewpoint}, "events": [
        {"timestamp": "2024-05-01T10:00:00Z", "direction": "in", "message": [2, "a", "DataTransfer", {"vendorId": "v"}]},
        {"timestamp": "2024-05-01T10:00:01Z", "direction": "out", "message": [3, "a", {"status": "Accepted"}]},
    ]}
    path = tmp_path / "io.json"
    path.write_text(json.dumps(document))
    result = import_file(path)
    assert directions(result) == [inbound, outbound]
    assert not any("could not tell" in reason for reason in result.report["reason"])


def test_a_stated_direction_wins_over_inference_and_the_conflict_is_reported(tmp_path):
    path = tmp_path / "c.jsonl"
    rows = [("CSMS_TO_CS", [2, "1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]),
            ("CSMS_TO_CS", [3, "1", {"status": "Accepted", "currentTime": "2024-05-01T10:00:00Z", "interval": 60}])]
    path.write_text("".join(json.dumps({"ts": "2024-05-01T10:00:00Z", "dir": d, "message": m}) + "\n" for d, m in rows))
    result = import_file(path)
    assert directions(result) == [TO_CP, TO_CP]  # as stated
    conflicts = result.report[result.report["reason"].str.startswith("direction conflict")]
    assert len(conflicts) == 2
    assert "BootNotification stated csms_to_charger" in " ".join(conflicts["text"])


def test_log_lines_with_proxy_and_2_0_1_direction_words(tmp_path):
    path = tmp_path / "proxy.log"
    path.write_text('2024-05-01T10:00:00Z [client->target] [2,"1","DataTransfer",{"vendorId":"x"}]\n'
                    '2024-05-01T10:00:01Z [target->client] [4,"1","NotImplemented","",{}]\n'
                    '2024-05-01T10:00:02Z CSMS_TO_CS [2,"2","DataTransfer",{"vendorId":"x"}]\n'
                    '2024-05-01T10:00:03Z CS_TO_CSMS: [3,"2",{"status":"Accepted"}]\n')
    assert directions(import_file(path)) == [TO_CSMS, TO_CP, TO_CP, TO_CSMS]


def test_published_open_ocpp_trace_v1_1_is_read():
    result = import_file(FIXTURES / "published.open-ocpp-trace.jsonl")
    assert result.format == "open-ocpp-trace" and result.frames_recovered == 6 and result.lines_skipped == 0
    assert directions(result) == [TO_CSMS, TO_CP, TO_CSMS, TO_CP, TO_CP, TO_CSMS]
    assert texts(result)[3] == '[4,"p2","NotSupported","no",{}]'
    assert texts(result)[0] == '[2,"p1","BootNotification",{"chargePointVendor":"Pub","chargePointModel":"P"}]'
    cap = analysis.load(FIXTURES / "published.open-ocpp-trace.jsonl")
    assert set(cap.findings["check"]) == {"callerror"}


def test_ocpp_2_0_1_trace_is_one_finding_not_a_cascade():
    result = import_file(FIXTURES / "ocpp201_events.json")
    assert len(texts(result)) == 6 and result.header["ocpp_version"] == "2.0.1"  # nothing lost
    assert directions(result) == [TO_CSMS, TO_CP, TO_CSMS, TO_CP, TO_CP, TO_CSMS]
    cap = analysis.load(FIXTURES / "ocpp201_events.json")
    assert len(cap.findings) == 1
    assert "OCPP 2.0.1, not analysed" in cap.findings["message"].iloc[0]


def test_ocpp_version_field_of_a_v1_1_trace_is_honoured(tmp_path):
    path = tmp_path / "v.jsonl"
    path.write_text(json.dumps({"schemaVersion": "1.1", "timestamp": "2024-05-01T10:00:00Z", "ocppVersion": "2.0.1",
                                "chargePointId": "CS-9", "direction": "cp-to-csms", "messageType": "CALL",
                                "messageId": "1", "action": "Heartbeat", "payload": {}}) + "\n")
    result = import_file(path)
    assert result.header["ocpp_version"] == "2.0.1"
    assert (result.report["reason"] == "OCPP 2.0.1, not analysed").sum() == 1


def test_a_protocol_field_naming_no_ocpp_version_changes_nothing(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"ts": "2024-05-01T10:00:00Z", "protocol": "websocket", "direction": "CP->CSMS",
                                "message": [2, "1", "Heartbeat", {}]}) + "\n")
    result = import_file(path)
    assert "ocpp_version" not in result.header and result.lines_skipped == 0


def test_an_imported_2_0_1_trace_written_as_a_capture_stays_one_finding(tmp_path):
    from workbench.cli import main

    out = tmp_path / "201.ocpp.jsonl"
    assert main(["import", str(FIXTURES / "ocpp201_events.json"), "-o", str(out)]) == 0
    cap = analysis.load(out)
    assert len(cap.findings) == 1 and "OCPP 2.0.1, not analysed" in cap.findings["message"].iloc[0]
    assert "6 frames" in cap.findings["message"].iloc[0] and len(cap.connections) == 1
