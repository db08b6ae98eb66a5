"""Migrations of older capture records to the current format (mitmproxy's io/compat.py is the model).

Each ``convert_N_M`` takes one record of version N and returns it as version M. The reader walks the
chain record by record, so a file of any older version streams without being loaded whole.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from .records import FORMAT_VERSION, format_ts

Record = dict[str, Any]


def convert_0_1(record: Record) -> Record:
    """Version 0 was the pre-release draft: Unix-time ``ts`` floats, ``dir`` = ``"up"``/``"down"``,
    ``msg`` instead of ``text``, and ``cp`` instead of ``charge_point_id``."""
    record = dict(record)
    if record.get("type") == "header":
        record["format_version"] = 1
        if isinstance(record.get("started_at"), (int, float)):
            record["started_at"] = format_ts(record["started_at"])
        return record
    if isinstance(record.get("ts"), (int, float)):
        record["ts"] = format_ts(dt.datetime.fromtimestamp(record["ts"], tz=dt.timezone.utc))
    if "dir" in record:
        record["direction"] = {"up": "charger_to_csms", "down": "csms_to_charger"}.get(
            record.pop("dir"), "charger_to_csms"
        )
    if "msg" in record:
        record["text"] = record.pop("msg")
    if "cp" in record:
        record["charge_point_id"] = record.pop("cp")
    return record


CONVERTERS: dict[int, Callable[[Record], Record]] = {
    0: convert_0_1,
}


def migrate(record: Record, from_version: int) -> Record:
    """Bring one record from ``from_version`` up to :data:`FORMAT_VERSION`."""
    version = from_version
    while version < FORMAT_VERSION:
        record = CONVERTERS[version](record)
        version += 1
    return record
