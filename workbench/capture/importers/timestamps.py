"""Timestamps as logs write them -> aware UTC datetimes.

Accepts ``Z``, ``+02:00``/``+0200``/``+02`` offsets, ``UTC``, 0 to 9 fractional digits (kept to the
microsecond; a 7th digit is 100 ns, below what a capture stores), a space or ``T`` between date and
time, and Unix times in seconds or milliseconds. A time without a zone is read in the ``tz`` the
user gave and flagged, so the import report can say so.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ...errors import WorkbenchError

# Date, time, optional fraction, optional zone. Anchored by callers with search()/match().
ISO_TS = re.compile(
    r"(?P<date>\d{4}[-/]\d{2}[-/]\d{2})[T ](?P<time>\d{2}:\d{2}:\d{2})"
    r"(?:[.,](?P<frac>\d{1,9}))?"
    r"(?P<zone>\s?(?:Z|UTC|[+-]\d{2}(?::?\d{2})?)(?![\d:]))?"
)


class LogTime(NamedTuple):
    """A log-line time: ``when`` in UTC; ``zone_given`` False when the log wrote no zone.
    (A named tuple: made once per frame, at a third of a frozen dataclass's cost.)"""

    when: dt.datetime
    zone_given: bool


def resolve_tz(name: str) -> dt.tzinfo:
    """The zone named by ``--tz`` ("UTC", "Europe/Berlin", "+02:00")."""
    if name.upper() in ("UTC", "Z"):
        return dt.timezone.utc
    offset = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", name)
    if offset:
        sign = 1 if offset.group(1) == "+" else -1
        return dt.timezone(sign * dt.timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3))))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise WorkbenchError(f"unknown time zone {name!r} (use e.g. UTC, Europe/Berlin or +02:00)") from exc


def _zone(text: str | None, default_tz: dt.tzinfo) -> tuple[dt.tzinfo, bool]:
    if not text:
        return default_tz, False
    text = text.strip()
    if text in ("Z", "UTC"):
        return dt.timezone.utc, True
    sign = 1 if text[0] == "+" else -1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes)), True


def from_match(match: re.Match[str], default_tz: dt.tzinfo) -> LogTime | None:
    """A :data:`ISO_TS` match as a :class:`LogTime`; None if the date is impossible."""
    frac = (match.group("frac") or "").ljust(6, "0")[:6]
    tz, given = _zone(match.group("zone"), default_tz)
    try:
        naive = dt.datetime.fromisoformat(f"{match.group('date').replace('/', '-')}T{match.group('time')}.{frac}")
        return LogTime(naive.replace(tzinfo=tz).astimezone(dt.timezone.utc), given)
    except (ValueError, OverflowError):
        return None


def iso_with_zone(text: str) -> LogTime | None:
    """The usual structured-log time (``2024-05-01T10:00:00.123Z``, with an offset) read at C speed;
    None for anything else, which the general path reads. Gives what the general path would."""
    if len(text) < 20 or text[4] != "-" or text[10] not in "T " or text[13] != ":" or text[16] != ":":
        return None
    if text[-1] != "Z" and "+" not in text[19:] and "-" not in text[19:]:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return LogTime(when.astimezone(dt.timezone.utc), True)


def parse_time(value: object, default_tz: dt.tzinfo) -> LogTime | None:
    """A timestamp field of a structured log (ISO string, or Unix s/ms number) -> LogTime or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000.0 if value > 1e11 else float(value)  # ms epochs are > 1e11 since 1973
        try:
            return LogTime(dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc), True)
        except (ValueError, OverflowError, OSError):
            return None
    if isinstance(value, str):
        fast = iso_with_zone(value)
        if fast is not None:
            return fast
        text = value.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return parse_time(float(text), default_tz)
        match = ISO_TS.match(text)
        if match:
            return from_match(match, default_tz)
    return None
