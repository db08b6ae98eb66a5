"""The transactions table: one row per charging session (OCPP 1.6 §4.8, §4.10, §6.44-6.47), energy three ways.

A session is a StartTransaction (its transactionId comes from the paired CALLRESULT) and the first
later StopTransaction with that transactionId on the same charge point; a stop with no start is a
row of its own; a later stop repeating one of these adds no row (see :func:`duplicate_stops`). Energy:

* ``energy_wh`` = meterStop - meterStart (both integer Wh by the spec);
* ``energy_register_wh`` = last Energy.Active.Import.Register sample (overall value, no phase; Outlet
  preferred) within the session, transactionData included, minus the register when the transaction
  started (``register_start_wh``): the Transaction.Begin sample; else meterStart when it is consistent
  with the register (not above the first sample, and below it by no more than the session's power
  could deliver between the start and that sample, see :func:`_meter_start_consistent`); else the first
  sample. NaN when there is no basis: no register sample, or a single one that is its own baseline;
* ``energy_integrated_wh`` = active import power integrated over the sample times with the
  trapezoid rule. Power is Power.Active.Import (overall, else the sum of L1..L3), else
  sum over phases of Current.Import x Voltage. Samples of context Transaction.Begin/End and
  Interruption.* are left out (boundary readings, often 0 with the relay open); the first sample's
  power is held back to the start and the last one's forward to the stop, each for at most one
  sample interval. ``energy_tolerance_wh`` is how far the integral may honestly be from the register:
  ``max_power_w * sample_interval_s / 3600 * (2 + status_changes / 2) + energy_tolerance_fraction *
  |energy| + energy_tolerance_wh`` (the hold at each end can miss up to one interval at full power,
  and each status change inside the session can switch power on or off between two samples,
  costing the trapezoid up to half an interval).

Samples belong to a session when they carry its transactionId and arrive between its start and
its stop (capture order), or carry no transactionId (or a different one) but were taken on its
connector between its start and stop times.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import spec16
from ._columns import labels_column, paused_gc
from ._fields import cp_key
from .payload_time import TS_DTYPE, parse_payload_times
from .transaction_calls import started_transactions, stopped_transactions

COLUMNS: dict[str, tuple[str, str, str]] = {
    # name: (dtype, unit, meaning)
    "ts": (TS_DTYPE, "UTC", "start_ts, or stop_ts when there is no start"),
    "charge_point_id": ("str", "", "charge point"),
    "connector_id": ("Int64", "", "connectorId of the StartTransaction (or of the session's MeterValues)"),
    "transaction_id": ("Int64", "", "transactionId from the StartTransaction reply (or the stop)"),
    "id_tag": ("str", "", "idTag of the StartTransaction (else of the stop)"),
    "id_tag_status": ("str", "", "idTagInfo.status the CSMS answered to the StartTransaction"),
    "start_ts": (TS_DTYPE, "UTC", "StartTransaction timestamp (payload; capture time if unreadable)"),
    "start_capture_ts": (TS_DTYPE, "UTC", "when the proxy saw the StartTransaction"),
    "stop_ts": (TS_DTYPE, "UTC", "StopTransaction timestamp (payload; capture time if unreadable)"),
    "stop_capture_ts": (TS_DTYPE, "UTC", "when the proxy saw the StopTransaction"),
    "meter_start_wh": ("float64", "Wh", "meterStart"),
    "meter_stop_wh": ("float64", "Wh", "meterStop"),
    "energy_wh": ("float64", "Wh", "meter_stop_wh - meter_start_wh"),
    "energy_register_wh": ("float64", "Wh", "register_last_wh - register_start_wh; NaN when there is no basis "
                                            "(see the module doc)"),
    "register_start_wh": ("float64", "Wh", "the register when the transaction started (see register_start_source)"),
    "register_start_source": ("str", "", "transaction_begin | meter_start | first_sample: where register_start_wh "
                                         "comes from; <NA> when there is no register sample"),
    "register_first_wh": ("float64", "Wh", "first Energy.Active.Import.Register sample in the session"),
    "register_last_wh": ("float64", "Wh", "last Energy.Active.Import.Register sample in the session"),
    "register_first_ts": (TS_DTYPE, "UTC", "time of register_first_wh"),
    "register_last_ts": (TS_DTYPE, "UTC", "time of register_last_wh"),
    "energy_integrated_wh": ("float64", "Wh", "power integrated over the session (trapezoid, see module doc)"),
    "energy_tolerance_wh": ("float64", "Wh", "how far energy_integrated_wh may be from the register"),
    "max_power_w": ("float64", "W", "highest active import power sampled in the session"),
    "sample_interval_s": ("float64", "s", "median time between the session's power samples"),
    "power_samples": ("int64", "", "number of power readings used for energy_integrated_wh"),
    "status_changes": ("int64", "", "StatusNotifications of the connector during the session"),
    "charging_s": ("float64", "s", "time in Charging during the session"),
    "suspended_ev_s": ("float64", "s", "time in SuspendedEV during the session"),
    "suspended_evse_s": ("float64", "s", "time in SuspendedEVSE during the session"),
    "stop_reason": ("str", "", "StopTransaction reason; Local when the stop sent none (the §7.36 default)"),
    "stop_reason_defaulted": ("bool", "", "the stop sent no reason: stop_reason is the default Local"),
    "completeness": ("str", "", "complete | open_at_end | started_before_capture | stop_without_start"),
    "start_seq": ("Int64", "", "frames.seq of the StartTransaction"),
    "start_reply_seq": ("Int64", "", "frames.seq of its reply"),
    "stop_seq": ("Int64", "", "frames.seq of the StopTransaction"),
}

COMPLETENESS = ("complete", "open_at_end", "started_before_capture", "stop_without_start")

_BOUNDARY_CONTEXTS = frozenset({"Transaction.Begin", "Transaction.End", "Interruption.Begin", "Interruption.End"})
_FAR_FUTURE = pd.Timestamp("2262-01-01", tz="UTC")
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


def _assign_stops(starts: pd.DataFrame, stops: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per stop (row of ``stops``): the session (row of ``starts``) it ends, else -1; and the stop row it
    repeats, else -1. A stop ends the latest start of its charge point and transactionId answered before
    it; a later stop for that same start repeats the first one (a duplicate stop, no session of its own),
    and so does a later stop with the transactionId of an earlier stop that had no start."""
    session = np.full(len(stops), -1, dtype=np.int64)
    repeats = np.full(len(stops), -1, dtype=np.int64)
    known_start = starts[starts["transaction_id"].notna().to_numpy()]
    known_stop = stops[stops["transaction_id"].notna().to_numpy()]
    if len(known_stop) == 0:
        return session, repeats
    left = pd.DataFrame({"charge_point_id": known_stop["charge_point_id"].to_numpy(),
                         "transaction_id": known_stop["transaction_id"].to_numpy(dtype=np.int64),
                         "stop_seq": known_stop["stop_seq"].to_numpy(dtype=np.int64),
                         "stop_row": np.flatnonzero(stops["transaction_id"].notna().to_numpy())})
    left = left.sort_values("stop_seq", kind="stable")
    left["session"] = -1
    if len(known_start):
        right = pd.DataFrame({"charge_point_id": known_start["charge_point_id"].to_numpy(),
                              "transaction_id": known_start["transaction_id"].to_numpy(dtype=np.int64),
                              "reply_seq": known_start["reply_seq"].to_numpy(dtype=np.int64),
                              "session": np.flatnonzero(starts["transaction_id"].notna().to_numpy())})
        joined = pd.merge_asof(left.drop(columns="session"), right.sort_values("reply_seq", kind="stable"),
                               left_on="stop_seq", right_on="reply_seq",
                               by=["charge_point_id", "transaction_id"], direction="backward")
        left["session"] = joined["session"].fillna(-1).to_numpy(dtype=np.int64)
    # The first stop of each session (or of each stop-only transactionId) counts; later ones repeat it.
    group = np.where(left["session"].to_numpy() >= 0, left["session"].to_numpy(), -1)
    left["_group"] = [(g,) if g >= 0 else (cp, tx) for g, cp, tx in
                      zip(group.tolist(), left["charge_point_id"].tolist(), left["transaction_id"].tolist())]
    first_row = left.groupby("_group", sort=False)["stop_row"].transform("first").to_numpy(dtype=np.int64)
    rows = left["stop_row"].to_numpy(dtype=np.int64)
    is_first = first_row == rows
    session[rows[is_first]] = left["session"].to_numpy()[is_first]
    repeats[rows[~is_first]] = first_row[~is_first]
    return session, repeats


