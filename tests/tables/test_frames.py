"""The frames table: one row per frame, exact raw text, parse errors as data, pairing-resolved actions."""

from __future__ import annotations

import base64
import json

import pandas as pd

from workbench.analysis import Capture
from workbench.capture import records as rec
from workbench.tables.frames import COLUMNS, build_frames
from workbench.testing import call, charger_records, clean_session_script, error, result, ts_at


def _frames(script, **options) -> pd.DataFrame:
    return build_frames(charger_records("CP1", script, **options))


def test_columns_and_dtypes_match_the_documented_schema() -> None:
    frames = _frames(clean_session_script())
    assert list(frames.columns) == list(COLUMNS)
    for name, (dtype, _unit, _meaning) in COLUMNS.items():
        assert str(frames[name].dtype) == dtype, name
    assert frames["seq"].tolist() == list(range(len(frames)))
    assert frames["charge_point_id"].eq("CP1").all()


def test_raw_is_exact_and_size_counts_utf8_bytes() -> None:
    text = '[2,"u1","DataTransfer",{"vendorId":"Zürich ⚡"}]'
    frames = _frames([(0, "up", text)])
    assert frames.loc[0, "raw"] == text
    assert frames.loc[0, "size_bytes"] == len(text.encode("utf-8"))
    assert frames.loc[0, "payload"] == {"vendorId": "Zürich ⚡"}


def test_reply_action_is_resolved_by_pairing_per_connection_and_direction() -> None:
    script = [
        (0, "up", call("1", "Heartbeat", {})),
        (0.1, "down", call("1", "GetConfiguration", {})),  # same id, other direction: a different exchange
        (0.2, "up", result("1", {"configurationKey": []})),
        (0.3, "down", result("1", {"currentTime": "2025-01-06T08:00:00Z"})),
        (0.4, "down", error("zz", "GenericError", "boom", {"why": 1})),
    ]
    frames = _frames(script)
    assert frames["action"].tolist()[:4] == ["Heartbeat", "GetConfiguration", "GetConfiguration", "Heartbeat"]
    assert pd.isna(frames.loc[4, "action"])
    assert frames.loc[4, "message_type"] == "CALLERROR"
    assert frames.loc[4, "error_code"] == "GenericError"
    assert frames.loc[4, "error_description"] == "boom"
    assert frames.loc[4, "payload"] == {"why": 1}


def test_malformed_and_binary_frames_are_rows_with_their_error() -> None:
    script = [
        (0, "up", "not json"),
        (1, "up", "[5,\"x\",{}]"),
        (2, "up", '[2,"a","Heartbeat"]'),
        (3, "up", b"\x00\xff"),
        (4, "up", ' [2,"b","Heartbeat",{}]'),  # leading whitespace is valid JSON
        (5, "up", '[2,"c","Heartbeat",{}] x'),  # trailing garbage is not
    ]
    frames = _frames(script)
    assert frames["message_type"].tolist() == ["invalid", "invalid", "invalid", "invalid", "CALL", "invalid"]
    assert frames.loc[0, "parse_error"].startswith("invalid JSON")
    assert "unknown message type 5" in frames.loc[1, "parse_error"]
    assert "4 elements" in frames.loc[2, "parse_error"]
    assert frames.loc[3, "binary"]
    assert base64.b64decode(frames.loc[3, "raw"]) == b"\x00\xff"
    assert frames.loc[3, "size_bytes"] == 2
    assert pd.isna(frames.loc[4, "parse_error"])
    assert frames.loc[5, "parse_error"].startswith("invalid JSON")


def test_fast_path_agrees_with_parse_frame_on_tricky_shapes() -> None:
    from workbench.ocppj import parse_frame

    texts = ['[2.0,"a","Heartbeat",{}]', '[true,"a","Heartbeat",{}]', '[2,1,"Heartbeat",{}]', '[3,"a",[]]',
             '[3,"a",{}]', '[4,"a","X","",{}]', '{"a":1}', '[]', '[2,"a","Heartbeat",{}]\n', 'NaN']
    frames = _frames([(i, "up", t) for i, t in enumerate(texts)])
    for text, kind, uid, error_text in zip(texts, frames["message_type"], frames["unique_id"], frames["parse_error"]):
        parsed = parse_frame(text)
        assert kind == parsed.kind.value, text
        assert (None if pd.isna(uid) else uid) == parsed.unique_id, text
        assert (None if pd.isna(error_text) else error_text) == parsed.parse_error, text


