"""terminal_safe and SafeStream: nothing from input reaches the terminal as a control sequence."""

from __future__ import annotations

import io
import json

import pytest

from workbench.terminal import SafeStream, terminal_safe


@pytest.mark.parametrize("raw, shown", [
    ("hello \x1b]0;PWNED\x07", "hello \\u001b]0;PWNED\\u0007"),   # OSC: retitles the terminal
    ("\x1b[2J\x1b[31mred", "\\u001b[2J\\u001b[31mred"),            # CSI: clears the screen, colours
    ("a\x9b31mb", "a\\u009b31mb"),                                   # C1 CSI
    ("del\x7f", "del\\u007f"),
    ("nul\x00bs\x08", "nul\\u0000bs\\u0008"),
    ("line\nfake line\rover\ttab", "line\\u000afake line\\u000dover\\u0009tab"),
    ("evil\u202etxt.exe", "evil\\u202etxt.exe"),                    # bidi override
    ("lone \udc80 surrogate", "lone \\udc80 surrogate"),
    ("Grüße, 充电桩 ✓", "Grüße, 充电桩 ✓"),                         # printable text is left alone
])
def test_every_control_character_is_escaped(raw: str, shown: str) -> None:
    assert terminal_safe(raw) == shown
    shown.encode("utf-8")  # always encodable


def test_layout_may_keep_newlines_tabs_and_carriage_returns() -> None:
    assert terminal_safe("a\nb\tc\rd\x1be", keep_layout=True) == "a\nb\tc\rd\\u001be"
    assert terminal_safe(42) == "42"


def test_escapes_stay_valid_json_inside_strings() -> None:
    text = json.dumps({"m": "x\x7f\x9b\u202e\udc80"}, ensure_ascii=False)
    assert json.loads(terminal_safe(text)) == {"m": "x\x7f\x9b\u202e\udc80"}


def test_safe_stream_filters_writes_and_keeps_the_first_error() -> None:
    buffer = io.StringIO()
    stream = SafeStream(buffer)
    print("frame \x1b]0;x\x07 ok", file=stream)
    assert buffer.getvalue() == "frame \\u001b]0;x\\u0007 ok\n"
    assert stream.getvalue() == buffer.getvalue()  # everything else is the wrapped stream's

    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    full = SafeStream(Full())
    with pytest.raises(OSError):
        full.write("x")
    assert full.error is not None and full.error.errno == 28