def _match_stops(starts: pd.DataFrame, stops: pd.DataFrame) -> pd.DataFrame:
    """Sessions: every start with its first later stop of the same transactionId, and stops without a
    start; repeated stops (see :func:`_assign_stops`) are left out."""
    starts = starts.copy()
    starts["session"] = np.arange(len(starts))
    session, repeats = _assign_stops(starts, stops)
    stops = stops.assign(_session=session)
    matched = stops[session >= 0].set_index("_session")
    sessions = starts.join(matched.drop(columns=["charge_point_id", "transaction_id"]), on="session")
    orphans = stops[(session < 0) & (repeats < 0)].drop(columns=["_session"])
    orphans = orphans.assign(connector_id=pd.array([pd.NA] * len(orphans), dtype="Int64"))
    sessions = pd.concat([sessions.drop(columns=["session"]), orphans], ignore_index=True)
    return sessions


def duplicate_stops(frames: pd.DataFrame) -> pd.DataFrame:
    """StopTransactions that repeat an earlier stop of the same transaction (no session of their own), one
    row each in capture order: charge_point_id ("" when unknown), transaction_id, stop_seq, stop_capture_ts,
    meter_stop_wh, stop_reason (as sent), and first_stop_seq, first_meter_stop_wh, first_stop_reason of the
    stop it repeats."""
    starts = started_transactions(frames)
    stops = stopped_transactions(frames)
    _, repeats = _assign_stops(starts, stops)
    dup = np.flatnonzero(repeats >= 0)
    first = repeats[dup]
    out = stops.iloc[dup][["charge_point_id", "transaction_id", "stop_seq", "stop_capture_ts", "meter_stop_wh",
                           "stop_reason"]].reset_index(drop=True)
    out["first_stop_seq"] = stops["stop_seq"].to_numpy()[first]
    out["first_meter_stop_wh"] = stops["meter_stop_wh"].to_numpy()[first]
    out["first_stop_reason"] = stops["stop_reason"].array.take(first)
    return out


