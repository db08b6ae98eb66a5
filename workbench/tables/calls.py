"""The calls table: one row per request (CALL) with its reply, plus one per reply that answers nothing.

Pairing is per connection and per direction of the request (see :mod:`.pairing`). Columns are
built with array operations on the frames table; the only Python loops are the pairing pass and
one over the (few) replies without request.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api.extensions import take

from ._columns import labels_column, take_str
from .pairing import REVERSE, Pairing, pair_frames

COLUMNS: dict[str, tuple[str, str, str]] = {
    # name: (dtype, unit, meaning)
    "ts": ("datetime64[us, UTC]", "UTC", "request capture time, or reply time when there is no request"),
    "charge_point_id": ("str", "", "charge point of the connection"),
    "connection_id": ("str", "", "WebSocket connection (joins connections)"),
    "direction": ("str", "", "direction of the request: charger_to_csms | csms_to_charger"),
    "unique_id": ("str", "", "OCPP-J message id shared by request and reply"),
    "action": ("str", "", "the request's action (missing for a reply without request)"),
    "request_seq": ("Int64", "", "frames.seq of the CALL, or <NA>"),
    "reply_seq": ("Int64", "", "frames.seq of the CALLRESULT/CALLERROR, or <NA>"),
    "request": ("ocpp_payload", "", "request payload (dict), or None; decoded on access like frames.payload"),
    "response": ("ocpp_payload", "", "CALLRESULT payload, or CALLERROR details, or None (decoded on access)"),
    "error_code": ("str", "", "CALLERROR code as sent, or missing"),
    "reply_ts": ("datetime64[us, UTC]", "UTC", "reply capture time, or NaT"),
    "latency_s": ("float64", "s", "reply_ts - ts, or NaN when there is no pair"),
    "outcome": ("str", "", "answered | error | unanswered | reply_without_request | duplicate_id"),
}

OUTCOMES = ("answered", "error", "unanswered", "reply_without_request", "duplicate_id")


def _utc(naive_utc: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(naive_utc.astype("datetime64[us]")).tz_localize("UTC")


def build_calls(frames: pd.DataFrame, pairing: Pairing | None = None) -> pd.DataFrame:
    """The calls table of a frames table, ordered by the seq of the row's first frame.

    ``pairing``: the :class:`~.pairing.Pairing` of exactly these frames, if already computed."""
    if pairing is None or len(pairing.reply_of) != len(frames):
        pairing = pair_frames(
            frames["connection_id"].to_numpy(dtype=object, na_value=None).tolist(),
            frames["direction"].to_numpy(dtype=object, na_value=None).tolist(),
            frames["message_type"].to_numpy(dtype=object).tolist(),
            frames["unique_id"].to_numpy(dtype=object, na_value=None).tolist(),
        )
    # Message types as masks: a million Python strings (to_numpy(dtype=object)) cost far more.
    is_call = _equals(frames["message_type"], "CALL")
    is_error = _equals(frames["message_type"], "CALLERROR")
    is_reply = _equals(frames["message_type"], "CALLRESULT") | is_error
    reply_of = np.asarray(pairing.reply_of, dtype=np.int64)
    n = len(frames)
    reply_for = np.full(n, -1, dtype=np.int64)
    is_paired_reply = reply_of >= 0
    reply_for[reply_of[is_paired_reply]] = np.flatnonzero(is_paired_reply)

    requests = np.flatnonzero(is_call)
    orphans = np.flatnonzero(is_reply & ~is_paired_reply)
    # Row order: by the position of the row's first frame.
    first = np.concatenate([requests, orphans])
    order = np.argsort(first, kind="stable")
    request_pos = np.concatenate([requests, np.full(len(orphans), -1, dtype=np.int64)])[order]
    reply_pos = np.concatenate([reply_for[requests], orphans])[order]
    anchor = first[order]

    has_request = request_pos >= 0
    has_reply = reply_pos >= 0
    safe_reply = np.where(has_reply, reply_pos, 0)
    safe_request = np.where(has_request, request_pos, 0)

    def masked_payload(positions: np.ndarray, mask: np.ndarray) -> Any:
        # take() keeps the payload column lazy (see workbench.tables.payloads): nothing is decoded here.
        return take(frames["payload"].array, np.where(mask, positions, -1), allow_fill=True)

    def masked_str(column: str, positions: np.ndarray, mask: np.ndarray) -> pd.api.extensions.ExtensionArray:
        return take_str(frames[column], positions, mask)

    def masked_int(positions: np.ndarray, mask: np.ndarray) -> pd.arrays.IntegerArray:
        values = seq[positions] if n else np.zeros(0, dtype=np.int64)
        return pd.arrays.IntegerArray(np.where(mask, values, 0).astype(np.int64), ~mask)

    seq = frames["seq"].to_numpy(dtype=np.int64)
    ts_all = frames["ts"].dt.tz_convert("UTC").to_numpy(dtype="datetime64[us]")  # naive UTC, fast to index
    ts = _utc(ts_all[anchor])
    reply_ts = _utc(np.where(has_reply, ts_all[safe_reply] if n else ts_all[:0], np.datetime64("NaT", "us")))
    duplicate = (np.asarray(pairing.duplicate, dtype=bool)[safe_request] & has_request) if n else np.zeros(0, dtype=bool)
    reply_is_error = is_error[safe_reply] if n else np.zeros(0, dtype=bool)
    outcome = np.select(
        [~has_request, duplicate, ~has_reply, reply_is_error],
        [OUTCOMES.index(name) for name in ("reply_without_request", "duplicate_id", "unanswered", "error")],
        default=OUTCOMES.index("answered"),
    )
    latency = (reply_ts - ts).total_seconds().to_numpy(dtype=np.float64, copy=True) if len(anchor) else np.empty(0)
    latency[~has_request] = np.nan
    everywhere = np.ones(len(anchor), dtype=bool)

    return pd.DataFrame({
        "ts": ts,
        "charge_point_id": masked_str("charge_point_id", anchor, everywhere),
        "connection_id": masked_str("connection_id", anchor, everywhere),
        "direction": _request_direction(masked_str("direction", anchor, everywhere), has_request),
        "unique_id": masked_str("unique_id", anchor, everywhere),
        "action": masked_str("action", safe_request, has_request),
        "request_seq": masked_int(safe_request, has_request),
        "reply_seq": masked_int(safe_reply, has_reply),
        "request": masked_payload(safe_request, has_request),
        "response": masked_payload(safe_reply, has_reply),
        "error_code": masked_str("error_code", safe_reply, has_reply),
        "reply_ts": reply_ts,
        "latency_s": latency,
        "outcome": labels_column(OUTCOMES, outcome),
    }, copy=False)  # every column is new: copying them (the payload columns are large) would be waste


def _equals(column: pd.Series, value: str) -> np.ndarray:
    """``column == value`` as a numpy bool array, missing values False."""
    return (column == value).to_numpy(dtype=bool, na_value=False)


def _request_direction(anchor_direction: pd.api.extensions.ExtensionArray,
                       has_request: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """The request's direction: the row's first frame's, reversed for a reply without request (few rows)."""
    without = ~has_request
    if without.any():
        anchor_direction[without] = [REVERSE.get(d) for d in anchor_direction[without].tolist()]
    return anchor_direction


