"""The calls table: one row per request (CALL) with its reply, plus one per reply that answers nothing.

Pairing is per connection and per direction of the request (see :mod:`.pairing`). Columns are
built with array operations on the frames table; the only Python loop is the pairing pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api.extensions import take

from ._columns import str_column, take_str
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
    kinds = frames["message_type"].to_numpy(dtype=object)
    if pairing is None or len(pairing.reply_of) != len(frames):
        pairing = pair_frames(
            frames["connection_id"].to_numpy(dtype=object, na_value=None).tolist(),
            frames["direction"].to_numpy(dtype=object, na_value=None).tolist(),
            kinds.tolist(),
            frames["unique_id"].to_numpy(dtype=object, na_value=None).tolist(),
        )
    reply_of = np.asarray(pairing.reply_of, dtype=np.int64)
    n = len(frames)
    reply_for = np.full(n, -1, dtype=np.int64)
    is_paired_reply = reply_of >= 0
    reply_for[reply_of[is_paired_reply]] = np.flatnonzero(is_paired_reply)

    is_reply = (kinds == "CALLRESULT") | (kinds == "CALLERROR")
    requests = np.flatnonzero(kinds == "CALL")
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
    reply_kind = kinds[safe_reply] if n else np.empty(0, dtype=object)
    anchor_direction = frames["direction"].to_numpy(dtype=object, na_value=None)[anchor] if n else np.empty(0, dtype=object)
    request_direction = [d if has else REVERSE.get(d) for d, has in zip(anchor_direction.tolist(), has_request.tolist())]
    duplicate = (np.asarray(pairing.duplicate, dtype=bool)[safe_request] & has_request) if n else np.zeros(0, dtype=bool)
    outcome = np.select(
        [~has_request, duplicate, ~has_reply, reply_kind == "CALLERROR"],
        ["reply_without_request", "duplicate_id", "unanswered", "error"],
        default="answered",
    ) if len(anchor) else np.empty(0, dtype=object)
    latency = (reply_ts - ts).total_seconds().to_numpy(dtype=np.float64, copy=True) if len(anchor) else np.empty(0)
    latency[~has_request] = np.nan
    everywhere = np.ones(len(anchor), dtype=bool)

    return pd.DataFrame({
        "ts": ts,
        "charge_point_id": masked_str("charge_point_id", anchor, everywhere),
        "connection_id": masked_str("connection_id", anchor, everywhere),
        "direction": str_column(request_direction),
        "unique_id": masked_str("unique_id", anchor, everywhere),
        "action": masked_str("action", safe_request, has_request),
        "request_seq": masked_int(safe_request, has_request),
        "reply_seq": masked_int(safe_reply, has_reply),
        "request": masked_payload(safe_request, has_request),
        "response": masked_payload(safe_reply, has_reply),
        "error_code": masked_str("error_code", safe_reply, has_reply),
        "reply_ts": reply_ts,
        "latency_s": latency,
        "outcome": str_column(outcome.tolist()),
    })
