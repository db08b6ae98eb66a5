"""The column path of the fast import (importers/regular.py reads a file of uniform records column by
column) imports exactly what the record-by-record reading and the general path import, hostile frames
included, and load() builds the same frames table from its columns (compact texts of pretty-printed
frames, CALLRESULTs known from the import) as from records."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from workbench.analysis import load
from workbench.capture import importers
from workbench.capture.importers import import_file, regular, uniform
from workbench.capture.importers.found import ReaderOutput, split_lines

DEEP = "[" * 150 + "]" * 150
# (direction word, frame text): whole frames of each type, a MeterValues shape seen twice, and what a
# charger may send: cut JSON, no OCPP-J frame, NaN, a lone surrogate, an integer beyond 64 bits, a
# frame nested past the limit, a reply whose type is written 3.0.
FRAMES = [
    ("cp-to-csms", '[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]'),
    ("csms-to-cp", '[3,"b1",{"status":"Accepted","currentTime":"2024-05-01T10:00:00Z","interval":60}]'),
    ("cp-to-csms", '[2,"m1","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"2024-05-01T10:00:01Z",'
                   '"sampledValue":[{"value":"12.5"}]}]}]'),
    ("csms-to-cp", '[3,"m1",{}]'),
    ("cp-to-csms", '[2,"m2","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"2024-05-01T10:00:02Z",'
                   '"sampledValue":[{"value":"13.5"}]}]}]'),
    ("csms-to-cp", '[3,"m2",{}]'),
    ("cp-to-csms", '[2,"d1","DataTransfer",{"vendorId":"X"}]'),
    ("csms-to-cp", '[4,"d1","NotImplemented","no such vendor",{}]'),
    ("cp-to-csms", '[2,"h1","Heartbeat",{}'),
    ("cp-to-csms", '{"not": "a frame"}'),
    ("cp-to-csms", '[2,"n1","DataTransfer",{"vendorId":"V","data":NaN}]'),
    ("csms-to-cp", '[3,"n1",{"status":"Accepted","data":"\\ud800"}]'),
    ("cp-to-csms", '[2,"i1","DataTransfer",{"vendorId":"V","messageId":"x","data":123456789012345678901234567890}]'),
    ("cp-to-csms", '[2,"x1","DataTransfer",{"vendorId":"V","data":' + DEEP + "}]"),
    ("cp-to-csms", '[2,"h2","Heartbeat",{}]'),
    ("csms-to-cp", '[3.0,"h2",{"currentTime":"2024-05-01T10:00:09Z"}]'),
]


def _ts(index: int) -> str:
    return f"2024-05-01T10:00:{index:02d}.{index * 1111:06d}Z"


def _ndjson(path: Path, frames: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"timestamp": _ts(i), "chargePointId": "CP-1", "connectionId": "c1",
                                        "direction": word, "message": text}) + "\n"
                            for i, (word, text) in enumerate(frames)))
    return path


def _record_by_record(path: Path, monkeypatch: pytest.MonkeyPatch) -> importers.ImportResult:
    with monkeypatch.context() as patch:
        patch.setattr(uniform, "read_uniform_lines", lambda lines, out: None)
        patch.setattr(uniform, "read_uniform_document", lambda *args: None)
        patch.setattr(uniform, "read_uniform_trace", lambda *args: None)
        return import_file(path)


def _whole_document(path: Path, monkeypatch: pytest.MonkeyPatch) -> importers.ImportResult:
    """The import as before JSON traces were read a chunk of items at a time: detection decodes the document."""
    with monkeypatch.context() as patch:
        patch.setattr(uniform, "read_uniform_trace", lambda *args: None)
        return import_file(path)


def _general(path: Path, monkeypatch: pytest.MonkeyPatch) -> importers.ImportResult:
    with monkeypatch.context() as patch:
        patch.setattr(importers, "REGULAR_FORMATS", ())
        return import_file(path)


def _frames_by(path: Path, monkeypatch: pytest.MonkeyPatch, way: str) -> pd.DataFrame:
    with monkeypatch.context() as patch:
        if way in ("record", "document"):
            patch.setattr(uniform, "read_uniform_trace", lambda *args: None)
        if way == "record":
            patch.setattr(uniform, "read_uniform_lines", lambda lines, out: None)
            patch.setattr(uniform, "read_uniform_document", lambda *args: None)
        elif way == "general":
            patch.setattr(importers, "REGULAR_FORMATS", ())
        return load(path).frames


def _same_imports(path: Path, monkeypatch: pytest.MonkeyPatch) -> importers.ImportResult:
    """The import of ``path``, asserted equal by the three ways, frames tables included."""
    columns = import_file(path)
    for other in (_whole_document(path, monkeypatch), _record_by_record(path, monkeypatch),
                  _general(path, monkeypatch)):
        assert columns.format == other.format
        assert columns.header == other.header
        assert columns.records == other.records
        pd.testing.assert_frame_equal(columns.report, other.report)
        assert (columns.lines_read, columns.frames_recovered) == (other.lines_read, other.frames_recovered)
    table = _frames_by(path, monkeypatch, "columns")
    for way in ("document", "record", "general"):
        pd.testing.assert_frame_equal(table, _frames_by(path, monkeypatch, way))
    return columns


def test_uniform_ndjson_is_read_by_column_as_record_by_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _ndjson(tmp_path / "frames.ndjson", FRAMES)
    assert uniform.read_uniform_lines(split_lines(path.read_text()), ReaderOutput()) is not None  # column path
    result = _same_imports(path, monkeypatch)
    assert result.frames_damaged == 3  # cut, not a frame, nested too deep
    frames = load(path).frames
    assert frames["parse_error"].notna().sum() == 3  # the table agrees; NaN and surrogate frames are read
    assert frames["message_type"].iloc[-1] == "CALLRESULT"  # type 3.0, read by the general parse
    assert frames.loc[frames["raw"].str.startswith("[2,\"m"), "message_type"].eq("CALL").all()
    assert load(path).meter_values["value"].tolist() == [12.5, 13.5]


def test_a_line_of_other_keys_sends_the_file_record_by_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _ndjson(tmp_path / "frames.ndjson", FRAMES[:4])
    with path.open("a") as out:
        out.write(json.dumps({"timestamp": _ts(5), "direction": "cp-to-csms", "message": '[2,"h9","Heartbeat",{}]'}))
        out.write("\n\n{not json\n")
    assert uniform.read_uniform_lines(split_lines(path.read_text()), ReaderOutput()) is None
    _same_imports(path, monkeypatch)


def _trace_record(i: int, word: str, text: str) -> dict:
    message = json.loads(text)
    kind = {2: "CALL", 3: "CALLRESULT", 4: "CALLERROR"}[message[0]]
    record = {"schemaVersion": "1.1", "timestamp": _ts(i), "ocppVersion": "1.6", "chargePointId": "CP-1",
              "direction": word, "messageType": kind, "messageId": message[1]}
    if kind == "CALL":
        record.update(action=message[2], payload=message[3])
    elif kind == "CALLRESULT":
        record.update(action=None, payload=message[2])
    else:
        record.update(action=None, payload=message[4], errorCode=message[2], errorDescription=message[3])
    return record


def test_uniform_open_ocpp_trace_is_read_by_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = [(w, t) for w, t in FRAMES[:8] if not t.startswith("[4")]  # a CALLERROR has keys of its own
    path = tmp_path / "frames.open-ocpp-trace.jsonl"
    records = [_trace_record(i, w, t) for i, (w, t) in enumerate(whole)]
    records.append({**_trace_record(8, "cp-to-csms", '[2,"p1","DataTransfer",{"vendorId":"V"}]'),
                    "payload": {"vendorId": "V", "data": DEEP}})  # a deep payload: the record nests too deep
    path.write_text("".join(json.dumps(r) + "\n" for r in records[:-1]))
    assert import_file(path).format == "open-ocpp-trace"
    assert uniform.read_uniform_lines(split_lines(path.read_text()), ReaderOutput()) is not None
    _same_imports(path, monkeypatch)
    path.write_text("".join(json.dumps(r) + "\n" for r in records).replace(f'"{DEEP}"', DEEP))
    assert uniform.read_uniform_lines(split_lines(path.read_text()), ReaderOutput()) is None
    _same_imports(path, monkeypatch)
    # a CALLERROR whose message holds only part of a payload nested too deep: also record by record
    error = {**records[0], "messageType": "CALLERROR", "action": None,
             "payload": {"errorCode": "GenericError", "errorDescription": "", "extra": DEEP}}
    path.write_text("".join(json.dumps(r) + "\n" for r in [*records[:-1], error]).replace(f'"{DEEP}"', DEEP))
    assert uniform.read_uniform_lines(split_lines(path.read_text()), ReaderOutput()) is None
    _same_imports(path, monkeypatch)


def _json_trace(path: Path, frames: list[tuple[str, str]], note: str | None = None) -> Path:
    words = {"cp-to-csms": "CS_TO_CSMS", "csms-to-cp": "CSMS_TO_CS"}
    events = []
    for i, (word, text) in enumerate(frames):
        event = {"timestamp": _ts(i), "direction": words[word]}
        if note is not None:
            event["note"] = note
        event["message"] = json.loads(text)
        events.append(event)
    path.write_text(json.dumps({"metadata": {"stationId": "CP-1"}, "events": events}, indent=2))
    return path


ARRAYS = [(w, t) for w, t in FRAMES if t.startswith("[")
          and all(bad not in t for bad in ("NaN", "\\", "1234567890123", DEEP)) and t.endswith("]")]


@pytest.mark.parametrize("note", [None, "a ] b }, { c"])
def test_pretty_printed_json_trace_is_read_by_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     note: str | None) -> None:
    """Array messages are sliced as written (spacing kept); a "]" in a value before the message makes
    the slice be found by the scanner instead, with the same result."""
    path = _json_trace(tmp_path / "trace.json", ARRAYS + [("cp-to-csms", '[2,"z1","Heartbeat",[]]')], note)
    text = path.read_text()
    assert regular.read_regular_document(text, tz=None, document=json.loads(text)) is not None
    items = json.loads(text)["events"]
    assert uniform.read_uniform_document(text, items, text.index("[", text.index('"events"')), None,
                                          ReaderOutput()) is not None  # column path
    assert uniform.read_uniform_trace(text, ReaderOutput(), {}) is not None  # a chunk of items at a time
    result = _same_imports(path, monkeypatch)
    assert result.frames_damaged == 1  # the Heartbeat with an array payload
    frames = load(path).frames
    assert frames["raw"].str.startswith("[\n").all()  # as written, not compact
    assert frames["message_type"].tolist()[:3] == ["CALL", "CALLRESULT", "CALL"]
    assert load(path).meter_values["value"].tolist() == [12.5, 13.5]


def test_a_deep_message_sends_the_json_trace_record_by_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _json_trace(tmp_path / "trace.json", ARRAYS + [("cp-to-csms", '[2,"x1","DataTransfer",{"data":'
                                                                        + "[" * 120 + "]" * 120 + "}]")])
    text = path.read_text()
    items = json.loads(text)["events"]
    assert uniform.read_uniform_document(text, items, text.index("[", text.index('"events"')), None,
                                          ReaderOutput()) is None
    _same_imports(path, monkeypatch)


def _trace_text(events: list[dict], **document: object) -> str:
    return json.dumps({"metadata": {"stationId": "CP-1"}, **document, "events": events}, indent=1)


def _events(count: int) -> list[dict]:
    words = {"cp-to-csms": "CS_TO_CSMS", "csms-to-cp": "CSMS_TO_CS"}
    return [{"timestamp": _ts(i % 60), "direction": words[ARRAYS[i % len(ARRAYS)][0]],
             "message": json.loads(ARRAYS[i % len(ARRAYS)][1])} for i in range(count)]


# JSON traces of more items than a chunk holds: read a chunk at a time, or (every other one) not,
# each imported as when format detection decoded the document whole first.
CHUNKED_TRACES = {
    "chunks": (True, lambda: _trace_text(_events(3 * uniform._CHUNK + 5))),
    "exactly two chunks": (True, lambda: _trace_text(_events(2 * uniform._CHUNK))),
    "one line": (True, lambda: json.dumps({"events": _events(uniform._CHUNK + 1), "metadata": {"stationId": "X"}})),
    "metadata after the events": (True, lambda: json.dumps({"events": _events(70), "metadata": {"stationId": "X"}},
                                                          indent=2)),
    "an escape after the items": (False, lambda: json.dumps(
        {"events": _events(70), "metadata": {"stationId": "X", "note": "\\ and \""}}, indent=2)),
    "a ] in a value": (True, lambda: _trace_text([{"timestamp": e["timestamp"], "direction": e["direction"],
                                                   "note": "a ] b }, { c", "message": e["message"]}
                                                  for e in _events(130)])),
    "an integer beyond 64 bits": (True, lambda: _trace_text(_events(100)).replace(
        '"interval": 60', '"interval": 123456789012345678901234567890')),
    "NaN in an item": (False, lambda: _trace_text(_events(100)).replace('"interval": 60', '"interval": NaN')),
    "an escape in an item": (False, lambda: _trace_text(_events(100)).replace('"V"', '"\\u0056"')),
    "events in the metadata first": (False, lambda: _trace_text(_events(100), metadata={"events": [1]})),
    "events written twice": (False, lambda: _trace_text(_events(100)).replace('"metadata"', '"events": [],\n "m"', 1)),
    "a message key after the items": (False, lambda: json.dumps({"events": _events(100), "zz": {"message": [1]}},
                                                               indent=1)),
    "cut": (False, lambda: _trace_text(_events(100))[:-400]),
    "a second document after it": (False, lambda: _trace_text(_events(100)) + "\n{}\n"),
    "an item of other keys": (False, lambda: _trace_text([*_events(100), {
        "timestamp": _ts(1), "direction": "CS_TO_CSMS", "message": [2, "q", "Heartbeat", {}], "x": 1}])),
    "a HAR file": (False, lambda: json.dumps({"log": {"entries": []}, "events": _events(3)}, indent=1)),
    "a deep item": (False, lambda: _trace_text([*_events(100), {"timestamp": _ts(1), "direction": "CS_TO_CSMS",
                                                              "message": [2, "q", "DataTransfer", {"data": json.loads(
                                                                  "[" * 120 + "]" * 120)}]}])),
}


@pytest.mark.parametrize("name", list(CHUNKED_TRACES))
def test_a_json_trace_read_a_chunk_of_items_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     name: str) -> None:
    """Detection no longer decodes a {metadata, events} trace whole: its items are decoded a chunk at a
    time. Any file that detection and the readers could read otherwise is not read so, and the
    import is the same either way."""
    chunked, write = CHUNKED_TRACES[name]
    path = tmp_path / "trace.json"
    path.write_text(write())
    assert (regular.read_regular_trace(path.read_text()) is not None) == chunked
    if chunked:
        result = _same_imports(path, monkeypatch)
        assert result.format == "json-trace" and result.imported_frames is not None
        assert result.frames_recovered == len(result.imported_frames) == len(json.loads(path.read_text())["events"])
        return
    result, before = import_file(path), _whole_document(path, monkeypatch)
    assert result.format == before.format
    assert {**result.header, "started_at": None} == {**before.header, "started_at": None}  # (the import's time
    assert result.records == before.records                                                # when none is read)
    pd.testing.assert_frame_equal(result.report, before.report)


@pytest.mark.parametrize("import_first", [False, True])
@pytest.mark.parametrize("fmt", ["ndjson", "json-trace"])
def test_a_native_capture_and_an_import_by_column(tmp_path: Path, fmt: str, import_first: bool) -> None:
    """load() of a native capture and an import read by column, either first: the frames the import
    hands the table by column (compact texts, known CALLRESULTs) give the table each file alone gives."""
    from workbench.capture import CaptureWriter
    from workbench.capture import records as rec

    native = tmp_path / "a.ocpp.jsonl"
    with CaptureWriter(native, rec.header(tool="test", tool_version="0", upstream_url="ws://127.0.0.1:9000")) as out:
        out.write(rec.connection_open(ts=_ts(0), connection_id="n1", charge_point_id="CP-N", url_path="/CP-N"))
        for i, (word, text) in enumerate(ARRAYS):
            direction = rec.Direction.CHARGER_TO_CSMS if word == "cp-to-csms" else rec.Direction.CSMS_TO_CHARGER
            out.write(rec.frame(ts=_ts(i), connection_id="n1", direction=direction, content=text, is_text=True))
    imported = (_ndjson(tmp_path / "b.ndjson", FRAMES) if fmt == "ndjson"
                else _json_trace(tmp_path / "b.trace.json", ARRAYS))
    files = [imported, native] if import_first else [native, imported]
    both = load(files).frames.drop(columns=["seq"])
    alone = pd.concat([load(f).frames for f in files]).drop(columns=["seq"]).reset_index(drop=True)
    if not import_first:  # an imported file's connections carry its place among the files from the second on
        alone["connection_id"] = alone["connection_id"].astype(object).replace({"import-1": "import-1@2"}).astype(
            both["connection_id"].dtype)
    pd.testing.assert_frame_equal(both, alone)
