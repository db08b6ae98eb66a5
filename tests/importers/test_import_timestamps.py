"""Log timestamps: zones, offsets, 0 to 7 fractional digits, Unix times, and the --tz fallback."""

from __future__ import annotations

import datetime as dt

import pytest

from workbench.capture.importers.timestamps import parse_time, resolve_tz
from workbench.errors import WorkbenchError

UTC = dt.timezone.utc


@pytest.mark.parametrize(("text", "expected", "zone_given"), [
    ("2024-05-01T10:00:00Z", "2024-05-01 10:00:00", True),
    ("2024-05-01T10:00:00.1Z", "2024-05-01 10:00:00.100000", True),
    ("2024-05-01T10:00:00.123456Z", "2024-05-01 10:00:00.123456", True),
    ("2024-05-01T10:00:00.1234567Z", "2024-05-01 10:00:00.123456", True),   # 100 ns digit dropped
    ("2024-05-01 12:00:00,250+02:00", "2024-05-01 10:00:00.250000", True),
    ("2024-05-01T12:00:00+0200", "2024-05-01 10:00:00", True),
    ("2024-05-01T07:00:00-03", "2024-05-01 10:00:00", True),
    ("2024-05-01 10:00:00 UTC", "2024-05-01 10:00:00", True),
    ("2024/05/01 10:00:00", "2024-05-01 10:00:00", False),
    ("2024-05-01T10:00:00", "2024-05-01 10:00:00", False),
    (1714557600, "2024-05-01 10:00:00", True),
    (1714557600123, "2024-05-01 10:00:00.123000", True),
    ("1714557600.5", "2024-05-01 10:00:00.500000", True),
])
def test_parse_time(text, expected, zone_given):
    parsed = parse_time(text, UTC)
    assert parsed is not None
    assert parsed.when == dt.datetime.fromisoformat(expected).replace(tzinfo=UTC)
    assert parsed.zone_given is zone_given


def test_time_without_zone_is_read_in_the_given_zone():
    berlin = resolve_tz("Europe/Berlin")
    assert parse_time("2024-01-15 10:00:00", berlin).when == dt.datetime(2024, 1, 15, 9, tzinfo=UTC)  # CET
    assert parse_time("2024-07-15 10:00:00", berlin).when == dt.datetime(2024, 7, 15, 8, tzinfo=UTC)  # CEST
    assert parse_time("2024-07-15 10:00:00", resolve_tz("-05:30")).when == dt.datetime(2024, 7, 15, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize("value", ["yesterday", "2024-13-45T99:00:00Z", None, True, [], ""])
def test_not_a_time(value):
    assert parse_time(value, UTC) is None


def test_unknown_zone_is_a_clear_error():
    with pytest.raises(WorkbenchError, match="unknown time zone"):
        resolve_tz("Atlantis/Capital")
