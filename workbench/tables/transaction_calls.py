"""StartTransaction and StopTransaction CALLs as tables (OCPP 1.6 §6.44-6.47): one definition of how a
start pairs with its reply, used by the meter_values table (connectors of transactionData) and the
transactions table (sessions)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._fields import cp_key, int_or_none, text_or_none, wh_or_nan
from .payload_time import TS_DTYPE


def _frames_of(frames: pd.DataFrame, action: str, kinds: list[str], direction: str,
               columns: list[str]) -> pd.DataFrame:
    """``columns`` of the frames of ``action`` with a message_type in ``kinds`` that travel ``direction``.
    The action is compared first and the other columns only on its (few) rows: each comparison over
    a million strings costs."""
    rows = np.flatnonzero((frames["action"] == action).to_numpy(dtype=bool, na_value=False))
    candidates = frames[["message_type", "direction"]].take(rows)
    keep = (candidates["message_type"].isin(kinds) & (candidates["direction"] == direction)).to_numpy(
        dtype=bool, na_value=False)
    return frames[columns].take(rows[keep])


def _calls(frames: pd.DataFrame, action: str) -> pd.DataFrame:
    return _frames_of(frames, action, ["CALL"], "charger_to_csms",
                      ["ts", "charge_point_id", "connection_id", "seq", "unique_id", "payload"])


def started_transactions(frames: pd.DataFrame) -> pd.DataFrame:
    """StartTransaction CALLs with their reply's transactionId, one row each in capture order:
    charge_point_id, connection_id, connector_id, id_tag, meter_start_wh, start_ts_raw,
    start_capture_ts, start_seq, reply_seq, transaction_id, id_tag_status."""
    starts = _calls(frames, "StartTransaction")
    connector, id_tag, meter_start, ts_raw = [], [], [], []
    for payload in starts["payload"].tolist():
        payload = payload if isinstance(payload, dict) else {}
        connector.append(int_or_none(payload.get("connectorId")))
        id_tag.append(text_or_none(payload.get("idTag")))
        meter_start.append(wh_or_nan(payload.get("meterStart")))
        ts_raw.append(payload.get("timestamp"))
    table = pd.DataFrame({
        "charge_point_id": cp_key(starts["charge_point_id"]).to_numpy(),
        "connection_id": starts["connection_id"].astype(object).fillna("").to_numpy(),
        "unique_id": starts["unique_id"].astype(object).fillna("").to_numpy(),
        "connector_id": pd.array(connector, dtype="Int64"),
        "id_tag": pd.array(id_tag, dtype="str"),
        "meter_start_wh": np.asarray(meter_start, dtype=np.float64),
        "start_ts_raw": pd.Series(ts_raw, dtype=object),
        "start_capture_ts": starts["ts"].astype(TS_DTYPE).reset_index(drop=True),
        "start_seq": starts["seq"].to_numpy(dtype=np.int64),
    })
    replies = _frames_of(frames, "StartTransaction", ["CALLRESULT", "CALLERROR"], "csms_to_charger",
                         ["connection_id", "unique_id", "seq", "payload", "message_type"])
    tx_ids, tag_status = [], []
    for kind, payload in zip(replies["message_type"].tolist(), replies["payload"].tolist()):
        payload = payload if isinstance(payload, dict) and kind == "CALLRESULT" else {}
        tx_ids.append(int_or_none(payload.get("transactionId")))
        info = payload.get("idTagInfo")
        tag_status.append(text_or_none(info.get("status")) if isinstance(info, dict) else None)
    reply_table = pd.DataFrame({
        "connection_id": replies["connection_id"].astype(object).fillna("").to_numpy(),
        "unique_id": replies["unique_id"].astype(object).fillna("").to_numpy(),
        "reply_seq": replies["seq"].to_numpy(dtype=np.int64),
        "transaction_id": pd.array(tx_ids, dtype="Int64"),
        "id_tag_status": pd.array(tag_status, dtype="str"),
    })
    if len(table) == 0 or len(reply_table) == 0:
        for column in ("reply_seq", "transaction_id", "id_tag_status"):
            table[column] = pd.Series([None] * len(table), dtype=reply_table[column].dtype if column != "reply_seq"
                                      else "Int64")
        table["reply_seq"] = table["reply_seq"].astype("Int64")
        return table
    # A reply answers the first CALL with its id on its connection: the next reply after the request.
    joined = pd.merge_asof(table, reply_table, left_on="start_seq", right_on="reply_seq",
                           by=["connection_id", "unique_id"], direction="forward")
    joined["reply_seq"] = joined["reply_seq"].astype("Int64")
    joined["transaction_id"] = joined["transaction_id"].astype("Int64")
    return joined


def stopped_transactions(frames: pd.DataFrame) -> pd.DataFrame:
    """StopTransaction CALLs, one row each in capture order: charge_point_id, transaction_id, meter_stop_wh,
    stop_ts_raw, stop_capture_ts, stop_seq, stop_reason (as sent), stop_id_tag."""
    stops = _calls(frames, "StopTransaction")
    tx, meter_stop, ts_raw, reason, id_tag = [], [], [], [], []
    for payload in stops["payload"].tolist():
        payload = payload if isinstance(payload, dict) else {}
        tx.append(int_or_none(payload.get("transactionId")))
        meter_stop.append(wh_or_nan(payload.get("meterStop")))
        ts_raw.append(payload.get("timestamp"))
        reason.append(text_or_none(payload.get("reason")))
        id_tag.append(text_or_none(payload.get("idTag")))
    return pd.DataFrame({
        "charge_point_id": cp_key(stops["charge_point_id"]).to_numpy(),
        "transaction_id": pd.array(tx, dtype="Int64"),
        "meter_stop_wh": np.asarray(meter_stop, dtype=np.float64),
        "stop_ts_raw": pd.Series(ts_raw, dtype=object),
        "stop_capture_ts": stops["ts"].astype(TS_DTYPE).reset_index(drop=True),
        "stop_seq": stops["seq"].to_numpy(dtype=np.int64),
        "stop_reason": pd.array(reason, dtype="str"),
        "stop_id_tag": pd.array(id_tag, dtype="str"),
    })
