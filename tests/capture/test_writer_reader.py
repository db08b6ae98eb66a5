"""Capture format v1: what the writer produces, the reader gives back, damage included."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from workbench.capture import CaptureReader, CaptureWriter, read_capture
from workbench.capture import records as rec
from workbench.errors import CaptureFormatError


def _header() -> dict:
    return rec.header(tool="ocpp-workbench", tool_version="test", started_at="2026-01-01T00:00:00.000000Z",
                      proxy_mode="reverse:https://127.0.0.1:9000", upstream_url="wss://127.0.0.1:9000/ocpp")


def _session(n_frames: int) -> list[dict]:
    out = [rec.connection_open(ts="2026-01-01T00:00:00.000001Z", connection_id="c1", charge_point_id="CP 1",
                               url_path="/ocpp/CP%201", subprotocol="ocpp1.6", auth_scheme="Basic",
                               auth_user="CP 1", auth_password_present=True,
                               charger_tls=rec.tls_facts("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", None))]
    for i in range(n_frames):
        direction = rec.Direction.CHARGER_TO_CSMS if i % 2 == 0 else rec.Direction.CSMS_TO_CHARGER
        text = f'[2,"{i}","Heartbeat",{{}}]' if i % 2 == 0 else f'[3,"{i - 1}",{{"currentTime":"2026-01-01T00:00:00Z"}}]'
        out.append(rec.frame(ts=rec.format_ts(1767225600 + i), connection_id="c1", direction=direction, content=text))
    return out


def test_round_trip_keeps_every_record_and_field(tmp_path: Path) -> None:
    path = tmp_path / "a.ocpp.jsonl"
    records = _session(10) + [rec.connection_close(ts="2026-01-01T00:01:00.000000Z", connection_id="c1",
                                                    close_code=1000, closed_by="charger")]
    with CaptureWriter(path, _header()) as writer:
        for r in records:
            writer.write(r)
    header, got, problems = read_capture(path)
    assert header["format_version"] == 1 and header["tool"] == "ocpp-workbench"
    assert got == records
    assert problems == []


def test_each_record_is_flushed_before_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "flush.ocpp.jsonl"
    writer = CaptureWriter(path, _header())
    writer.write(_session(1)[0])
    # Read while the writer is still open: a crash now must not lose the record.
    assert len(path.read_text().splitlines()) == 2
    writer.close()


def test_binary_and_non_utf8_frames_keep_their_exact_bytes(tmp_path: Path) -> None:
    payloads = [b"\x00\xff\xfe binary", "ünïcødé [2,\"1\"]".encode()]
    path = tmp_path / "bin.ocpp.jsonl"
    with CaptureWriter(path, _header()) as writer:
        writer.write(rec.frame(ts=rec.now_ts(), connection_id="c", direction="charger_to_csms",
                               content=payloads[0], is_text=False))
        writer.write(rec.frame(ts=rec.now_ts(), connection_id="c", direction="csms_to_charger",
                               content=payloads[1], is_text=True))
    _, got, _ = read_capture(path)
    assert got[0]["binary"] is True and rec.frame_bytes(got[0]) == payloads[0]
    assert "binary" not in got[1] and rec.frame_bytes(got[1]) == payloads[1]


def test_truncated_last_line_reads_every_complete_record_and_reports_the_cut(tmp_path: Path) -> None:
    path = tmp_path / "cut.ocpp.jsonl"
    with CaptureWriter(path, _header()) as writer:
        for r in _session(6):
            writer.write(r)
    data = path.read_bytes()
    path.write_bytes(data[:-25])  # a crash mid-way through the last line
    reader = CaptureReader(path)
    got = list(reader)
    assert len(got) == 6  # open + 5 complete frames; the 6th frame was cut
    assert reader.cut
    assert [p.kind for p in reader.problems] == ["truncated_last_line"]
    assert reader.problems[0].raw  # the cut bytes are kept, not thrown away


def test_garbage_line_in_the_middle_is_reported_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "mid.ocpp.jsonl"
    lines = [json.dumps(_header()), "{not json", json.dumps([1, 2]), json.dumps(_session(1)[0])]
    path.write_text("\n".join(lines) + "\n")
    reader = CaptureReader(path)
    got = list(reader)
    assert len(got) == 1
    assert [p.kind for p in reader.problems] == ["invalid_json", "not_a_record"]
    assert not reader.cut


def test_gzip_capture_reads_and_a_cut_gzip_stream_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "z.ocpp.jsonl.gz"
    with CaptureWriter(path, _header()) as writer:
        for r in _session(200):
            writer.write(r)
    _, got, problems = read_capture(path)
    assert len(got) == 201 and problems == []
    with gzip.open(path, "rb") as fh:
        assert fh.readline().startswith(b'{"type":"header"')
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    reader = CaptureReader(path)
    partial = list(reader)
    assert 0 < len(partial) < 201
    assert reader.cut


def test_newer_format_version_is_refused_with_upgrade_advice(tmp_path: Path) -> None:
    path = tmp_path / "future.ocpp.jsonl"
    head = _header() | {"format_version": 99}
    path.write_text(json.dumps(head) + "\n")
    with pytest.raises(CaptureFormatError, match="newer.*upgrade ocpp-workbench"):
        CaptureReader(path)


@pytest.mark.parametrize("first_line", ['[2,"1","Heartbeat",{}]', '{"type":"frame"}', "", '{"type":"header"}',
                                        '{"type":"header","format_version":"1"}'])
def test_header_is_checked(tmp_path: Path, first_line: str) -> None:
    path = tmp_path / "nohead.ocpp.jsonl"
    path.write_text(first_line + "\n")
    with pytest.raises(CaptureFormatError):
        CaptureReader(path)


def test_version_0_draft_is_migrated_to_v1(tmp_path: Path) -> None:
    path = tmp_path / "v0.ocpp.jsonl"
    lines = [
        {"type": "header", "format_version": 0, "tool": "ocpp-workbench", "tool_version": "0.0.1",
         "started_at": 1767225600.0},
        {"type": "connection_open", "ts": 1767225600.5, "connection_id": "c1", "cp": "CP1"},
        {"type": "frame", "ts": 1767225601.25, "connection_id": "c1", "dir": "down", "msg": '[3,"1",{}]'},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    header, got, _ = read_capture(path)
    assert header["format_version"] == 1
    assert header["started_at"] == "2026-01-01T00:00:00.000000Z"
    assert got[0]["charge_point_id"] == "CP1"
    assert got[1] == {"type": "frame", "ts": "2026-01-01T00:00:01.250000Z", "connection_id": "c1",
                      "direction": "csms_to_charger", "text": '[3,"1",{}]'}


def test_rotation_starts_self_contained_files(tmp_path: Path) -> None:
    path = tmp_path / "rot.ocpp.jsonl"
    records = _session(60)
    with CaptureWriter(path, _header(), rotate_bytes=2000) as writer:
        for r in records:
            writer.write(r)
    assert len(writer.paths) > 2
    assert writer.paths[1].name == "rot.0001.ocpp.jsonl"
    frames = []
    for p in writer.paths:
        _, got, problems = read_capture(p)
        assert problems == []
        # Every file re-states the live connection so it can be read on its own.
        assert got[0]["type"] == "connection_open" and got[0]["connection_id"] == "c1"
        frames += [r for r in got if r["type"] == "frame"]
    assert frames == records[1:]


def test_writer_refuses_a_header_that_is_not_one(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        CaptureWriter(tmp_path / "x.ocpp.jsonl", {"type": "frame"})


def test_timestamps_are_utc_with_microseconds() -> None:
    assert rec.format_ts(1767225600.000123) == "2026-01-01T00:00:00.000123Z"
    assert rec.parse_ts("2026-01-01T00:00:00.000123Z").timestamp() == pytest.approx(1767225600.000123)
    import datetime as dt
    with pytest.raises(ValueError):
        rec.format_ts(dt.datetime(2026, 1, 1))
