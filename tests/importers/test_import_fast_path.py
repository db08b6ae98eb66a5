"""The fast path of the line formats (importers/regular.py) imports exactly what the general path
imports, and the same frames as a native capture give the same frames table."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from workbench.analysis import load
from workbench.capture import CaptureWriter
from workbench.capture import records as rec
from workbench.capture.importers import import_file, regular
from workbench.export import export_capture

CP_DIRECTION = rec.Direction.CHARGER_TO_CSMS
CSMS_DIRECTION = rec.Direction.CSMS_TO_CHARGER
# (connection, direction, frame text): whole frames, damaged ones, a CALLERROR, a reply going the
# same way as its request (a stated-direction conflict), a connection of no known charge point.
FRAMES = [
    ("c1", CP_DIRECTION, '[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]'),
    ("c1", CSMS_DIRECTION, '[3,"b1",{"status":"Accepted","currentTime":"2024-05-01T10:00:00Z","interval":60}]'),
    ("c1", CP_DIRECTION, '[2,"d1","DataTransfer",{"vendorId":"X"}]'),
    ("c1", CSMS_DIRECTION, '[4,"d1","NotImplemented","no such vendor",{}]'),
    ("c1", CP_DIRECTION, '[2,"m1","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":'
                         '"2024-05-01T10:00:01Z","sampledValue":[{"value":"12.5"}]}]}]'),
    ("c1", CP_DIRECTION, '[3,"m1",{}]'),  # the reply stated as going the way of its request
    ("c1", CP_DIRECTION, '[2,"h1","Heartbeat",{}'),  # cut: invalid JSON
    ("c1", CP_DIRECTION, '[2,"h2","Heartbeat",[]]'),  # not an OCPP-J frame: payload not an object
    ("c1", CP_DIRECTION, '{"not": "a frame"}'),
    ("c2", CP_DIRECTION, '[2,"h3","Heartbeat",{}]'),
    ("c2", CSMS_DIRECTION, '[3,"h3",{"currentTime":"2024-05-01T10:00:05Z"}]'),
    ("c2", CSMS_DIRECTION, '[2,"h4","Heartbeat",{}]'),  # a CALL stated the way the spec does not send it
    ("c3", CP_DIRECTION, '[2,"s1","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available"}]'),
]
CHARGE_POINTS = {"c1": "CP-1", "c2": "CP-2", "c3": None}  # c3: no charge point id known


def _native(path: Path) -> Path:
    with CaptureWriter(path, rec.header(tool="test", tool_version="0", upstream_url="ws://127.0.0.1:9000")) as out:
        for connection, cp in CHARGE_POINTS.items():
            out.write(rec.connection_open(ts="2024-05-01T09:59:59.000000Z", connection_id=connection,
                                          charge_point_id=cp, url_path=f"/{cp or 'x'}"))
        for index, (connection, direction, text) in enumerate(FRAMES):
            out.write(rec.frame(ts=f"2024-05-01T10:00:{index:02d}.{index * 1111:06d}Z", connection_id=connection,
                                direction=direction, content=text, is_text=True))
    return path


def _as_written(text: str, arrays: bool) -> object:
    """A frame as a trace holds it: its text, or (``arrays``) the JSON array itself when it is one."""
    if not arrays:
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, list) else text


def _json_trace(path: Path, arrays: bool = False) -> Path:
    words = {CP_DIRECTION: "CS_TO_CSMS", CSMS_DIRECTION: "CSMS_TO_CS"}
    events = [{"timestamp": f"2024-05-01T10:00:{i:02d}.{i * 1111:06d}Z", "direction": words[d],
               "message": _as_written(t, arrays)} for i, (c, d, t) in enumerate(FRAMES) if c == "c1"]
    path.write_text(json.dumps({"metadata": {"stationId": "CP-1"}, "events": events}, indent=1))
    return path


# What legitimately differs between an import and the native capture: connection ids are
# synthesized ("import-1"), and a charge point no record names is "unknown" in an import.
BLANKED = ["connection_id", "charge_point_id"]


def _frames(path: Path) -> pd.DataFrame:
    return load(path).frames.drop(columns=BLANKED).reset_index(drop=True)


@pytest.mark.parametrize("fmt", ["ndjson", "open-ocpp-trace"])
def test_line_formats_give_the_native_frames_table(tmp_path: Path, fmt: str) -> None:
    native = _native(tmp_path / "native.ocpp.jsonl")
    exported = tmp_path / f"frames.{fmt}.jsonl"
    export_capture(native, exported, fmt)
    assert regular.read_regular_lines(exported.read_text(), tz=rec.dt.timezone.utc) is not None  # fast path taken
    imported, expected = _frames(exported), _frames(native)
    assert len(expected) == len(FRAMES)
    pd.testing.assert_frame_equal(imported, expected)
    by_cp = load(exported).frames.groupby("charge_point_id").size().to_dict()
    assert by_cp == {"CP-1": 9, "CP-2": 3, "unknown:import-3": 1}


def test_json_trace_gives_the_native_frames_table(tmp_path: Path) -> None:
    native = _native(tmp_path / "native.ocpp.jsonl")
    trace = _json_trace(tmp_path / "trace.json")
    expected = load(native).frames
    expected = expected[expected["connection_id"] == "c1"].drop(columns=BLANKED).reset_index(drop=True)
    pd.testing.assert_frame_equal(_frames(trace).drop(columns=["seq"]), expected.drop(columns=["seq"]))


def _general(path: Path, monkeypatch: pytest.MonkeyPatch):
    with monkeypatch.context() as patch:
        patch.setattr("workbench.capture.importers.read_regular_lines", lambda text, tz: None)
        return import_file(path)


@pytest.mark.parametrize("fmt", ["ndjson", "open-ocpp-trace"])
def test_fast_path_imports_what_the_general_path_imports(tmp_path: Path, fmt: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    native = _native(tmp_path / "native.ocpp.jsonl")
    exported = tmp_path / f"frames.{fmt}.jsonl"
    export_capture(native, exported, fmt)
    # Lines the fast path leaves to the general line reader: blank, invalid JSON, no frame, metadata.
    with exported.open("a") as out:
        out.write('\n{"timestamp": "2024-05-01T10:01:00Z", "direction": "cp-to-csms", "mess\n')
        out.write('{"level": "info", "msg": "hello"}\n{"metadata": {"chargePointId": "CP-9"}}\n')
        deep = '[2,"x","DataTransfer",{"vendorId":"V","data":' + "[" * 150 + "]" * 150 + "}]"  # a hostile frame
        out.write(json.dumps({"timestamp": "2024-05-01T10:02:00.000000Z", "direction": "cp-to-csms",
                              "chargePointId": "CP-1", "message": deep}) + "\n")
        out.write(json.dumps({"timestamp": "2024-05-01T10:02:01.000000Z", "direction": "cp-to-csms",
                              "message": '[2,"y","Heartbeat",{}]'})[:-1] + ', "x": ' + "[" * 150 + "]" * 150 + "}\n")
    fast, general = import_file(exported), _general(exported, monkeypatch)
    assert fast.header == general.header
    assert fast.records == general.records
    pd.testing.assert_frame_equal(fast.report, general.report)
    assert (fast.lines_read, fast.frames_recovered) == (general.lines_read, general.frames_recovered)
    assert fast.frames_damaged == 4
    reasons = set(fast.report["reason"])
    assert any("nested deeper" in r for r in reasons)
    # the record nested past the limit is a skipped line, as jsonfast.loads has it
    assert any(row.reason == "invalid JSON" and '"x": [[[' in row.text for row in fast.report.itertuples())
    assert any(r.startswith("direction conflict: 1 replies") for r in reasons)
    assert any(r.startswith("direction conflict: 1 CALLs") for r in reasons)
    assert "1 frames name no charge point; give --charge-point-id; used 'unknown'" in reasons


def test_records_the_fast_path_cannot_read_go_the_general_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No stated direction, a time without a zone, frames newest first: the general path infers."""
    lines = [
        {"timestamp": "2024-05-01T10:00:00Z", "chargePointId": "CP-1", "message": '[2,"a","Heartbeat",{}]'},
        {"timestamp": "2024-05-01T10:00:01", "chargePointId": "CP-1", "direction": "in",
         "message": '[3,"a",{"currentTime":"2024-05-01T10:00:01Z"}]'},
    ]
    path = tmp_path / "log.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert regular.read_regular_lines(path.read_text(), tz=rec.dt.timezone.utc) is None
    newest_first = tmp_path / "newest.ndjson"
    rows = [{"timestamp": f"2024-05-01T10:00:0{9 - i}Z", "direction": "cp-to-csms", "chargePointId": "CP-1",
             "message": f'[2,"h{i}","Heartbeat",{{}}]'} for i in range(3)]
    newest_first.write_text("".join(json.dumps(row) + "\n" for row in rows))
    for source in (path, newest_first):
        fast, general = import_file(source), _general(source, monkeypatch)
        assert fast.records == general.records
        pd.testing.assert_frame_equal(fast.report, general.report)


def test_json_trace_fast_path_imports_what_the_general_path_imports(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    trace = _json_trace(tmp_path / "trace.json", arrays=True)
    text = trace.read_text()
    assert regular.read_regular_document(text, tz=rec.dt.timezone.utc, document=json.loads(text)) is not None
    with monkeypatch.context() as patch:
        patch.setattr("workbench.capture.importers.read_regular_document", lambda text, tz, document: None)
        general = import_file(trace)
    fast = import_file(trace)
    assert fast.header == general.header
    assert fast.records == general.records
    pd.testing.assert_frame_equal(fast.report, general.report)
    assert fast.frames_damaged == 3 and fast.format == "json-trace"
    # frames keep the spacing they were written with, and their line in the file
    assert fast.records[1]["text"].startswith("[\n    2,") and fast.records[1]["source_line"] == 6
