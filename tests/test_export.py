"""Export round trip: capture -> export -> import gives the same frames (text, direction, time, charge point)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.capture import CaptureWriter, read_capture
from workbench.capture import records as rec
from workbench.capture.importers import import_file
from workbench.cli import main
from workbench.export import EXPORT_FORMATS, export_capture

SYNTH = Path(__file__).resolve().parents[1] / "captures" / "synth-small.ocpp.jsonl"
EXPECTED_FORMAT = {"ndjson": "json-objects", "open-ocpp-trace": "open-ocpp-trace", "har": "har"}


def frame_view(records: list[dict]) -> list[tuple]:
    """What must survive a round trip, per frame, in order."""
    opens = {r["connection_id"]: r["charge_point_id"] for r in records if r["type"] == "connection_open"}
    return [(r["ts"], opens[r["connection_id"]], r["direction"], r.get("text"), r.get("data_b64"))
            for r in records if r["type"] == "frame"]


def connections_of(records: list[dict]) -> int:
    return sum(1 for r in records if r["type"] == "connection_open")


def write_small_capture(path: Path) -> None:
    """Two charge points, frames interleaved in time order as the proxy writes them."""
    t0 = 1714557600.123456
    steps = [
        (0.000001, "charger_to_csms", '[2,"1","Heartbeat",{}]'),
        # Pretty-printed, non-ASCII, and binary: all must come back byte for byte.
        (0.5, "csms_to_charger", '[3, "1", {\n  "currentTime": "2024-05-01T10:00:00Z"\n}]'),
        (1, "charger_to_csms", '[2,"2","DataTransfer",{"vendorId":"Größe ✓","data":"x"}]'),
        (2, "csms_to_charger", '[3,"2",{"status":"Accepted"}]'),
        (3, "charger_to_csms", b"\x00\xffbinary"),
    ]
    cps = ["CP-A", "CP-B"]
    with CaptureWriter(path, rec.header(tool="test", tool_version="0")) as writer:
        for n, cp in enumerate(cps):
            writer.write(rec.connection_open(ts=rec.format_ts(t0), connection_id=f"c{n}", charge_point_id=cp,
                                             url_path=f"/ocpp/{cp}"))
        for offset, direction, content in steps:
            for n, _ in enumerate(cps):
                writer.write(rec.frame(ts=rec.format_ts(t0 + offset + n * 0.01), connection_id=f"c{n}",
                                       direction=direction, content=content, is_text=isinstance(content, str)))


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_round_trip_small_capture(tmp_path, fmt):
    source = tmp_path / "in.ocpp.jsonl"
    write_small_capture(source)
    out = tmp_path / f"out.{fmt}"
    assert main(["export", str(source), "--to", fmt, "-o", str(out)]) == 0
    result = import_file(out)
    assert result.format == EXPECTED_FORMAT[fmt]
    _, original, _ = read_capture(source)
    assert frame_view(result.records) == frame_view(original)
    assert connections_of(result.records) == 2


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_round_trip_real_capture(tmp_path, fmt):
    out = tmp_path / f"synth.{fmt}"
    count = export_capture(SYNTH, out, fmt)
    _, original, _ = read_capture(SYNTH)
    assert count == sum(1 for r in original if r["type"] == "frame")
    result = import_file(out)
    assert frame_view(result.records) == frame_view(original)
    assert result.frames_damaged == 0 and result.lines_skipped == 0


def test_export_of_a_foreign_log_goes_through_the_importer(tmp_path):
    fixture = Path(__file__).parent / "importers" / "fixtures" / "steve.log"
    out = tmp_path / "steve.ndjson"
    assert export_capture(fixture, out, "ndjson") == 8
    first = json.loads(out.read_text().splitlines()[0])
    assert first["chargePointId"] == "CP-STEVE-7" and first["direction"] == "charger_to_csms"


def test_unknown_format_is_a_clear_error(tmp_path, capsys):
    source = tmp_path / "in.ocpp.jsonl"
    write_small_capture(source)
    with pytest.raises(SystemExit):
        main(["export", str(source), "--to", "pcap", "-o", str(tmp_path / "x")])
    assert "invalid choice" in capsys.readouterr().err


FIXTURES = Path(__file__).parent / "importers" / "fixtures"


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.iterdir()))
def test_round_trip_of_imported_logs(tmp_path, fixture):
    """A foreign log, imported, survives export -> import in every format."""
    first = import_file(FIXTURES / fixture, charge_point_id="CP-X")
    capture = tmp_path / "imported.ocpp.jsonl"
    with CaptureWriter(capture, first.header) as writer:
        for record in first.records:
            writer.write(record)
    for fmt in EXPORT_FORMATS:
        out = tmp_path / f"again.{fmt}"
        export_capture(capture, out, fmt)
        assert frame_view(import_file(out).records) == frame_view(first.records), fmt


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(min_size=0, max_size=60), min_size=1, max_size=6),
       directions=st.lists(st.sampled_from(["charger_to_csms", "csms_to_charger"]), min_size=6, max_size=6))
def test_any_frame_text_survives_every_export(tmp_path, texts, directions):
    source = tmp_path / "h.ocpp.jsonl"
    with CaptureWriter(source, rec.header(tool="test", tool_version="0")) as writer:
        writer.write(rec.connection_open(ts=rec.format_ts(1e9), connection_id="c", charge_point_id="CP-H",
                                         url_path="/ocpp/CP-H"))
        for index, text in enumerate(texts):
            writer.write(rec.frame(ts=rec.format_ts(1e9 + index * 0.25), connection_id="c",
                                   direction=directions[index], content=text))
    _, original, _ = read_capture(source)
    for fmt in EXPORT_FORMATS:
        out = tmp_path / f"h.{fmt}"
        export_capture(source, out, fmt)
        assert frame_view(import_file(out).records) == frame_view(original), fmt


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_exports_are_strict_json_even_when_a_record_holds_nan(tmp_path, fmt):
    from test_jsonout import strict_loads
    from workbench.export import WRITERS
    from workbench.testing import call, charger_records, factory_header

    records = charger_records("CP1", [(0, "up", call("1", "Heartbeat", {}))])
    records[0]["charge_point_id"] = float("nan")  # Python's json reads a bare NaN token into a record
    text = WRITERS[fmt](factory_header(), records)
    lines = text.splitlines() if fmt != "har" else [text]
    for line in lines:
        strict_loads(line)


SAMPLE = Path(__file__).resolve().parents[1] / "captures" / "sample.ocpp.jsonl"


def har_urls(path: Path) -> list[str]:
    return [entry["request"]["url"] for entry in json.loads(path.read_text())["log"]["entries"]]


def test_har_keeps_the_real_scheme_and_host_of_a_proxy_capture(tmp_path):
    """sample.ocpp.jsonl: the charger leg had TLS, the CSMS is wss://127.0.0.1:44117."""
    header, records, _ = read_capture(SAMPLE)
    out = tmp_path / "sample.har"
    export_capture(SAMPLE, out, "har")
    paths = [r["url_path"] for r in records if r["type"] == "connection_open"]
    assert har_urls(out) == [f"wss://127.0.0.1:44117{p}" for p in paths]