def _key_codes(left_by: list[np.ndarray], right_by: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of key tuples (one array per key column): equal tuples get equal codes, right
    codes are 0..k-1, and a left tuple that no right row has gets -1. Hash look-ups of each column
    against the (few) right values: far cheaper than grouping millions of rows by several keys."""
    left_code = np.zeros(len(left_by[0]), dtype=np.int64)
    right_code = np.zeros(len(right_by[0]), dtype=np.int64)
    for i, (left, right) in enumerate(zip(left_by, right_by)):
        values = pd.Index(pd.unique(right))
        left_at = values.get_indexer(left)
        right_code = right_code * len(values) + values.get_indexer(right)
        left_code = np.where((left_code < 0) | (left_at < 0), -1, left_code * len(values) + left_at)
        if i:  # renumber 0..k-1 so that products over several columns cannot overflow
            combos = pd.Index(pd.unique(right_code))
            right_code = combos.get_indexer(right_code)
            left_code = np.where(left_code < 0, -1, combos.get_indexer(left_code))
    return left_code, right_code


def _asof_backward(left_by: list[np.ndarray], left_on: np.ndarray,
                   right_by: list[np.ndarray], right_on: np.ndarray) -> np.ndarray:
    """For each left row, the position of the right row with the same ``by`` key and the greatest
    ``on`` <= the left's ``on`` (on ties the last in right order), or -1: what
    ``pd.merge_asof(direction="backward")`` matches, without building and sorting DataFrames.
    ``on`` arrays: same sortable dtype, no nulls."""
    if len(left_on) == 0 or len(right_on) == 0:
        return np.full(len(left_on), -1, dtype=np.int64)
    left_code, right_code = _key_codes(left_by, right_by)
    # One sortable int64 per row: (key code, rank of on among the right's values). A left row's rank is
    # how many distinct right values are <= its own, a right row's is its own rank + 1, so that
    # "right key <= left key" means same code and right on <= left on (or a smaller code).
    steps = np.unique(right_on)
    width = len(steps) + 1
    right_key = right_code * width + np.searchsorted(steps, right_on, side="left") + 1
    left_key = left_code * width + np.searchsorted(steps, left_on, side="right")
    order = np.argsort(right_key, kind="stable")  # ties keep right order: the last one wins below
    at = np.searchsorted(right_key[order], left_key, side="right") - 1
    safe = np.clip(at, 0, None)
    found = (left_code >= 0) & (at >= 0) & (right_code[order][safe] == left_code)
    return np.where(found, order[safe], -1)


def _window_ids(left_by: list[np.ndarray], left_t: np.ndarray, right_by: list[np.ndarray],
                start: np.ndarray, end: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """For each left row (key ``left_by``, time ``left_t``), the id of the window with the same key whose
    [start, end] contains it, trying only the latest start <= left_t, or -1. Arrays without nulls."""
    at = _asof_backward(left_by, left_t, right_by, start)
    found = np.flatnonzero(at >= 0)
    out = np.full(len(at), -1, dtype=np.int64)
    out[found] = np.where(left_t[found] <= end[at[found]], ids[at[found]], -1)
    return out


def _runs(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Runs of consecutive rows equal in every column: the first row of each run, and each row's run."""
    starts = np.zeros(len(columns[0]), dtype=bool)
    starts[:1] = True
    for column in columns:
        starts[1:] |= column[1:] != column[:-1]
    return np.flatnonzero(starts), np.cumsum(starts, dtype=np.int64) - 1


def build_transactions(frames: pd.DataFrame, meter_values: pd.DataFrame, status: pd.DataFrame) -> pd.DataFrame:
    """The transactions table (columns as in :data:`COLUMNS`), ordered by ts."""
    with paused_gc():
        return _build_transactions(frames, meter_values, status)


def _build_transactions(frames: pd.DataFrame, meter_values: pd.DataFrame, status: pd.DataFrame) -> pd.DataFrame:
    starts = started_transactions(frames)
    stops = stopped_transactions(frames)
    sessions = _match_stops(starts, stops)
    n = len(sessions)
    if n == 0:
        return _empty()

    start_ts, _, _ = parse_payload_times(sessions["start_ts_raw"].tolist() if "start_ts_raw" in sessions
                                         else [None] * n)
    stop_ts, _, _ = parse_payload_times(sessions["stop_ts_raw"].tolist())
    start_capture = sessions["start_capture_ts"].astype(TS_DTYPE).reset_index(drop=True)
    stop_capture = sessions["stop_capture_ts"].astype(TS_DTYPE).reset_index(drop=True)
    start_ts = start_ts.where(start_ts.notna(), start_capture)
    stop_ts = stop_ts.where(stop_ts.notna(), stop_capture)

    has_start = sessions["start_seq"].notna().to_numpy()
    has_stop = sessions["stop_seq"].notna().to_numpy()
    tx = sessions["transaction_id"].astype("Int64")
    cp = sessions["charge_point_id"].astype(str).to_numpy()

    # Last frame time per charge point: the end of an open session's window.
    last_ts = frames.groupby("charge_point_id", dropna=False, sort=False)["ts"].max()
    last_ts.index = [key if isinstance(key, str) else "" for key in last_ts.index]

    work = pd.DataFrame({
        "_sid": np.arange(n),
        "charge_point_id": cp,
        "connector_id": sessions["connector_id"].astype("Int64").to_numpy(),
        "transaction_id": tx.to_numpy(),
        "start_seq": sessions["start_seq"].astype("Int64").to_numpy(),
        "stop_seq": sessions["stop_seq"].astype("Int64").to_numpy(),
        "reply_seq": sessions["reply_seq"].astype("Int64").to_numpy() if "reply_seq" in sessions
        else pd.array([pd.NA] * n, dtype="Int64"),
    })
    window_start = start_ts.where(has_start, pd.NaT)
    window_end = stop_ts.where(has_stop, pd.Series(cp).map(last_ts).astype(TS_DTYPE))
    work["window_start"] = window_start.reset_index(drop=True)
    work["window_end"] = window_end.reset_index(drop=True)

    # Completeness. A stop whose transaction was referenced before the charge point's first
    # StartTransaction in the capture started before the capture; any other unknown stop has no start.
    completeness = np.where(has_start & has_stop, "complete", np.where(has_start, "open_at_end", "")).astype(object)
    orphan = ~has_start
    if orphan.any():
        first_start = pd.Series(starts["start_seq"].to_numpy(), index=starts["charge_point_id"].to_numpy())
        first_start = first_start.groupby(level=0).min() if len(first_start) else pd.Series(dtype="int64")
        mv_tx = _samples_with_ids(meter_values, tx[orphan], ["charge_point_id", "transaction_id", "seq"])
        first_ref = mv_tx.assign(cp=cp_key(mv_tx["charge_point_id"]).to_numpy()).groupby(
            ["cp", "transaction_id"])["seq"].min()
        for i in np.flatnonzero(orphan):
            earliest = int(sessions["stop_seq"].iloc[i])
            tid = tx.iloc[i]
            if tid is not pd.NA and (cp[i], tid) in first_ref.index:
                earliest = min(earliest, int(first_ref[(cp[i], tid)]))
            before_any_start = cp[i] not in first_start.index or earliest < int(first_start[cp[i]])
            completeness[i] = "started_before_capture" if before_any_start else "stop_without_start"
        # Sessions running when the capture began: their window opens at the capture's start.
        work.loc[orphan, "window_start"] = pd.Timestamp("1970-01-01", tz="UTC")

    # Connector of stop-only sessions: from their MeterValues.
    if orphan.any() and len(meter_values):
        mv_conn = _samples_with_ids(meter_values, tx[orphan],
                                    ["charge_point_id", "transaction_id", "connector_id", "source"])
        mv_conn = mv_conn[(mv_conn["connector_id"].notna()
                           & (mv_conn["source"] == "MeterValues")).to_numpy(dtype=bool, na_value=False)]
        conn_of = mv_conn.assign(cp=cp_key(mv_conn["charge_point_id"]).to_numpy()).groupby(
            ["cp", "transaction_id"])["connector_id"].last()
        for i in np.flatnonzero(orphan):
            tid = tx.iloc[i]
            if tid is not pd.NA and (cp[i], tid) in conn_of.index:
                work.loc[i, "connector_id"] = int(conn_of[(cp[i], tid)])

    energy = _session_energy(meter_values, work)
    durations = _session_status(status, work)

    id_tag = sessions["id_tag"].astype(object).where(sessions["id_tag"].notna(), sessions["stop_id_tag"]) \
        if "stop_id_tag" in sessions else sessions["id_tag"]
    table = pd.DataFrame({
        "ts": start_ts.where(has_start, stop_ts).astype(TS_DTYPE),
        "charge_point_id": pd.array(sessions["charge_point_id"].replace("", None).tolist(), dtype="str"),
        "connector_id": work["connector_id"].astype("Int64"),
        "transaction_id": tx.reset_index(drop=True),
        "id_tag": pd.array(id_tag.tolist(), dtype="str"),
        "id_tag_status": pd.array(sessions["id_tag_status"].tolist(), dtype="str"),
        "start_ts": start_ts.where(has_start, pd.NaT).astype(TS_DTYPE),
        "start_capture_ts": start_capture,
        "stop_ts": stop_ts.where(has_stop, pd.NaT).astype(TS_DTYPE),
        "stop_capture_ts": stop_capture,
        "meter_start_wh": sessions["meter_start_wh"].to_numpy(dtype=np.float64),
        "meter_stop_wh": sessions["meter_stop_wh"].to_numpy(dtype=np.float64),
    })
    table["energy_wh"] = table["meter_stop_wh"] - table["meter_start_wh"]
    for column in ("register_first_wh", "register_last_wh", "register_first_ts",
                   "register_last_ts", "energy_integrated_wh", "max_power_w", "sample_interval_s",
                   "power_samples"):
        table[column] = energy[column]
    _register_baseline(table, energy["_register_begin_wh"].to_numpy(), energy["_register_samples"].to_numpy())
    table["status_changes"] = durations["status_changes"]
    table["charging_s"] = durations["Charging"]
    table["suspended_ev_s"] = durations["SuspendedEV"]
    table["suspended_evse_s"] = durations["SuspendedEVSE"]
    reference = table["energy_wh"].where(table["energy_wh"].notna(), table["energy_register_wh"]).abs()
    table["energy_tolerance_wh"] = (
        table["max_power_w"] * table["sample_interval_s"] / 3600.0 * (2.0 + table["status_changes"] / 2.0)
        + ENERGY_TOLERANCE_FRACTION * reference.fillna(0.0) + ENERGY_TOLERANCE_WH
    )
    reason = sessions["stop_reason"].astype(object).to_numpy(na_value=None)
    defaulted = has_stop & pd.isna(reason)
    table["stop_reason"] = pd.array(np.where(defaulted, spec16.DEFAULT_STOP_REASON, reason).tolist(), dtype="str")
    table["stop_reason_defaulted"] = defaulted
    table["completeness"] = pd.array(completeness.tolist(), dtype="str")
    table["start_seq"] = work["start_seq"].astype("Int64")
    table["start_reply_seq"] = work["reply_seq"].astype("Int64")
    table["stop_seq"] = work["stop_seq"].astype("Int64")
    table = table[list(COLUMNS)]
    order = np.lexsort((table["stop_seq"].fillna(-1).to_numpy(), table["start_seq"].fillna(-1).to_numpy(),
                        table["ts"].fillna(_FAR_FUTURE).to_numpy()))
    return table.iloc[order].reset_index(drop=True)


# Defaults of the tolerance in energy_tolerance_wh; the energy check reads CheckConfig for its own.
ENERGY_TOLERANCE_FRACTION = 0.01
ENERGY_TOLERANCE_WH = 1.0

REGISTER_START_SOURCES = ("transaction_begin", "meter_start", "first_sample")


def _meter_start_consistent(table: pd.DataFrame) -> np.ndarray:
    """Per session: meterStart can be the register at the start. It is not above the first register sample
    (beyond the tolerance) and below it by no more than the session could have charged between the start
    and that sample: at max_power_w, else at the register's own rate between its first and last samples,
    plus the tolerance (a meterStart in another scale or from another counter fails this)."""
    start = table["meter_start_wh"].to_numpy(dtype=np.float64, na_value=np.nan)
    first = table["register_first_wh"].to_numpy(dtype=np.float64, na_value=np.nan)
    last = table["register_last_wh"].to_numpy(dtype=np.float64, na_value=np.nan)
    first_t, last_t = epoch_s(table["register_first_ts"]), epoch_s(table["register_last_ts"])
    lead_s = np.clip(np.nan_to_num(first_t - epoch_s(table["start_ts"])), 0.0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate_w = np.where(last_t > first_t, (last - first) / (last_t - first_t) * 3600.0, np.nan)
    power_w = table["max_power_w"].to_numpy(dtype=np.float64, na_value=np.nan)
    power_w = np.nan_to_num(np.where(np.isnan(power_w), rate_w, power_w))
    reach = np.clip(power_w, 0.0, None) * lead_s / 3600.0 * (1 + ENERGY_TOLERANCE_FRACTION)
    with np.errstate(invalid="ignore"):
        return (start <= first + ENERGY_TOLERANCE_WH) & (first - start <= reach + ENERGY_TOLERANCE_WH)


def _register_baseline(table: pd.DataFrame, begin_wh: np.ndarray, register_samples: np.ndarray) -> None:
    """register_start_wh, register_start_source and energy_register_wh of ``table`` (see the module doc).
    ``begin_wh``: each session's Transaction.Begin register sample (NaN if none); ``register_samples``: its
    number of register samples."""
    has_begin = ~np.isnan(begin_wh)
    by_meter_start = ~has_begin & _meter_start_consistent(table)
    has_register = register_samples > 0
    first = table["register_first_wh"].to_numpy(dtype=np.float64, na_value=np.nan)
    start_wh = np.where(has_begin, begin_wh,
                        np.where(by_meter_start, table["meter_start_wh"].to_numpy(dtype=np.float64, na_value=np.nan),
                                 first))
    source = np.where(has_begin, 0, np.where(by_meter_start, 1, 2))
    energy = table["register_last_wh"].to_numpy(dtype=np.float64, na_value=np.nan) - start_wh
    # The baseline is the only sample: nothing measured after it.
    alone = (register_samples == 1) & (source != 1)
    energy[alone | ~has_register] = np.nan
    start_wh[~has_register] = np.nan
    table["energy_register_wh"] = energy
    table["register_start_wh"] = start_wh
    labels = np.asarray(REGISTER_START_SOURCES, dtype=object)[source]
    table["register_start_source"] = pd.array(np.where(has_register, labels, None).tolist(), dtype="str")


def _samples_with_ids(meter_values: pd.DataFrame, transaction_ids: pd.Series, columns: list[str]) -> pd.DataFrame:
    """``columns`` of the samples whose transactionId is one of ``transaction_ids`` (those of the few
    stop-only sessions): far less to group than every sample with a transactionId."""
    wanted = meter_values["transaction_id"].isin(transaction_ids.dropna().unique()).to_numpy(dtype=bool,
                                                                                            na_value=False)
    return meter_values.loc[wanted, columns]


def session_of_samples(meter_values: pd.DataFrame, work: pd.DataFrame) -> np.ndarray:
    """For each meter_values row, the row of ``work`` (sessions) it belongs to, or -1.

    Reads the columns charge_point_id, transaction_id, seq, connector_id and ts of ``meter_values``."""
    m = len(meter_values)
    if m == 0 or len(work) == 0:
        return np.full(m, -1, dtype=np.int64)
    mv_cp, work = _integer_cp_keys(meter_values["charge_point_id"], work)
    # The sampled values of one MeterValue element agree in every key read here: answer for the first
    # row of each run of equal rows only (a tenth of the rows, and of the temporary memory).
    tx, connector = meter_values["transaction_id"], meter_values["connector_id"]
    keys = {"cp": mv_cp, "tx": tx.to_numpy(dtype=np.int64, na_value=0), "has_tx": tx.notna().to_numpy(),
            "seq": meter_values["seq"].to_numpy(dtype=np.int64),
            "connector": connector.to_numpy(dtype=np.int64, na_value=0), "has_connector": connector.notna().to_numpy(),
            "ts": meter_values["ts"].to_numpy(dtype="datetime64[us]")}
    heads, run = _runs(list(keys.values()))
    keys = {name: values[heads] for name, values in keys.items()}
    out = np.full(len(heads), -1, dtype=np.int64)
    sids = work["_sid"].to_numpy(dtype=np.int64)
    # 1) by transactionId, arriving between the start's reply and the stop (capture order).
    known = work["transaction_id"].notna().to_numpy()
    if keys["has_tx"].any() and known.any():
        anchor = work["reply_seq"].fillna(work["start_seq"]).fillna(-1).to_numpy(dtype=np.int64)[known]
        # A session without a stop (still open at the end of the capture) takes every later sample.
        has_stop = work["stop_seq"].notna().to_numpy()
        until = np.where(has_stop, work["stop_seq"].fillna(0).to_numpy(dtype=np.int64), np.iinfo(np.int64).max)[known]
        rows = np.flatnonzero(keys["has_tx"])
        out[rows] = _window_ids(
            [keys["cp"][rows], keys["tx"][rows]], keys["seq"][rows],
            [work["charge_point_id"].to_numpy()[known],
             work["transaction_id"].to_numpy(dtype=np.int64, na_value=0)[known]],
            anchor, until, sids[known])
    # 2) the rest: by connector and sample time inside the session's window.
    rest = (out < 0) & keys["has_connector"] & ~np.isnat(keys["ts"])
    windows = (work["connector_id"].notna() & work["window_start"].notna() & work["window_end"].notna()).to_numpy()
    if rest.any() and windows.any():
        rows = np.flatnonzero(rest)
        out[rows] = _window_ids(
            [keys["cp"][rows], keys["connector"][rows]], keys["ts"][rows],
            [work["charge_point_id"].to_numpy()[windows],
             work["connector_id"].to_numpy(dtype=np.int64, na_value=0)[windows]],
            work["window_start"].to_numpy(dtype="datetime64[us]")[windows],
            work["window_end"].to_numpy(dtype="datetime64[us]")[windows], sids[windows])
    return out[run]


def _integer_cp_keys(charge_points: pd.Series, work: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Charge point ids of samples and of sessions as integers (equal ids, equal numbers; missing is ""):
    joins on millions of samples by integer are far lighter than by string."""
    sample_keys = cp_key(charge_points) if not isinstance(charge_points.dtype, pd.CategoricalDtype) else None
    if sample_keys is None:
        categories = np.append(charge_points.cat.categories.to_numpy(dtype=object), "")
        names = pd.Index(pd.unique(np.concatenate([categories, work["charge_point_id"].to_numpy(dtype=object)])))
        sample_numbers = names.get_indexer(categories)[charge_points.cat.codes.to_numpy()]
    else:
        names = pd.Index(pd.unique(np.concatenate([sample_keys.to_numpy(), work["charge_point_id"].to_numpy(dtype=object)])))
        sample_numbers = names.get_indexer(sample_keys.to_numpy())
    work = work.assign(charge_point_id=names.get_indexer(work["charge_point_id"].to_numpy(dtype=object)))
    return sample_numbers.astype(np.int64), work


def _session_energy(meter_values: pd.DataFrame, work: pd.DataFrame) -> pd.DataFrame:
    """Per session (row of ``work``): the register span and the integrated power (columns of
    :data:`COLUMNS` from energy_register_wh to power_samples; NaN / NaT / 0 when there are no samples)."""
    n = len(work)
    result = pd.DataFrame({
        "energy_register_wh": np.full(n, np.nan), "register_first_wh": np.full(n, np.nan),
        "register_last_wh": np.full(n, np.nan),
        "register_first_ts": pd.Series(pd.NaT, index=range(n), dtype=TS_DTYPE),
        "register_last_ts": pd.Series(pd.NaT, index=range(n), dtype=TS_DTYPE),
        "energy_integrated_wh": np.full(n, np.nan), "max_power_w": np.full(n, np.nan),
        "sample_interval_s": np.full(n, np.nan), "power_samples": np.zeros(n, dtype=np.int64),
        "_register_samples": np.zeros(n, dtype=np.int64), "_register_begin_wh": np.full(n, np.nan),
    })
    relevant = meter_values["measurand"].isin(
        [spec16.ENERGY_IMPORT_REGISTER, spec16.POWER_IMPORT, spec16.CURRENT_IMPORT, spec16.VOLTAGE]
    ).to_numpy() & meter_values["value_normalized"].notna().to_numpy() & meter_values["ts"].notna().to_numpy()
    rows = np.flatnonzero(relevant)
    if len(rows) == 0:
        return result
    # Only the columns each step reads: a copy of every column of millions of samples is hundreds of MB.
    # Every row: cheaper than copying the join columns of the relevant rows first (a row's session
    # depends on that row only).
    sid = session_of_samples(meter_values, work)[rows]
    rows, sid = rows[sid >= 0], sid[sid >= 0]
    if len(rows) == 0:
        return result
    # Register: overall value in Wh (whatever the context).
    is_register = ((meter_values["measurand"] == spec16.ENERGY_IMPORT_REGISTER).to_numpy(dtype=bool, na_value=False)
                   & meter_values["phase"].isna().to_numpy()
                   & (meter_values["unit_normalized"] == "Wh").to_numpy(dtype=bool, na_value=False))[rows]
    if is_register.any():
        _register_span(_columns_at(meter_values, rows[is_register], _REGISTER_COLUMNS).assign(
            _sid=sid[is_register]), result)
    # Power: without the boundary readings (see the module doc).
    boundary = meter_values["context"].isin(list(_BOUNDARY_CONTEXTS)).to_numpy(dtype=bool, na_value=False)[rows]
    _integrated_power(_columns_at(meter_values, rows[~boundary], _POWER_COLUMNS).assign(_sid=sid[~boundary]),
                      work, result)
    return result


# Columns of meter_values that _register_span and power_readings read.
_REGISTER_COLUMNS = ["ts", "location", "context", "value_normalized", "seq"]
_POWER_COLUMNS = ["ts", "measurand", "phase", "value_normalized", "unit_normalized", "seq", "meter_value_index"]


def _columns_at(table: pd.DataFrame, rows: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """``table[columns]`` at positions ``rows``, index 0..len(rows)-1, without copying other columns."""
    return table[columns].take(rows).reset_index(drop=True)


def _register_span(reg: pd.DataFrame, result: pd.DataFrame) -> None:
    """First and last register sample of each session into ``result``; Outlet preferred when a session
    reports several locations. ``reg``: register samples with their session in ``_sid``, a value and a time."""
    sid = reg["_sid"].to_numpy()
    outlet = (reg["location"] == spec16.DEFAULT_LOCATION).to_numpy(dtype=bool, na_value=False)
    has_outlet = np.zeros(len(result), dtype=bool)
    has_outlet[sid[outlet]] = True
    keep = np.flatnonzero(outlet | ~has_outlet[sid])
    ts = reg["ts"].to_numpy(dtype="datetime64[us]")[keep]
    # By session, then time, then capture order (lexsort is stable, like sort_values(kind="stable")).
    order = keep[np.lexsort((reg["seq"].to_numpy()[keep], ts, sid[keep]))]
    sid = sid[order]
    first = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
    last = np.r_[first[1:] - 1, len(sid) - 1]
    sessions = sid[first]
    value = reg["value_normalized"].to_numpy(dtype=np.float64)
    times = reg["ts"].array
    result.loc[sessions, "register_first_wh"] = value[order[first]]
    result.loc[sessions, "register_last_wh"] = value[order[last]]
    result.loc[sessions, "register_first_ts"] = times.take(order[first])
    result.loc[sessions, "register_last_ts"] = times.take(order[last])
    result.loc[sessions, "_register_samples"] = last - first + 1
    # The first Transaction.Begin sample of each session (in the same order), if it has one.
    begin = (reg["context"] == spec16.TRANSACTION_BEGIN).to_numpy(dtype=bool, na_value=False)[order]
    if begin.any():
        at = np.flatnonzero(begin)
        at = at[np.r_[True, sid[at][1:] != sid[at][:-1]]]
        result.loc[sid[at], "_register_begin_wh"] = value[order[at]]


def _integrated_power(mv: pd.DataFrame, work: pd.DataFrame, result: pd.DataFrame) -> None:
    """Trapezoid integral of active import power per session (see the module doc) into ``result``:
    energy_integrated_wh (Wh), max_power_w (W), sample_interval_s (s), power_samples. ``mv``: samples
    with their session in ``_sid``, a value and a time."""
    power = power_readings(mv)
    if len(power) == 0:
        return
    # By session, then time (lexsort is stable, like sort_values(kind="stable")).
    order = np.lexsort((power["ts"].to_numpy(dtype="datetime64[us]"), power["_sid"].to_numpy()))
    sids = power["_sid"].to_numpy()[order]
    t_s = epoch_s(power["ts"])[order]
    p_w = power["power_w"].to_numpy()[order]
    same = np.zeros(len(power), dtype=bool)
    same[1:] = sids[1:] == sids[:-1]
    dt_s = np.where(same, np.diff(t_s, prepend=t_s[0]), np.nan)
    area = np.where(same, (p_w + np.roll(p_w, 1)) / 2.0 * dt_s, 0.0) / 3600.0
    by_sid = pd.DataFrame({"_sid": sids, "area_wh": area, "dt_s": dt_s, "power_w": p_w, "t_s": t_s})
    grouped = by_sid.groupby("_sid")
    interval = grouped["dt_s"].median()
    count = grouped.size()
    first_t = grouped["t_s"].first()
    last_t = grouped["t_s"].last()
    first_p = grouped["power_w"].first()
    last_p = grouped["power_w"].last()
    idx = interval.index.to_numpy()
    win_start = epoch_s(work["window_start"])[idx]
    win_end = epoch_s(work["window_end"])[idx]
    start_known = work["window_start"].notna().to_numpy()[idx] & work["start_seq"].notna().to_numpy()[idx]
    end_known = work["stop_seq"].notna().to_numpy()[idx]
    step = interval.fillna(0.0).to_numpy()
    head_s = np.where(start_known, np.clip(first_t.to_numpy() - win_start, 0.0, step), 0.0)
    tail_s = np.where(end_known, np.clip(win_end - last_t.to_numpy(), 0.0, step), 0.0)
    integrated = (grouped["area_wh"].sum().to_numpy() + (first_p.to_numpy() * head_s
                                                         + last_p.to_numpy() * tail_s) / 3600.0)
    enough = count.to_numpy() >= 2
    result.loc[idx, "energy_integrated_wh"] = np.where(enough, integrated, np.nan)
    result.loc[idx, "max_power_w"] = grouped["power_w"].max().to_numpy()
    result.loc[idx, "sample_interval_s"] = interval.to_numpy()
    result.loc[idx, "power_samples"] = count.to_numpy()


def epoch_s(times: pd.Series) -> np.ndarray:
    """Seconds since 1970 (float64, NaN for NaT) of a UTC timestamp column."""
    return ((pd.Series(times).astype(TS_DTYPE) - _EPOCH) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64,
                                                                                           na_value=np.nan)


def power_readings(mv: pd.DataFrame) -> pd.DataFrame:
    """Active import power per MeterValue element (one reading time): columns ``_sid`` (if present in
    ``mv``), charge_point_id, connector_id, transaction_id, ts, seq, meter_value_index, power_w, and
    ``power_source``: "power" (Power.Active.Import overall), else "phase_power" (sum of its L1..L3),
    else "current_x_voltage" (sum over phases of Current.Import x Voltage; an overall current pairs
    with an overall voltage, i.e. single phase)."""
    carry = [c for c in ("_sid", "charge_point_id", "connector_id", "transaction_id", "ts", "context", "source")
             if c in mv.columns]
    # One int64 per reading (frame seq and element position), then numbered 0, 1, ... in order of first
    # appearance: flags per reading are then plain array look-ups.
    reading = mv["seq"].to_numpy(dtype=np.int64) * 1_000_000 + np.clip(
        mv["meter_value_index"].to_numpy(dtype=np.int64), 0, 999_999)
    number, readings = _first_appearance_numbers(reading)
    value = mv["value_normalized"].to_numpy(dtype=np.float64)
    line = _line_numbers(mv["phase"])
    measurand, unit = mv["measurand"], mv["unit_normalized"]
    is_power = ((measurand == spec16.POWER_IMPORT) & (unit == "W")).to_numpy(dtype=bool, na_value=False)

    def summed(mask: np.ndarray, values: np.ndarray) -> pd.Series:
        # Series.groupby(...).sum() as before: the same (compensated) sum in the same order, so equal floats.
        return pd.Series(values[mask]).groupby(number[mask], sort=False).sum()

    def has(sums: pd.Series) -> np.ndarray:
        flags = np.zeros(readings, dtype=bool)
        flags[sums.index.to_numpy(dtype=np.int64)] = True
        return flags[number]

    total = summed(is_power & (line == 0), value)
    phase_total = summed(is_power & (line > 0) & ~has(total), value)
    usable = (line >= 0) & ~has(total) & ~has(phase_total)
    is_current = ((measurand == spec16.CURRENT_IMPORT) & (unit == "A")).to_numpy(dtype=bool, na_value=False) & usable
    is_voltage = ((measurand == spec16.VOLTAGE) & (unit == "V")).to_numpy(dtype=bool, na_value=False) & usable
    iv_total = pd.Series(dtype=np.float64)
    if is_current.any() and is_voltage.any():
        # Each current with the mean voltage of the same reading and line (4 lines: overall, L1..L3).
        voltage = pd.Series(value[is_voltage]).groupby(number[is_voltage] * 4 + line[is_voltage], sort=False).mean()
        at = voltage.index.get_indexer(number[is_current] * 4 + line[is_current])
        paired = at >= 0
        amps_x_volts = value[is_current][paired] * voltage.to_numpy()[at[paired]]
        iv_total = pd.Series(amps_x_volts).groupby(number[is_current][paired], sort=False).sum()
    parts = (total, phase_total, iv_total)
    if sum(len(part) for part in parts) == 0:
        return pd.DataFrame({c: mv[c].iloc[:0] for c in carry + ["seq", "meter_value_index"]}).assign(
            power_w=pd.Series(dtype=np.float64), power_source=pd.Series(dtype=object))
    # The reading's other columns come from its first sampled value.
    first_row = np.flatnonzero(np.r_[True, number[1:] > np.maximum.accumulate(number)[:-1]])
    rows = first_row[np.concatenate([part.index.to_numpy(dtype=np.int64) for part in parts])]
    out = _columns_at(mv, rows, carry + ["seq", "meter_value_index"])
    out["power_w"] = np.concatenate([part.to_numpy(dtype=np.float64) for part in parts])
    # Built in Arrow: the same str column as from Python strings, without a Python object per reading.
    source = np.repeat(np.arange(3), [len(part) for part in parts])
    out["power_source"] = labels_column(_POWER_SOURCES, source)
    return out


_POWER_SOURCES = ("power", "phase_power", "current_x_voltage")


def _first_appearance_numbers(keys: np.ndarray) -> tuple[np.ndarray, int]:
    """Number equal keys 0, 1, ... in order of first appearance (like ``pd.factorize``); also the count.
    Samples come in capture order, so keys are usually sorted: then a running count is enough."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64), 0
    if (keys[1:] >= keys[:-1]).all():
        number = np.concatenate([[0], np.cumsum(keys[1:] != keys[:-1], dtype=np.int64)])
        return number, int(number[-1]) + 1
    number, uniques = pd.factorize(keys)
    return number.astype(np.int64), len(uniques)


# PHASE_LINE's lines as numbers: 0 is no phase (the overall value), -1 a phase of no line (N, unknown).
_LINE_NUMBER = {"L1": 1, "L2": 2, "L3": 3}


def _line_numbers(phase: pd.Series) -> np.ndarray:
    """Per sample, the line its phase belongs to (see :data:`_LINE_NUMBER`)."""
    def number(value: Any) -> int:
        return _LINE_NUMBER.get(spec16.PHASE_LINE.get(value), -1)

    if isinstance(phase.dtype, pd.CategoricalDtype):  # map the few categories, then take by code
        lines = np.array([number(c) for c in phase.cat.categories] + [0], dtype=np.int64)
        return lines[phase.cat.codes.to_numpy()]
    codes, uniques = pd.factorize(phase, use_na_sentinel=True)
    lines = np.array([number(c) for c in uniques] + [0], dtype=np.int64)
    return lines[codes]


def _session_status(status: pd.DataFrame, work: pd.DataFrame) -> pd.DataFrame:
    """Per session: seconds in Charging / SuspendedEV / SuspendedEVSE and the count of status changes."""
    n = len(work)
    out = pd.DataFrame({"Charging": np.zeros(n), "SuspendedEV": np.zeros(n), "SuspendedEVSE": np.zeros(n),
                        "status_changes": np.zeros(n, dtype=np.int64)})
    windows = (work["connector_id"].notna() & work["window_start"].notna() & work["window_end"].notna()).to_numpy()
    usable = (status["connector_id"].notna() & status["ts"].notna() & status["status"].notna()).to_numpy()
    if not windows.any() or not usable.any():
        return out
    st = status.loc[usable, ["ts", "charge_point_id", "connector_id", "status", "time_in_state_s"]]
    # Everything in float seconds since 1970: open-ended intervals are +inf.
    w_by = [work["charge_point_id"].to_numpy()[windows],
            work["connector_id"].to_numpy(dtype="int64", na_value=0)[windows]]
    end = epoch_s(work["window_end"])
    w_start, w_end = epoch_s(work["window_start"])[windows], end[windows]
    w_sid = work["_sid"].to_numpy(dtype=np.int64)[windows]
    st_t = epoch_s(st["ts"])
    st_next = st_t + st["time_in_state_s"].fillna(np.inf).to_numpy()
    st_by = [cp_key(st["charge_point_id"]).to_numpy(), st["connector_id"].to_numpy(dtype="int64", na_value=0)]
    st_status = st["status"].to_numpy()
    # Statuses reported inside a window count from their time to the next status (or the window end).
    ids = _window_ids(st_by, st_t, w_by, w_start, w_end, w_sid)
    inside = ids >= 0
    seconds = np.minimum(st_next[inside], end[ids[inside]]) - st_t[inside]
    # The status already in effect when the session started counts from the start; these rows come
    # after the ones above, so that each per-session sum adds in the same order as before.
    before = _asof_backward(w_by, w_start, st_by, st_t)
    found = before >= 0
    seconds0 = np.minimum(st_next[before[found]], w_end[found]) - w_start[found]
    contrib = pd.DataFrame({"_sid": np.concatenate([ids[inside], w_sid[found]]),
                            "status": np.concatenate([st_status[inside], st_status[before[found]]]),
                            "s": np.concatenate([seconds, np.clip(seconds0, 0, None)])})
    contrib = contrib[np.isfinite(contrib["s"].to_numpy())]
    totals = contrib.groupby(["_sid", "status"])["s"].sum()
    for name in ("Charging", "SuspendedEV", "SuspendedEVSE"):
        if name in totals.index.get_level_values("status"):
            values = totals.xs(name, level="status")
            out.loc[values.index.to_numpy(), name] = values.clip(lower=0).to_numpy()
    changes = pd.Series(ids[inside]).value_counts()
    out.loc[changes.index.to_numpy(), "status_changes"] = changes.to_numpy()
    return out


def _empty() -> pd.DataFrame:
    dtypes = {name: spec[0] for name, spec in COLUMNS.items()}
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in dtypes.items()})
