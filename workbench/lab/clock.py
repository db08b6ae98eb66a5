"""Wall-clock time for the lab peers, at the millisecond precision OCPP timestamps carry.

The simulators use these same instants for their physics (energy integration) and for the
timestamps they report, so an analysis that integrates reported power over reported time sees
exactly the time base the simulator used.
"""

from __future__ import annotations

import datetime as dt


def utc_now() -> dt.datetime:
    """Now, UTC, truncated to whole milliseconds."""
    now = dt.datetime.now(dt.timezone.utc)
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000)


def ocpp_timestamp(when: dt.datetime | None = None) -> str:
    """An OCPP timestamp: UTC, millisecond precision, ``Z`` suffix (``2026-01-01T10:00:00.000Z``)."""
    when = utc_now() if when is None else when
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
