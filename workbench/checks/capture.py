"""Checks that report what could not be read: capture damage and skipped lines of imported logs.

Nothing in an input file is dropped silently: each line the reader or an importer could not turn
into a record becomes a finding, with the line number and the start of its raw text.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .registry import CheckConfig, Finding, check

_RAW_SHOWN = 120  # characters of a damaged line quoted in the message


def _problem_findings(cap: Any, source: str, severity_of: dict[str, str], default: str) -> Iterator[Finding]:
    for problem in getattr(cap, "load_problems", ()):
        if problem.source != source:
            continue
        where = f"{problem.path}" + (f" line {problem.line_no}" if problem.line_no else "")
        raw = problem.raw if len(problem.raw) <= _RAW_SHOWN else problem.raw[:_RAW_SHOWN] + "..."
        yield Finding(source, severity_of.get(problem.kind, default), None, None, None, None,
                      f"{where}: {problem.kind}: {problem.detail}" + (f" [{raw}]" if raw else ""))


@check("capture_read", clause="capture format v1 (docs/capture-format.md): one JSON record per line")
def capture_read(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Lines of a native capture that are not records: cut last line, invalid JSON, unknown record type."""
    # A cut last line is what a crash leaves: expected after a power loss, so a warning.
    yield from _problem_findings(cap, "capture_read", {"truncated_last_line": "warning",
                                                       "compressed_stream_cut": "warning",
                                                       "extra_header": "warning"}, "error")


@check("import", clause="foreign log import (docs/import.md): every line is a frame or a report row")
def import_problems(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Lines of an imported foreign log that did not become frames (skipped or damaged)."""
    # Damaged frames are also frames (and invalid_frame findings); notes record assumptions made.
    yield from _problem_findings(cap, "import", {"damaged": "info", "note": "info"}, "warning")