def test_damaged_frame_records_still_become_rows() -> None:
    records = [
        {"type": "frame", "ts": ts_at(0), "connection_id": "c1", "direction": "sideways", "text": '[2,"a","Heartbeat",{}]'},
        {"type": "frame", "ts": "yesterday", "connection_id": "c1", "direction": "charger_to_csms"},
        {"type": "frame", "ts": ts_at(2), "connection_id": None, "direction": "charger_to_csms", "binary": True,
         "data_b64": "***"},
    ]
    frames = build_frames(records)
    assert len(frames) == 3
    assert (frames["message_type"] == "invalid").all()
    assert "direction" in frames.loc[0, "parse_error"]
    assert "no text" in frames.loc[1, "parse_error"]
    assert pd.isna(frames.loc[1, "ts"])
    assert "data_b64" in frames.loc[2, "parse_error"]


def test_proxy_action_and_charge_point_from_the_open_record() -> None:
    records = charger_records("CP9", [(0, "up", call("1", "Heartbeat", {}))], proxy_actions={0: "injected"})
    frames = build_frames(records)
    assert frames.loc[0, "proxy_action"] == "injected"
    assert frames.loc[0, "charge_point_id"] == "CP9"
    assert frames.loc[0, "ts"] == pd.Timestamp(ts_at(0))


def test_capture_frames_equal_build_frames() -> None:
    records = charger_records("CP1", clean_session_script())
    direct = build_frames(records)
    via_capture = Capture.from_records(records).frames
    pd.testing.assert_frame_equal(direct, via_capture)
    assert json.loads(direct.loc[0, "raw"])[2] == "BootNotification"


def test_frame_record_builder_round_trip() -> None:
    record = rec.frame(ts=ts_at(0), connection_id="c", direction="csms_to_charger", content=b"\xc3\x28", is_text=True)
    frames = build_frames([record])
    assert frames.loc[0, "binary"] and frames.loc[0, "message_type"] == "invalid"


def test_lone_surrogate_escapes_do_not_break_the_table() -> None:
    # "\ud800" is a valid JSON escape that decodes to a str Arrow cannot hold.
    text = '[2,"\\ud800","Heartbeat",{"x":"\\udcff"}]'
    frames = _frames([(0, "up", text), (1, "down", '[3,"\\ud800",{}]')])
    assert frames.loc[0, "raw"] == text
    assert frames.loc[0, "unique_id"] == "\\ud800"  # shown escaped in the Arrow column
    assert frames.loc[0, "payload"] == {"x": "\\udcff"}  # escaped too, so tables built from it can hold it
    assert frames.loc[1, "action"] == "Heartbeat"  # pairing used the real ids


def test_frames_decode_to_the_same_payload_with_shared_keys() -> None:
    sampled = [{"value": f"{230 + i % 3:.1f}", "context": "Sample.Periodic", "measurand": "Voltage",
                "phase": f"L{i % 3 + 1}-N", "location": "Outlet", "unit": "V"} for i in range(12)]
    payload = {"connectorId": 1, "transactionId": 7,
               "meterValue": [{"timestamp": "2025-01-06T08:00:00.000Z", "sampledValue": sampled}]}
    text = json.dumps([2, "mv", "MeterValues", payload])
    frames = _frames([(0, "up", text), (1, "up", text.replace('"mv"', '"mw"'))])
    assert frames.loc[0, "payload"] == payload and frames.loc[1, "payload"] == payload
    first, second = (frames.loc[i, "payload"]["meterValue"][0]["sampledValue"][0] for i in (0, 1))
    # orjson caches dict keys: a million MeterValues payloads share one "measurand" key object.
    assert next(k for k in first if k == "measurand") is next(k for k in second if k == "measurand")
