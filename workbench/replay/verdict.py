"""The replay verdict: one row per expected message, a summary line, an exit code, three formats.

Statuses (a closed set): ``matched`` (as recorded, volatile fields aside), ``differs`` (a
field-level diff), ``missing`` (recorded, never came), ``unexpected`` (came, not recorded),
``timeout`` (a wait ran out), ``error`` (the connection could not be made or broke). Volatile fields
are ignored by JSON-pointer patterns: ``*`` matches one segment, a leading ``**`` any depth, and an
``Action:`` prefix limits a pattern to that action (``StopTransaction:/idTagInfo``).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import orjson

from .rewrite import TIME_KEYS

STATUSES = ("matched", "differs", "missing", "unexpected", "timeout", "error")
DEFAULT_IGNORE = tuple(f"**/{key}" for key in sorted(TIME_KEYS))
"""Payload times differ on every replay (they are shifted to now)."""

EXIT_CLEAN, EXIT_DIFFERENCES, EXIT_USAGE = 0, 1, 2


@dataclass
class FieldDiff:
    """One differing field: its JSON pointer, the recorded and the replayed value (absent: None)."""

    pointer: str
    recorded: Any
    replayed: Any


@dataclass
class VerdictRow:
    """The outcome of one expected message (or one surprise). ``step`` is the plan index (None for a
    surprise); ``recorded_seq``/``replayed_seq`` are ``frames.seq`` in the recording and the replay."""

    charge_point_id: str
    step: int | None
    kind: str
    action: str | None
    status: str
    recorded_seq: int | None = None
    replayed_seq: int | None = None
    detail: str = ""
    diffs: list[FieldDiff] = field(default_factory=list)


@functools.lru_cache(maxsize=8192)  # pure, and the same few (pattern, pointer) pairs come back every frame
def _pointer_matches(pattern: str, pointer: str) -> bool:
    """Whether JSON pointer ``pointer`` matches ``pattern`` (``*``: one segment; ``**/`` first: any depth)."""
    parts = pointer.split("/")[1:]
    if pattern.startswith("**/"):
        rest = pattern[3:].split("/")
        return any(_segments_match(rest, parts[i:]) for i in range(len(parts) + 1))
    return _segments_match(pattern.split("/")[1:], parts)


def ignore_for(action: str | None, patterns: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The patterns that apply to a message of ``action``: plain pointers apply to every message,
    ``Action:/pointer`` (e.g. ``StopTransaction:/idTagInfo``) only to that action's payloads."""
    return _ignore_for(action, tuple(patterns))


@functools.lru_cache(maxsize=1024)  # pure; called for every reply the replayer judges
def _ignore_for(action: str | None, patterns: tuple[str, ...]) -> tuple[str, ...]:
    chosen = []
    for pattern in patterns:
        scope, separator, pointer = pattern.partition(":")
        if separator and not scope.startswith(("/", "*")):
            if scope == action:
                chosen.append(pointer)
        else:
            chosen.append(pattern)
    return tuple(chosen)


def _segments_match(pattern: list[str], parts: list[str]) -> bool:
    return len(pattern) == len(parts) and all(p in ("*", q) for p, q in zip(pattern, parts))


def same_json(recorded: Any, replayed: Any) -> bool:
    """True when two JSON values are the same (then :func:`diff_payloads` finds nothing, whatever is
    ignored); False may still mean no difference (1 vs 1.0, keys in another order, an ignored field).
    Two C-speed checks instead of a walk with a pointer per field: most replies of a replay are as
    recorded. ``==`` alone would take True for 1; the compact encodings tell them apart."""
    if recorded != replayed:
        return False
    try:
        return orjson.dumps(recorded) == orjson.dumps(replayed)
    except (orjson.JSONEncodeError, TypeError):  # an int beyond 64 bits: let the walk decide
        return False


def diff_payloads(recorded: Any, replayed: Any, ignore: tuple[str, ...] | list[str] = DEFAULT_IGNORE,
                  pointer: str = "") -> list[FieldDiff]:
    """Field-level differences between two JSON values, leaves only, ignored pointers skipped.
    Numbers compare by value (1 == 1.0)."""
    if not pointer and same_json(recorded, replayed):
        return []
    if pointer and any(_pointer_matches(p, pointer) for p in ignore):
        return []
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        diffs: list[FieldDiff] = []
        for key in list(recorded) + [k for k in replayed if k not in recorded]:
            child = f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}"
            if key not in replayed:
                if not any(_pointer_matches(p, child) for p in ignore):
                    diffs.append(FieldDiff(child, recorded[key], None))
            elif key not in recorded:
                if not any(_pointer_matches(p, child) for p in ignore):
                    diffs.append(FieldDiff(child, None, replayed[key]))
            else:
                diffs.extend(diff_payloads(recorded[key], replayed[key], ignore, child))
        return diffs
    if isinstance(recorded, list) and isinstance(replayed, list):
        diffs = []
        for i in range(max(len(recorded), len(replayed))):
            child = f"{pointer}/{i}"
            if i >= len(replayed):
                diffs.append(FieldDiff(child, recorded[i], None))
            elif i >= len(recorded):
                diffs.append(FieldDiff(child, None, replayed[i]))
            else:
                diffs.extend(diff_payloads(recorded[i], replayed[i], ignore, child))
        return diffs
    # True == 1 in Python, not in JSON: a boolean only equals a boolean.
    if recorded == replayed and isinstance(recorded, bool) == isinstance(replayed, bool):
        return []
    return [FieldDiff(pointer or "/", recorded, replayed)]