def test_har_scheme_follows_the_charger_leg_and_sni(tmp_path):
    source = tmp_path / "in.ocpp.jsonl"
    with CaptureWriter(source, rec.header(tool="test", tool_version="0", proxy_mode="reverse:https://csms.example",
                                          upstream_url="wss://csms.example:8443/ocpp")) as writer:
        writer.write(rec.connection_open(ts=rec.format_ts(0), connection_id="plain", charge_point_id="CP-P",
                                         url_path="/ocpp/CP-P"))
        writer.write(rec.connection_open(ts=rec.format_ts(1), connection_id="tls", charge_point_id="CP-T",
                                         url_path="/ocpp/CP-T",
                                         charger_tls=rec.tls_facts("TLSv1.3", "TLS_AES_128_GCM_SHA256", "proxy.site")))
        for n, connection_id in enumerate(("plain", "tls")):  # export refuses a capture without frames
            writer.write(rec.frame(ts=rec.format_ts(2 + n), connection_id=connection_id,
                                   direction="charger_to_csms", content='[2,"1","Heartbeat",{}]'))
    out = tmp_path / "x.har"
    export_capture(source, out, "har")
    assert har_urls(out) == ["ws://csms.example:8443/ocpp/CP-P", "wss://proxy.site/ocpp/CP-T"]


