"""workbench.analysis: load() over files, directories, gzip, rotation and foreign logs; Capture's tables."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.analysis import Capture, capture_files, load
from workbench.capture.writer import CaptureWriter
from workbench.checks.registry import CHECKS, run_checks
from workbench.errors import CaptureFormatError, WorkbenchError
from workbench.testing import (call, charger_records, clean_session_script, factory_header, make_capture,
                               merge_records, ts_at)

FIXTURES = Path(__file__).parent / "importers" / "fixtures"


def test_load_one_file_builds_every_table(tmp_path: Path) -> None:
    path = make_capture(tmp_path / "cp1.ocpp.jsonl", "CP1", clean_session_script(), close_at_s=4000)
    cap = load(path)
    assert cap.paths == [path] and cap.header["proxy_mode"] == "synthetic"
    assert len(cap.frames) == len(clean_session_script())
    assert set(cap.calls["outcome"]) == {"answered"}
    assert cap.connections["state"].tolist() == ["closed"]
    assert cap.charge_point_ids == ["CP1"]
    for name in Capture.TABLES:
        table = getattr(cap, name)
        assert isinstance(table, pd.DataFrame), name
        if len(table.columns) and name != "findings":
            assert table.columns[0] in ("ts", "charge_point_id"), name
    assert cap.findings.empty, cap.findings["message"].tolist()
    assert cap.frames is cap.frames  # cached


def test_several_files_and_gzip_concatenate_with_unique_ordered_seq(tmp_path: Path) -> None:
    one = make_capture(tmp_path / "a.ocpp.jsonl", "CP1", clean_session_script())
    two = make_capture(tmp_path / "b.ocpp.jsonl.gz", "CP2", clean_session_script())
    assert gzip.open(two).readline()  # really gzip
    cap = load([one, two])
    assert cap.frames["seq"].tolist() == list(range(len(cap.frames)))
    assert cap.frames["charge_point_id"].tolist() == ["CP1"] * 82 + ["CP2"] * 82
    assert len(cap.headers) == 2


def test_directory_reads_rotated_files_in_rotation_order(tmp_path: Path) -> None:
    records = charger_records("CP1", clean_session_script(), connection_id="c1")
    with CaptureWriter(tmp_path / "site.ocpp.jsonl", factory_header(), rotate_bytes=4000) as writer:
        for record in records:
            writer.write(record)
    assert len(writer.paths) > 3
    (tmp_path / "site.ocpp.jsonl.truth.json").write_text("{}")  # sidecars are not captures
    files = capture_files(tmp_path)
    assert files == writer.paths
    cap = load(tmp_path)
    assert cap.frames["raw"].tolist() == [r["text"] for r in records if r["type"] == "frame"]
    assert cap.connections["connection_id"].tolist() == ["c1"]  # the repeated open records merge
    assert set(cap.calls["outcome"]) == {"answered"}


def test_truncated_last_line_and_garbage_lines_become_findings(tmp_path: Path) -> None:
    path = make_capture(tmp_path / "cut.ocpp.jsonl", "CP1", [(0, "up", call("1", "Heartbeat", {}))])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"type":"telemetry","ts":"x"}\n')
        fh.write('{"type":"header","format_version":1}\n')
        fh.write("this is not json\n")
        fh.write('{"type":"frame","ts":"2025-01-06T08:00:0')
    cap = load(path)
    assert len(cap.frames) == 1
    kinds = [p.kind for p in cap.load_problems]
    assert kinds == ["unknown_record_type", "extra_header", "invalid_json", "truncated_last_line"]
    findings = run_checks(cap, names=["capture_read"])
    assert findings["severity"].tolist() == ["error", "warning", "error", "warning"]
    assert "telemetry" in findings.loc[0, "message"] and "line 6" in findings.loc[2, "message"]


def test_foreign_log_is_imported_and_its_skipped_lines_reported(tmp_path: Path) -> None:
    cap = load(FIXTURES / "damaged.log")
    assert len(cap.frames) > 0
    assert cap.header.get("proxy_mode", "").startswith("import")
    findings = run_checks(cap, names=["import"])
    assert len(findings) == len(cap.load_problems) > 0
    assert (cap.frames["message_type"] == "invalid").any()


def test_unreadable_inputs_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.ocpp.jsonl")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(WorkbenchError, match="no capture files"):
        load(empty_dir)
    newer = tmp_path / "newer.ocpp.jsonl"
    newer.write_text(json.dumps({"type": "header", "format_version": 99}) + "\n")
    with pytest.raises(CaptureFormatError, match="newer"):
        load(newer)


def test_progress_reports_bytes_up_to_the_total(tmp_path: Path, monkeypatch) -> None:
    import workbench.analysis

    monkeypatch.setattr(workbench.analysis, "_PROGRESS_EVERY", 100)
    script = clean_session_script(charge_s=86_000)
    path = make_capture(tmp_path / "day.ocpp.jsonl", "CP1", script)
    seen: list[tuple[int, int]] = []
    load(path, progress=lambda done, total: seen.append((done, total)))
    total = path.stat().st_size
    assert seen[-1] == (total, total)
    assert len(seen) > 10 and all(0 < d <= t == total for d, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_html_repr_and_accessor(tmp_path: Path) -> None:
    records = merge_records(charger_records("CP1", clean_session_script(), connection_id="a"),
                            charger_records("CP2", clean_session_script(t0_s=0.2), connection_id="b"))
    cap = Capture.from_records(records)
    html = cap._repr_html_()
    assert "<table>" in html and "MeterValues" in html and "charge points" in html
    assert "2 charge points" in repr(cap)
    assert set(cap.frames.ocpp.for_charger("CP2")["charge_point_id"]) == {"CP2"}
    assert set(cap.calls.ocpp.for_action("Heartbeat")["action"]) == {"Heartbeat"}
    window = cap.frames.ocpp.between(ts_at(0), ts_at(1))
    assert window["ts"].max() < pd.Timestamp(ts_at(1)) and len(window) == 4
    assert cap.frames.ocpp.seqs([3, 5])["seq"].tolist() == [3, 5]
    with pytest.raises(AttributeError):
        cap.connections.ocpp.for_action("Heartbeat")


# --- property-based: arbitrary and mutated frames never crash anything ------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
_VALID = [json.dumps(m) for _, _, m in clean_session_script()[:30]]


def _mutate(text: str, how: int, where: int) -> str:
    if how == 0:
        return text[: where % max(len(text), 1)]  # cut
    if how == 1:
        i = where % max(len(text), 1)
        return text[:i] + text[i + 1:]  # drop a character
    if how == 2:
        message = json.loads(text)
        message[0] = [2, 3, 4, 5, "2", None][where % 6]
        return json.dumps(message)
    message = json.loads(text)
    message[-1] = ["x", 1, None, [], {"unexpected": where}][where % 5]
    return json.dumps(message)


_SURROGATES = st.lists(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF) | st.characters(),
                       max_size=4).map("".join)
_FRAME_TEXT = st.one_of(
    st.sampled_from(_VALID),
    # JSON escapes of lone surrogates decode to str values Arrow and UTF-8 cannot hold.
    st.builds(lambda uid, action, value: json.dumps([2, uid, action, {"x": value}]),
              _SURROGATES, st.sampled_from(["Heartbeat", "DataTransfer"]), _SURROGATES),
    st.builds(lambda uid, code: json.dumps([4, uid, code, "", {}]), _SURROGATES, _SURROGATES),
    st.builds(_mutate, st.sampled_from(_VALID), st.integers(0, 3), st.integers(0, 10_000)),
    _JSON.map(json.dumps),
    st.text(max_size=40),
    st.binary(max_size=8),
    st.lists(_JSON, min_size=1, max_size=5).map(lambda m: json.dumps([2, "id", "Heartbeat", *m][: len(m) + 2])),
)
_ENTRY = st.tuples(st.floats(0, 600, allow_nan=False), st.sampled_from(["up", "down"]), _FRAME_TEXT)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(_ENTRY, max_size=25))
def test_arbitrary_frames_never_crash_tables_or_checks(entries) -> None:
    entries = sorted(entries, key=lambda e: e[0])
    cap = Capture.from_records(charger_records("CPX", entries))
    frames = cap.frames
    assert len(frames) == len(entries)
    invalid = frames[frames["message_type"] == "invalid"]
    assert invalid["parse_error"].notna().all()  # every bad frame is a row with its error
    assert frames.loc[frames["message_type"] != "invalid", "parse_error"].isna().all()
    calls = cap.calls
    assert (calls["request_seq"].notna() | calls["reply_seq"].notna()).all()
    findings = run_checks(cap)
    crashed = findings[findings["message"].str.contains(" crashed: ", regex=False)]
    assert crashed.empty, crashed["message"].tolist()
    flagged = set(s for seqs in findings["frame_seqs"] for s in seqs)
    assert set(invalid["seq"]) <= flagged  # and a finding that cites it
    assert set(findings["check"]) <= set(CHECKS)
