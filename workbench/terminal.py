"""Text from captures and logs made safe to print on a terminal.

A charger or a foreign log can put any character into a frame, a charge point id or a skipped
line. Printed raw, ESC and OSC sequences (``\\x1b]0;title\\x07``), C1 controls (``\\x9b`` is a CSI)
or bidi overrides can retitle the terminal, hide text or fake lines of a report. Every such
character is written as a ``\\uXXXX`` escape instead: readable, and still valid inside a JSON string.
"""

from __future__ import annotations

import re
from typing import Any, TextIO

# C0 controls, DEL, C1 controls, bidi embeddings/overrides/isolates, and lone surrogates
# (which a JSON escape can produce and no UTF-8 stream can encode).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# The same, but tab, newline and carriage return pass: the layout of a whole report.
_UNSAFE_IN_LAYOUT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def terminal_safe(text: Any, *, keep_layout: bool = False) -> str:
    """``text`` (any object, as ``str``) with every control character escaped as ``\\uXXXX``.

    The one function every command uses to echo input text. By default the result is one line
    (newline, carriage return and tab are escaped too); ``keep_layout=True`` lets those three
    pass, for text whose lines the program itself laid out.
    """
    text = text if isinstance(text, str) else str(text)
    return (_UNSAFE_IN_LAYOUT if keep_layout else _UNSAFE).sub(_escape, text)


class SafeStream:
    """A text stream that passes everything written through :func:`terminal_safe` (layout kept).

    ``cli.main`` puts one in front of stdout and stderr, so no command can send a terminal
    control sequence from its input, whatever it prints. Everything else is the wrapped stream's.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.error: OSError | None = None
        """The first error writing to the wrapped stream (a full disk, a closed pipe), if any."""

    def write(self, text: str) -> int:
        try:
            self.stream.write(terminal_safe(text, keep_layout=True))
        except OSError as exc:
            self.error = self.error or exc
            raise
        return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as exc:
            self.error = self.error or exc
            raise

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