@dataclass
class Verdict:
    """Every row of a replay, plus what the run knew overall (connection errors, duration in s)."""

    rows: list[VerdictRow] = field(default_factory=list)
    duration_s: float = 0.0
    frames_sent: int = 0
    frames_received: int = 0
    connection_errors: int = 0

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for row in self.rows:
            counts[row.status] += 1
        return counts

    @property
    def clean(self) -> bool:
        return all(row.status == "matched" for row in self.rows)

    @property
    def exit_code(self) -> int:
        """0 clean, 1 differences, 2 a connection could not be made (its steps were not run)."""
        if self.connection_errors:
            return EXIT_USAGE
        return EXIT_CLEAN if self.clean else EXIT_DIFFERENCES

    def summary(self) -> str:
        counts = self.counts()
        parts = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        text = f"replay: {'clean' if self.clean else 'DIFFERENCES'}: {len(self.rows)} rows ({parts or 'none'})"
        if self.frames_sent or self.frames_received:
            text += (f"; {self.frames_sent} frames sent, {self.frames_received} received "
                     f"in {self.duration_s:.2f} s")
        return text

    def problems(self) -> list[VerdictRow]:
        return [row for row in self.rows if row.status != "matched"]

    def to_frame(self) -> Any:
        """The rows as a pandas DataFrame (diffs as a list of dicts per row)."""
        import pandas as pd

        return pd.DataFrame([asdict(row) for row in self.rows],
                            columns=list(VerdictRow.__dataclass_fields__))

    # -- formats ---------------------------------------------------------------------------------

    def to_text(self, all_rows: bool = False) -> str:
        """The problem rows (every row with ``all_rows``), then the summary line."""
        lines = []
        for row in self.rows if all_rows else self.problems():
            where = f"step {row.step}" if row.step is not None else "no step"
            seqs = f"recorded seq {_seq(row.recorded_seq)}, replayed seq {_seq(row.replayed_seq)}"
            line = f"{row.status:10s} {row.charge_point_id} {where} {row.kind} {row.action or ''} ({seqs})"
            if row.detail:
                line += f": {row.detail}"
            lines.append(line)
            for d in row.diffs:
                lines.append(f"           {d.pointer}: recorded {_short(d.recorded)} -> replayed {_short(d.replayed)}")
        lines.append(self.summary())
        return "\n".join(lines)

    def to_json(self) -> str:
        """Strict JSON (RFC 8259): NaN and infinities become null."""
        document = {"summary": self.summary(), "clean": self.clean, "exit_code": self.exit_code,
                    "counts": self.counts(), "duration_s": self.duration_s,
                    "frames_sent": self.frames_sent, "frames_received": self.frames_received,
                    "rows": [asdict(row) for row in self.rows]}
        return json.dumps(_strict(document), allow_nan=False, indent=1)

    def to_junit(self, suite: str = "ocpp-workbench replay") -> str:
        """JUnit XML: one test case per row; differs/missing/unexpected/timeout are failures,
        error rows are errors."""
        failures = sum(row.status in ("differs", "missing", "unexpected", "timeout") for row in self.rows)
        errors = sum(row.status == "error" for row in self.rows)
        out = ['<?xml version="1.0" encoding="UTF-8"?>',
               f'<testsuite name={quoteattr(suite)} tests="{len(self.rows)}" failures="{failures}" '
               f'errors="{errors}" time="{self.duration_s:.3f}">']
        for row in self.rows:
            name = f"step {row.step if row.step is not None else '-'} {row.kind} {row.action or ''}".strip()
            out.append(f'  <testcase classname={quoteattr(row.charge_point_id)} name={quoteattr(name)}>')
            if row.status != "matched":
                tag = "error" if row.status == "error" else "failure"
                text = "\n".join(f"{d.pointer}: {_short(d.recorded)} -> {_short(d.replayed)}" for d in row.diffs)
                out.append(f'    <{tag} type={quoteattr(row.status)} message={quoteattr(row.detail or row.status)}>'
                           f'{escape(text)}</{tag}>')
            out.append("  </testcase>")
        out.append(f"  <system-out>{escape(self.summary())}</system-out>")
        out.append("</testsuite>")
        return "\n".join(out) + "\n"

    def render(self, fmt: str) -> str:
        if fmt == "json":
            return self.to_json()
        if fmt == "junit":
            return self.to_junit()
        return self.to_text()


def _seq(value: int | None) -> str:
    return "-" if value is None else str(value)


def _short(value: Any) -> str:
    text = json.dumps(_strict(value), allow_nan=False) if value is not None else "(absent)"
    return text if len(text) <= 80 else text[:77] + "..."


def _strict(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value
