"""The status table: one row per StatusNotification, with the change it makes (OCPP 1.6 §4.9, §6.48).

Rows are in capture order. ``previous_status`` is the status the same connector of the same charge
point reported before (across reconnects), ``transition`` the §4.9 code of the change ("A2" =
Available -> Preparing), ``allowed`` whether the §4.9 table has that change. The status checks
decide what a change outside the table means (a skipped state, a reboot, or an error).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import spec16
from ._columns import str_column
from ._fields import int_or_none, text_or_none
from .payload_time import TS_DTYPE, parse_payload_times

COLUMNS: dict[str, tuple[str, str, str]] = {
    # name: (dtype, unit, meaning)
    "ts": (TS_DTYPE, "UTC", "payload timestamp (the time the status is reported for), else capture time"),
    "capture_ts": (TS_DTYPE, "UTC", "when the proxy saw the StatusNotification"),
    "charge_point_id": ("str", "", "charge point that sent it"),
    "connection_id": ("str", "", "WebSocket connection it arrived on"),
    "connector_id": ("Int64", "", "connectorId (0 = the charge point's main controller)"),
    "status": ("str", "", "ChargePointStatus as sent (Available, Preparing, Charging, SuspendedEV, ...)"),
    "error_code": ("str", "", "ChargePointErrorCode as sent (NoError, ...)"),
    "info": ("str", "", "free text info as sent"),
    "vendor_id": ("str", "", "vendorId as sent"),
    "vendor_error_code": ("str", "", "vendorErrorCode as sent"),
    "previous_status": ("str", "", "this connector's status before, <NA> for its first in the capture"),
    "transition": ("str", "", "§4.9 code of the change (from letter A-I, to digit 1-9), whether allowed or "
                              "not; <NA> for a repeat, a first status, connector 0 or an unknown status"),
    "allowed": ("boolean", "", "connector 0: status is Available/Unavailable/Faulted; others: the change is in "
                               "the §4.9 table (True for a repeat, <NA> for a first status)"),
    "time_in_state_s": ("float64", "s", "seconds until this connector's next status (NaN for the last)"),
    "first_after_boot": ("bool", "", "first status of this connector after a BootNotification or on a new "
                                     "connection (incl. the first in the capture): may be anything"),
    "seq": ("int64", "", "frames.seq of the StatusNotification"),
    "ts_naive": ("bool", "", "the payload timestamp had no UTC offset (read as UTC)"),
    "ts_from_payload": ("bool", "", "ts is the payload timestamp (False: capture time was used)"),
    "problem": ("str", "", "why the payload timestamp could not be used, or <NA>"),
}


def build_status(frames: pd.DataFrame) -> pd.DataFrame:
    """The status table (columns as in :data:`COLUMNS`), in capture order."""
    sel = frames[["ts", "charge_point_id", "connection_id", "seq", "payload"]].take(
        _charger_calls(frames, "StatusNotification"))

    connectors: list[int | None] = []
    statuses: list[str | None] = []
    error_codes: list[str | None] = []
    infos: list[str | None] = []
    vendor_ids: list[str | None] = []
    vendor_error_codes: list[str | None] = []
    raw_ts: list[Any] = []
    for payload in sel["payload"].tolist():
        if not isinstance(payload, dict):
            payload = {}
        get = payload.get
        connectors.append(int_or_none(get("connectorId")))
        statuses.append(text_or_none(get("status")))
        error_codes.append(text_or_none(get("errorCode")))
        infos.append(text_or_none(get("info")))
        vendor_ids.append(text_or_none(get("vendorId")))
        vendor_error_codes.append(text_or_none(get("vendorErrorCode")))
        raw_ts.append(get("timestamp"))

    payload_ts, naive, problems = parse_payload_times(raw_ts)
    capture_ts = sel["ts"].astype(TS_DTYPE).reset_index(drop=True)
    from_payload = payload_ts.notna().to_numpy()
    ts = payload_ts.where(from_payload, capture_ts)

    table = pd.DataFrame({
        "ts": ts,
        "capture_ts": capture_ts,
        "charge_point_id": sel["charge_point_id"].reset_index(drop=True),
        "connection_id": sel["connection_id"].reset_index(drop=True),
        "connector_id": pd.array(connectors, dtype="Int64"),
        "status": str_column(statuses),
        "error_code": str_column(error_codes),
        "info": str_column(infos),
        "vendor_id": str_column(vendor_ids),
        "vendor_error_code": str_column(vendor_error_codes),
        "seq": sel["seq"].to_numpy(dtype=np.int64),
        "ts_naive": naive,
        "ts_from_payload": from_payload,
        "problem": str_column(problems),
    })

    # Boot epochs: how many BootNotifications this charge point sent before each status.
    boots = frames[["charge_point_id", "seq"]].take(_charger_calls(frames, "BootNotification"))
    events = pd.concat([
        pd.DataFrame({"charge_point_id": table["charge_point_id"], "seq": table["seq"],
                      "is_boot": np.zeros(len(table), dtype=np.int64), "row": np.arange(len(table))}),
        pd.DataFrame({"charge_point_id": boots["charge_point_id"].to_numpy(), "seq": boots["seq"].to_numpy(),
                      "is_boot": np.ones(len(boots), dtype=np.int64), "row": np.full(len(boots), -1)}),
    ], ignore_index=True).sort_values("seq", kind="stable")
    events["epoch"] = events.groupby("charge_point_id", dropna=False, sort=False)["is_boot"].cumsum()
    status_events = events[events["row"] >= 0]
    epoch = np.zeros(len(table), dtype=np.int64)
    epoch[status_events["row"].to_numpy()] = status_events["epoch"].to_numpy()
    table["_epoch"] = epoch

    connector_key = ["charge_point_id", "connector_id"]
    by_connector = table.groupby(connector_key, dropna=False, sort=False)
    table["previous_status"] = by_connector["status"].shift(1)
    next_ts = by_connector["ts"].shift(-1)
    table["time_in_state_s"] = (next_ts - table["ts"]).dt.total_seconds()
    table["first_after_boot"] = ~table.duplicated(connector_key + ["connection_id", "_epoch"], keep="first")

    previous = table["previous_status"].to_numpy(dtype=object, na_value=None)
    current = table["status"].to_numpy(dtype=object, na_value=None)
    connector = table["connector_id"].to_numpy(dtype=object, na_value=None)
    transitions: list[str | None] = []
    allowed: list[bool | None] = []
    allowed_pairs = spec16.ALLOWED_TRANSITIONS
    for before, after, cid in zip(previous, current, connector):
        if cid == 0:
            transitions.append(None)
            allowed.append(after in spec16.CONNECTOR0_STATUSES)
            continue
        transitions.append(spec16.transition_code(before, after) if before is not None and after is not None
                           else None)
        if before is None or after is None or before not in spec16.STATUSES or after not in spec16.STATUSES:
            allowed.append(None)
        else:
            allowed.append(before == after or (before, after) in allowed_pairs)
    table["transition"] = str_column(transitions)
    table["allowed"] = pd.array(allowed, dtype="boolean")
    return table[list(COLUMNS)]


def _charger_calls(frames: pd.DataFrame, action: str) -> np.ndarray:
    """Positions of the CALLs of ``action`` sent by the charger. The action is compared first and the
    other columns only on its (few) rows: each comparison over a million strings costs."""
    rows = np.flatnonzero((frames["action"] == action).to_numpy(dtype=bool, na_value=False))
    candidates = frames[["message_type", "direction"]].take(rows)
    keep = ((candidates["message_type"] == "CALL") & (candidates["direction"] == "charger_to_csms")).to_numpy(
        dtype=bool, na_value=False)
    return rows[keep]