def test_har_import_and_export_keep_the_host(tmp_path):
    fixture = FIXTURES / "chrome.har"
    original = [url for url in har_urls(fixture) if url.startswith("wss:")]  # the page itself is no WebSocket
    out = tmp_path / "again.har"
    export_capture(fixture, out, "har")
    assert har_urls(out) == original


def test_open_ocpp_trace_is_the_published_v1_1_shape(tmp_path):
    """One JSON object per frame with the published fields; replies carry their request's action;
    the frame text is only repeated (rawFrame) when the fields cannot say it exactly."""
    source = tmp_path / "in.ocpp.jsonl"
    write_small_capture(source)
    out = tmp_path / "out.jsonl"
    export_capture(source, out, "open-ocpp-trace")
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 10  # one per frame, no meta line
    published = {"schemaVersion", "timestamp", "ocppVersion", "chargePointId", "direction", "messageType",
                 "messageId", "action", "payload"}
    assert all(published <= set(line) for line in lines)
    first = lines[0]
    assert first == {"schemaVersion": "1.1", "timestamp": first["timestamp"], "ocppVersion": "1.6",
                     "chargePointId": "CP-A", "direction": "cp-to-csms", "messageType": "CALL", "messageId": "1",
                     "action": "Heartbeat", "payload": {}, "connectionId": "c0"}
    pretty = next(line for line in lines if line["messageType"] == "CALLRESULT" and line["messageId"] == "1")
    assert pretty["direction"] == "csms-to-cp" and pretty["action"] == "Heartbeat"
    assert pretty["rawFrame"].startswith('[3, "1", {\n')  # spacing kept for the round trip
    data = next(line for line in lines if line["action"] == "DataTransfer" and line["messageType"] == "CALL")
    assert data["payload"] == {"vendorId": "Größe ✓", "data": "x"} and "rawFrame" not in data


def test_open_ocpp_trace_callerror_and_long_integers_round_trip(tmp_path):
    source = tmp_path / "in.ocpp.jsonl"
    frames = [("charger_to_csms", '[2,"d1","DataTransfer",{"vendorId":"v","data":"' + "x" + '"}]'),
              ("csms_to_charger", '[4,"d1","NotImplemented","no vendor v",{"hint":1}]'),
              ("charger_to_csms", '[2,"m1","MeterValues",{"connectorId":123456789012345678901234567890,"meterValue":[]}]'),
              ("csms_to_charger", '[3,"m1",{}]')]
    with CaptureWriter(source, rec.header(tool="test", tool_version="0")) as writer:
        writer.write(rec.connection_open(ts=rec.format_ts(1e9), connection_id="c", charge_point_id="CP-E",
                                         url_path="/CP-E"))
        for index, (direction, text) in enumerate(frames):
            writer.write(rec.frame(ts=rec.format_ts(1e9 + index), connection_id="c", direction=direction, content=text))
    out = tmp_path / "out.jsonl"
    export_capture(source, out, "open-ocpp-trace")
    error = json.loads(out.read_text().splitlines()[1])
    assert (error["messageType"], error["action"], error["errorCode"], error["errorDescription"], error["payload"]) == (
        "CALLERROR", "DataTransfer", "NotImplemented", "no vendor v", {"hint": 1})
    result = import_file(out)
    assert result.format == "open-ocpp-trace"
    assert frame_view(result.records) == frame_view(read_capture(source)[1])
