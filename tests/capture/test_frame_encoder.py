"""The proxy's fast frame lines (:class:`FrameEncoder`) are byte for byte what the record builder and
the generic writer produce, and the reader gives back the record and the exact message bytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.capture import CaptureWriter, read_capture
from workbench.capture import records as rec
from workbench.capture import writer as writer_module
from workbench.capture.writer import FrameEncoder, encode_record
from workbench.errors import CaptureWriteError

TS = "2026-01-01T00:00:00.000123Z"
TRICKY_TEXTS = [
    "",
    '[2,"1","Heartbeat",{}]',
    'quote " backslash \\ slash / tab \t newline \n return \r',
    "".join(chr(c) for c in range(0x20)) + "\x7f",  # every control character, and DEL
    "ünïcødé ✓ € 中文 \u2028\u2029 \ufeff \U0001f50c",  # line/paragraph separators, BOM, astral plane
    '[2,"1","DataTransfer",{"data":"\\ud800 escaped lone surrogate stays six characters"}]',
]
TRICKY_BYTES = [
    b"\x00\xff\xfe binary",
    b"\xed\xa0\x80",  # an encoded lone surrogate: not UTF-8, so recorded as binary
    b"\xc3",  # cut in the middle of a character
    b"",
]


def _expected(connection_id: str, from_charger: bool, content: bytes, is_text: bool, action: str | None) -> bytes:
    direction = rec.Direction.CHARGER_TO_CSMS if from_charger else rec.Direction.CSMS_TO_CHARGER
    return encode_record(rec.frame(ts=TS, connection_id=connection_id, direction=direction, content=content,
                                   is_text=is_text, proxy_action=action))


@pytest.mark.parametrize("action", [None, *(a.value for a in rec.ProxyAction)])
@pytest.mark.parametrize("from_charger", [True, False])
@pytest.mark.parametrize("content,is_text", [(t.encode(), True) for t in TRICKY_TEXTS]
                         + [(b, True) for b in TRICKY_BYTES] + [(b, False) for b in TRICKY_BYTES]
                         + [(b'[2,"1","Heartbeat",{}]', False)])
def test_frame_line_equals_the_generic_encoding(content: bytes, is_text: bool, from_charger: bool,
                                                action: str | None) -> None:
    for connection_id in ("0f1e2d3c-aaaa-bbbb-cccc-1234567890ab", 'id "with" quotes \\ and ü'):
        line = FrameEncoder(connection_id).line(TS, from_charger, content, is_text, action)
        assert line == _expected(connection_id, from_charger, content, is_text, action)


@settings(max_examples=300, deadline=None)
@given(text=st.text(), raw=st.binary(), from_charger=st.booleans(), is_text=st.booleans())
def test_frame_line_equals_the_generic_encoding_for_any_message(text: str, raw: bytes, from_charger: bool,
                                                                is_text: bool) -> None:
    encoder = FrameEncoder("c1")
    for content in (text.encode("utf-8"), raw):
        assert encoder.line(TS, from_charger, content, is_text) == _expected("c1", from_charger, content, is_text, None)


def test_frame_lines_read_back_as_records_with_the_exact_bytes(tmp_path: Path) -> None:
    path = tmp_path / "fast.ocpp.jsonl"
    header = rec.header(tool="test", tool_version="0", started_at=TS)
    contents = [(t.encode(), True) for t in TRICKY_TEXTS] + [(b, True) for b in TRICKY_BYTES] + [(b"\x01\x02", False)]
    encoder = FrameEncoder("c1")
    with CaptureWriter(path, header) as writer:
        writer.write(rec.connection_open(ts=TS, connection_id="c1", charge_point_id="CP1", url_path="/ocpp/CP1"))
        for i, (content, is_text) in enumerate(contents):
            writer.write_frame_line(encoder.line(TS, i % 2 == 0, content, is_text))
        assert writer.records_written == 1 + len(contents)
    _, got, problems = read_capture(path)
    assert problems == []
    frames = got[1:]
    assert [rec.frame_bytes(f) for f in frames] == [content for content, _ in contents]
    assert frames == [rec.frame(ts=TS, connection_id="c1", content=content, is_text=is_text,
                                direction="charger_to_csms" if i % 2 == 0 else "csms_to_charger")
                      for i, (content, is_text) in enumerate(contents)]


def test_frame_lines_rotate_like_records(tmp_path: Path) -> None:
    path = tmp_path / "rot.ocpp.jsonl"
    encoder = FrameEncoder("c1")
    with CaptureWriter(path, rec.header(tool="test", tool_version="0"), rotate_bytes=500) as writer:
        writer.write(rec.connection_open(ts=TS, connection_id="c1", charge_point_id="CP1", url_path="/ocpp/CP1"))
        for i in range(20):
            writer.write_frame_line(encoder.line(TS, True, f'[2,"{i}","Heartbeat",{{}}]'.encode()))
    assert len(writer.paths) > 2
    frames = []
    for p in writer.paths:
        _, got, problems = read_capture(p)
        assert problems == [] and got[0]["type"] == "connection_open"
        frames += got[1:]
    assert [f["text"] for f in frames] == [f'[2,"{i}","Heartbeat",{{}}]' for i in range(20)]


def test_a_short_write_is_finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "short.ocpp.jsonl"
    writer = CaptureWriter(path, rec.header(tool="test", tool_version="0"))
    real_write = os.write

    def at_most_7_bytes(fd: int, data: bytes) -> int:
        return real_write(fd, bytes(data[:7]))

    monkeypatch.setattr(writer_module.os, "write", at_most_7_bytes)
    writer.write_frame_line(FrameEncoder("c1").line(TS, True, b'[2,"1","Heartbeat",{}]'))
    monkeypatch.undo()
    writer.close()
    _, got, problems = read_capture(path)
    assert problems == [] and got[0]["text"] == '[2,"1","Heartbeat",{}]'


def test_writing_to_a_closed_writer_raises(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path / "c.ocpp.jsonl", rec.header(tool="test", tool_version="0"))
    writer.close()
    with pytest.raises(CaptureWriteError):
        writer.write_frame_line(FrameEncoder("c1").line(TS, True, b"[]"))
