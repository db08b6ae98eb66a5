"""Each fixture (one per format) imports to the frames it holds, with direction, charge point and time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.capture import CaptureWriter, read_capture
from workbench.capture.importers import import_file
from workbench.capture.records import parse_ts
from workbench.ocppj import MessageKind, parse_frame

FIXTURES = Path(__file__).parent / "fixtures"

# fixture -> (format detected, frames recovered, frames kept damaged, lines skipped, charge points, connections)
# Counted by hand from the fixture files.
EXPECTED = {
    "bare_frames.ndjson": ("ndjson", 6, 0, 0, {"unknown"}, 1),
    "charger_wrapped.log": ("log", 4, 0, 2, {"unknown"}, 1),
    "chrome.har": ("har", 6, 0, 0, {"HAR-SIM-1"}, 1),
    "damaged.log": ("log", 2, 4, 1, {"DMG-1"}, 1),
    "debugkit_trace.json": ("json-trace", 6, 0, 0, {"DK-STATION-7"}, 1),
    "docker_compose.log": ("log", 4, 0, 2, {"CP_1"}, 1),
    "escaped_json.log": ("log", 4, 0, 1, {"GW-9"}, 1),
    "evcc.log": ("log", 6, 0, 3, {"EVB-P1234"}, 1),
    "events_trace.json": ("json-trace", 4, 0, 0, {"EV-TRACE-1"}, 1),
    "flows.mitm": ("mitmproxy", 6, 1, 1, {"MITM-CP-1", "MITM-CP-2"}, 2),
    "frames_array.json": ("json-array", 5, 0, 0, {"unknown"}, 1),
    "home_assistant.log": ("log", 8, 0, 5, {"garage"}, 1),
    "interleaved.log": ("log", 8, 0, 1, {"CP_A", "CP_B"}, 2),
    "issue_quote.md": ("log", 4, 0, 3, {"MD-CP-3"}, 1),
    "journald.log": ("log", 2, 0, 1, {"JD-1"}, 1),
    "microocpp.log": ("log", 6, 1, 5, {"unknown"}, 1),
    "objects.jsonl": ("json-objects", 4, 0, 1, {"OBJ-1"}, 1),
    "ocpp201_events.json": ("json-trace", 6, 0, 1, {"CS-201"}, 1),  # the one skipped row: "OCPP 2.0.1, not analysed"
    "pretty_printed.log": ("log", 2, 0, 2, {"unknown"}, 1),
    "published.open-ocpp-trace.jsonl": ("open-ocpp-trace", 6, 0, 0, {"PUB-1"}, 1),
    "reverse_export.log": ("log", 5, 0, 0, {"unknown"}, 1),
    "steve.log": ("log", 8, 0, 2, {"CP-STEVE-7"}, 2),
    "timestamp_frame.log": ("log", 6, 0, 0, {"unknown"}, 1),
    "trace.open-ocpp-trace.jsonl": ("open-ocpp-trace", 4, 0, 0, {"OT-1"}, 1),
}


def frames_of(result):
    return [r for r in result.records if r["type"] == "frame"]


def test_every_fixture_has_an_expectation():
    assert {p.name for p in FIXTURES.iterdir()} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_imports_to_its_frames(name, tmp_path):
    fmt, recovered, damaged, skipped, cps, connections = EXPECTED[name]
    result = import_file(FIXTURES / name)
    assert result.format == fmt
    assert (result.frames_recovered, result.frames_damaged, result.lines_skipped) == (recovered, damaged, skipped)
    opens = [r for r in result.records if r["type"] == "connection_open"]
    assert {r["charge_point_id"] for r in opens} == cps
    assert len(opens) == connections
    assert result.header["proxy_mode"] == f"import:{fmt}"
    # Every frame has an open connection before it, and recovered frames parse as OCPP-J.
    seen: set[str] = set()
    for record in result.records:
        if record["type"] == "connection_open":
            seen.add(record["connection_id"])
        elif record["type"] == "frame":
            assert record["connection_id"] in seen
    good = [f for f in frames_of(result) if parse_frame(f.get("text")).kind is not MessageKind.INVALID]
    assert len(good) == recovered
    # The records are a valid native capture: written and read back unchanged.
    path = tmp_path / "out.ocpp.jsonl"
    with CaptureWriter(path, result.header) as writer:
        for record in result.records:
            writer.write(record)
    header, records, problems = read_capture(path)
    assert records == result.records and problems == []


def test_direction_from_dialect_words_and_logger_side():
    # Home Assistant is the CSMS: "receive message" is charger -> CSMS.
    ha = frames_of(import_file(FIXTURES / "home_assistant.log"))
    assert [f["direction"] for f in ha[:4]] == ["charger_to_csms", "csms_to_charger", "csms_to_charger", "charger_to_csms"]
    # MicroOcpp runs on the charger: "Send" is charger -> CSMS.
    mo = frames_of(import_file(FIXTURES / "microocpp.log"))
    assert mo[0]["direction"] == "charger_to_csms" and mo[1]["direction"] == "csms_to_charger"
    # SteVe: a CSMS-initiated RemoteStartTransaction is "Sending", its reply "Received".
    steve = frames_of(import_file(FIXTURES / "steve.log"))
    assert "RemoteStartTransaction" in steve[-2]["text"] and steve[-2]["direction"] == "csms_to_charger"
    assert steve[-1]["direction"] == "charger_to_csms"


def test_direction_inferred_from_action_and_pairing_when_the_log_has_none():
    frames = frames_of(import_file(FIXTURES / "timestamp_frame.log", charge_point_id="CP9"))
    # BootNotification comes from the charger; ChangeAvailability from the CSMS; replies reverse them.
    assert [f["direction"] for f in frames[:4]] == [
        "charger_to_csms", "csms_to_charger", "csms_to_charger", "charger_to_csms"]


def test_dialect_direction_words_flip_when_the_log_is_written_by_the_other_side(tmp_path):
    # The python ocpp library used as a charge point logs "send" for its own BootNotification.
    log = tmp_path / "cp.log"
    log.write_text('INFO:ocpp:CP7: send [2,"1","BootNotification",{"chargePointVendor":"a","chargePointModel":"b"}]\n'
                   'INFO:ocpp:CP7: receive message [3,"1",{"status":"Accepted","currentTime":"2024-05-01T10:00:00Z","interval":5}]\n')
    frames = frames_of(import_file(log))
    assert [f["direction"] for f in frames] == ["charger_to_csms", "csms_to_charger"]


def test_interleaved_charge_points_are_paired_separately():
    result = import_file(FIXTURES / "interleaved.log")
    by_connection: dict[str, list[dict]] = {}
    opens = {r["connection_id"]: r["charge_point_id"] for r in result.records if r["type"] == "connection_open"}
    for frame in frames_of(result):
        by_connection.setdefault(opens[frame["connection_id"]], []).append(frame)
    # Same message id "x-1" on both: CP_A's is a CSMS TriggerMessage, CP_B's a charger Heartbeat.
    a = {json.loads(f["text"])[1] + str(json.loads(f["text"])[0]): f["direction"] for f in by_connection["CP_A"]}
    b = {json.loads(f["text"])[1] + str(json.loads(f["text"])[0]): f["direction"] for f in by_connection["CP_B"]}
    assert a["x-12"] == "csms_to_charger" and a["x-13"] == "charger_to_csms"
    assert b["x-12"] == "charger_to_csms" and b["x-13"] == "csms_to_charger"


def test_pretty_printed_frame_keeps_its_text_and_parses_to_the_same_json():
    frames = frames_of(import_file(FIXTURES / "pretty_printed.log", charge_point_id="PP-01"))
    assert "\n" in frames[0]["text"]
    assert json.loads(frames[0]["text"]) == [2, "pp-1", "StartTransaction", {
        "connectorId": 1, "idTag": "PRETTY01", "meterStart": 5000, "timestamp": "2024-05-01T10:00:01Z"}]
    assert frames[0]["direction"] == "charger_to_csms" and frames[1]["direction"] == "csms_to_charger"


def test_wrapped_charger_lines_are_joined_and_offsets_applied():
    frames = frames_of(import_file(FIXTURES / "charger_wrapped.log", charge_point_id="WB-7"))
    boot = json.loads(frames[0]["text"])
    assert boot[3]["chargePointModel"] == "Home 7" and boot[3]["imsi"] == "262010000000001"
    # "+02:00" in the line: 10:00:01.004 local is 08:00:01.004 UTC (the syslog time is not used).
    assert frames[0]["ts"] == "2024-05-01T08:00:01.004000Z"
    assert len(json.loads(frames[2]["text"])[3]["meterValue"][0]["sampledValue"]) == 2


def test_escaped_frames_are_unescaped():
    frames = frames_of(import_file(FIXTURES / "escaped_json.log"))
    assert frames[0]["text"] == '[2,"e1","BootNotification",{"chargePointVendor":"Kempower","chargePointModel":"S"}]'
    # 7 fractional digits: kept to the microsecond.
    assert frames[0]["ts"] == "2024-05-01T10:00:00.123456Z"
    assert frames[2]["text"] == '[2,"e2","Heartbeat",{}]'


def test_reverse_chronological_export_is_put_in_order():
    result = import_file(FIXTURES / "reverse_export.log", charge_point_id="WB-REV")
    frames = frames_of(result)
    times = [parse_ts(f["ts"]) for f in frames]
    assert times == sorted(times)
    assert '"StartTransaction"' in frames[0]["text"] and '"StopTransaction"' in frames[-1]["text"]
    assert frames[0]["ts"] == "2024-05-01T10:00:05.100000Z"  # +02:00 applied
    assert result.report["reason"].str.contains("newest first").any()


def test_time_without_zone_uses_tz_and_is_noted():
    utc = frames_of(import_file(FIXTURES / "steve.log"))
    berlin = import_file(FIXTURES / "steve.log", tz="Europe/Berlin")
    assert utc[0]["ts"] == "2024-05-01T10:00:00.140000Z"
    assert frames_of(berlin)[0]["ts"] == "2024-05-01T08:00:00.140000Z"  # CEST is UTC+2 in May
    notes = berlin.report[berlin.report["status"] == "note"]
    assert notes["reason"].str.contains("without a time zone").any()


def test_log_time_and_payload_time_are_kept_apart():
    frames = frames_of(import_file(FIXTURES / "home_assistant.log", tz="+02:00"))
    boot_reply = frames[1]
    assert boot_reply["ts"] == "2024-05-01T10:00:01.652000Z"
    assert json.loads(boot_reply["text"])[2]["currentTime"] == "2024-05-01T10:00:01Z"


def test_lines_without_time_keep_their_order_with_a_note():
    result = import_file(FIXTURES / "microocpp.log", charge_point_id="esp32")
    frames = frames_of(result)
    assert [json.loads(f["text"])[1] for f in frames[:6]] == ["1", "1", "2", "2", "3", "3"]
    assert [f["source_line"] for f in frames] == sorted(f["source_line"] for f in frames)
    assert result.report["reason"].str.contains("no times").any()


def test_damaged_frames_are_kept_as_frames_with_their_reason():
    result = import_file(FIXTURES / "damaged.log")
    damaged = result.report[result.report["status"] == "damaged"]
    assert sorted(damaged["reason"]) == sorted([
        "abbreviated preview", "invalid JSON", "not an OCPP-J frame: CALL must have 4 elements, has 3",
        "truncated frame"])
    texts = {f["text"] for f in frames_of(result)}
    assert set(damaged["text"]) <= texts  # kept in the capture, not dropped
    skipped = result.report[result.report["status"] == "skipped"]
    assert list(skipped["line_no"]) == [6] and skipped["text"].iloc[0].endswith("ping timeout for DMG-1")


def test_mitmproxy_dump_keeps_binary_frames_auth_user_and_close():
    result = import_file(FIXTURES / "flows.mitm")
    opens = [r for r in result.records if r["type"] == "connection_open"]
    assert opens[0]["auth_user"] == "MITM-CP-1" and opens[0]["auth_password_present"] is True
    assert "not-in-any-capture" not in json.dumps(result.records) + json.dumps(result.header)
    binary = [f for f in frames_of(result) if f.get("binary")]
    assert len(binary) == 1
    closes = [r for r in result.records if r["type"] == "connection_close"]
    assert sorted(c["close_code"] for c in closes) == [1000, 1006]


def test_forced_format_and_charge_point_option():
    result = import_file(FIXTURES / "bare_frames.ndjson", format="log", charge_point_id="CPX")
    assert result.format == "log" and result.frames_recovered == 6
    assert {r["charge_point_id"] for r in result.records if r["type"] == "connection_open"} == {"CPX"}


def test_bad_arguments_are_clear_errors(tmp_path):
    from workbench.errors import WorkbenchError

    with pytest.raises(WorkbenchError, match="unknown import format"):
        import_file(FIXTURES / "steve.log", format="csv")
    with pytest.raises(WorkbenchError, match="unknown time zone"):
        import_file(FIXTURES / "steve.log", tz="Mars/Olympus")
    with pytest.raises(FileNotFoundError):
        import_file(tmp_path / "missing.log")


def test_no_frame_present_in_any_fixture_is_lost():
    from make_figure import rows

    for name, present, recovered, damaged in rows():
        assert recovered + damaged == present, name


def test_marker_line_then_frame_and_a_marker_that_announces_nothing(tmp_path):
    log = tmp_path / "steve-multiline.log"
    log.write_text(
        "2024-05-01 10:00:00,000 [chargeBoxId=ML-1, sessionId=s9] Sending:\n"
        '[2,"m1","Reset",{"type":"Soft"}]\n'
        "2024-05-01 10:00:01,000 [chargeBoxId=ML-1, sessionId=s9] Received:\n"
        "2024-05-01 10:00:02,000 housekeeping done\n"
        "2024-05-01 10:00:03,000 something else\n"
        "2024-05-01 10:00:04,000 [chargeBoxId=ML-1, sessionId=s9] Received: [3,\"m1\",{\"status\":\"Accepted\"}]\n"
    )
    result = import_file(log)
    frames = frames_of(result)
    assert [f["direction"] for f in frames] == ["csms_to_charger", "charger_to_csms"]
    assert frames[0]["ts"] == "2024-05-01T10:00:00.000000Z"
    skipped = result.report[result.report["status"] == "skipped"]
    assert list(skipped["line_no"]) == [3, 4, 5]  # the marker with no frame after it is reported too


def test_escaped_frame_after_a_dialect_marker(tmp_path):
    log = tmp_path / "esc.log"
    log.write_text('2024-05-01T10:00:00Z evcc: send CP5: "[2,\\"z1\\",\\"Reset\\",{\\"type\\":\\"Hard\\"}]"\n')
    frames = frames_of(import_file(log))
    assert frames[0]["text"] == '[2,"z1","Reset",{"type":"Hard"}]'
    assert frames[0]["direction"] == "csms_to_charger"
    assert {r["charge_point_id"] for r in import_file(log).records if r["type"] == "connection_open"} == {"CP5"}


def test_gzipped_log_is_read(tmp_path):
    import gzip

    path = tmp_path / "steve.log.gz"
    path.write_bytes(gzip.compress((FIXTURES / "steve.log").read_bytes()))
    assert import_file(path).frames_recovered == 8


def test_syslog_time_takes_the_year_of_the_file(tmp_path):
    import os

    log = tmp_path / "syslog"
    log.write_text('May  1 10:00:00 csms steve[42]: [chargeBoxId=SY-1, sessionId=1] Received: [2,"s1","Heartbeat",{}]\n')
    os.utime(log, (1714557600, 1714557600))  # the file was written in 2024
    result = import_file(log, tz="+02:00")
    assert frames_of(result)[0]["ts"] == "2024-05-01T08:00:00.000000Z"
    assert result.report["reason"].str.contains("without a time zone").any()


def test_journalctl_json_output(tmp_path):
    import json as _json

    log = tmp_path / "journal.json"
    line = {"__REALTIME_TIMESTAMP": "1714557600250000", "_HOSTNAME": "csms", "SYSLOG_IDENTIFIER": "evcc",
            "MESSAGE": 'recv JJ-1: [2,"j1","Heartbeat",{}]'}
    log.write_text(_json.dumps(line) + "\n")
    result = import_file(log)
    frame = frames_of(result)[0]
    assert result.format == "log" and frame["ts"] == "2024-05-01T10:00:00.250000Z"
    assert frame["direction"] == "charger_to_csms" and frame["text"] == '[2,"j1","Heartbeat",{}]'
