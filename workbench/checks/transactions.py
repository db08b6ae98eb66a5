"""Transaction checks: open, orphan, repeatedly stopped and reused transactions, unknown ids in MeterValues and
MeterValues after the stop, and whether the connector status agrees with the power drawn (OCPP 1.6 ed.2
§4.8-4.10, §6.44-6.47, §7.7; ev.energy R10).

Status vs power: a power reading is judged against the status in force when it was taken, only when
that status was reported at least ``status_settle_s`` before it and the next status comes at least
``status_settle_s`` after it (EVs ramp; statuses are reported a little early or late). Readings of
context Transaction.Begin/End and Interruption.* are not used (boundary readings). Power above
``power_idle_w`` while SuspendedEV/SuspendedEVSE is a finding; so is power at or below it in two or
more readings of one Charging period (a single low reading is an EV pausing).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from .. import spec16
from ..tables._columns import TS_DTYPE
from ..tables.transactions import duplicate_stops, epoch_s, power_readings
from ._support import (
    as_int,
    clean,
    cp_codes,
    cp_key,
    cp_or_none,
    first_of_each,
    fmt_wh,
    frames_mask,
    isin,
    joint_codes,
    memo,
    object_column,
    seqs,
)
from .registry import CheckConfig, Finding, check

ZERO_WHILE_CHARGING_MIN_READINGS = 2


def _rows(tx: pd.DataFrame, kind: str) -> pd.DataFrame:
    return tx[(tx["completeness"] == kind).to_numpy(dtype=bool, na_value=False)]


@check("transaction_open_at_end", clause="OCPP 1.6 ed.2 §4.10 StopTransaction (every transaction is stopped)")
def transaction_open_at_end(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Transactions with no StopTransaction by the end of the capture (warning if the connector went idle)."""
    tx = _rows(cap.transactions, "open_at_end")
    if len(tx) == 0:
        return
    seq_of, status_of = _latest_status(cap.status)
    for ts, cp, key, connector, tid, start_seq in zip(
            tx["ts"].tolist(), tx["charge_point_id"].tolist(), cp_key(tx["charge_point_id"]).tolist(),
            tx["connector_id"].tolist(), tx["transaction_id"].tolist(), tx["start_seq"].tolist()):
        where = (key, connector)
        idle = (clean(connector) is not None and where in seq_of and seq_of[where] > start_seq
                and status_of.get(where) in ("Available", "Unavailable", "Faulted"))
        if idle:
            yield Finding("transaction_open_at_end", "warning", clean(ts), clean(cp), as_int(connector), as_int(tid),
                          f"transaction {clean(tid)} was never stopped although the connector "
                          f"went {status_of[where]}", seqs(start_seq, seq_of[where]))
        else:
            yield Finding("transaction_open_at_end", "info", clean(ts), clean(cp), as_int(connector), as_int(tid),
                          f"transaction {clean(tid)} is still open at the end of the capture", seqs(start_seq))


def _latest_status(st: pd.DataFrame) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], str]]:
    """Per (charge point key, connector): the seq of its latest StatusNotification, and the latest status
    reported (a report without a readable status keeps the one before)."""
    st = st[st["connector_id"].notna().to_numpy()].sort_values("seq", kind="stable")
    keys = list(zip(cp_key(st["charge_point_id"]).tolist(), st["connector_id"].tolist()))
    seq_of = dict(zip(keys, st["seq"].tolist()))  # later reports overwrite earlier ones
    has_status = st["status"].notna().to_numpy()
    status_of = dict(zip([k for k, keep in zip(keys, has_status) if keep], st["status"][has_status].tolist()))
    return seq_of, status_of


@check("transaction_stop_without_start", clause="OCPP 1.6 ed.2 §6.46 StopTransaction.req transactionId "
                                                "(from StartTransaction.conf)")
def transaction_stop_without_start(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """A StopTransaction for a transactionId this charge point never started in the capture (info when the
    transaction evidently began before the capture did)."""
    tx = cap.transactions
    for kind, severity, text in (("stop_without_start", "error", "was never started"),
                                 ("started_before_capture", "info", "started before the capture began")):
        rows = _rows(tx, kind)
        for i in range(len(rows)):
            row = rows.iloc[i]
            yield Finding("transaction_stop_without_start", severity, clean(row["ts"]),
                          clean(row["charge_point_id"]), as_int(row["connector_id"]), as_int(row["transaction_id"]),
                          f"StopTransaction for transaction {clean(row['transaction_id'])}, which {text}",
                          seqs(row["stop_seq"]))


@check("transaction_stop_repeated", clause="OCPP 1.6 ed.2 §4.10 StopTransaction (one per transaction), §6.46; "
                                           "§3.7 (retries only after a failure to process)")
def transaction_stop_repeated(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """A second StopTransaction for a transaction already stopped: both frames, whether meterStop differs, and
    what the CSMS answered to the repeat (a repeat is no session of its own). Info when the first got a CALLERROR
    or no answer (the retry OCPP 1.6 §3.7 asks for), warning when it was confirmed."""
    repeats = memo(cap, ("duplicate_stops",), lambda: duplicate_stops(cap.frames))
    if len(repeats) == 0:
        return
    replies = _replies_to(cap, repeats["stop_seq"].tolist() + repeats["first_stop_seq"].tolist())
    for row in repeats.itertuples(index=False):
        meter, first_meter = clean(row.meter_stop_wh), clean(row.first_meter_stop_wh)
        if meter is None or first_meter is None:
            meter_text = "meterStop missing in one of them"
        elif abs(meter - first_meter) > config.energy_tolerance_wh:
            meter_text = f"meterStop {fmt_wh(meter)} differs from the first's {fmt_wh(first_meter)}"
        else:
            meter_text = f"same meterStop {fmt_wh(meter)}"
        reply_seq, answer, _ = replies.get(int(row.stop_seq), (None, "no answer", False))
        first_reply_seq, first_answer, first_confirmed = replies.get(int(row.first_stop_seq),
                                                                     (None, "no answer", False))
        # A repeat after a CALLERROR or no answer is the retry §3.7 asks for (info); after a .conf it is not.
        retry = "" if first_confirmed else f" (a retry: the first got {first_answer})"
        yield Finding("transaction_stop_repeated", "warning" if first_confirmed else "info",
                      clean(row.stop_capture_ts), cp_or_none(row.charge_point_id), None, as_int(row.transaction_id),
                      f"second StopTransaction for transaction {clean(row.transaction_id)}{retry} "
                      f"(reason {_reason_text(row.stop_reason)}; the first: {_reason_text(row.first_stop_reason)}), "
                      f"{meter_text}; the CSMS answered {answer}",
                      seqs(row.first_stop_seq, first_reply_seq, row.stop_seq, reply_seq))


def _reason_text(reason: Any) -> str:
    reason = clean(reason)
    return str(reason) if reason is not None else "absent, Local by default"


def _replies_to(cap: Any, request_seqs: list[int]) -> dict[int, tuple[int | None, str, bool]]:
    """Per request seq: (its reply's seq, what the reply said: "CALLERROR <code>", "idTagInfo.status X",
    or "no answer", whether it was a CALLRESULT)."""
    calls = cap.calls
    rows = calls[calls["request_seq"].isin(request_seqs).to_numpy(dtype=bool, na_value=False)]
    frames = cap.frames
    error_rows = frames[frames["seq"].isin(rows["reply_seq"].dropna().tolist()).to_numpy(dtype=bool, na_value=False)]
    description = dict(zip(error_rows["seq"].tolist(), error_rows["error_description"].tolist()))
    out: dict[int, tuple[int | None, str, bool]] = {}
    for request_seq, reply_seq, outcome, error_code, response in zip(
            rows["request_seq"].tolist(), rows["reply_seq"].tolist(), rows["outcome"].tolist(),
            rows["error_code"].tolist(), rows["response"].tolist()):
        if outcome == "error":
            said = clean(description.get(reply_seq))
            text = f"CALLERROR {clean(error_code) or ''}".rstrip() + (f" ({said!r})" if said else "")
        elif clean(reply_seq) is None:
            text = "no answer"
        else:
            info = response.get("idTagInfo") if isinstance(response, dict) else None
            status = info.get("status") if isinstance(info, dict) else None
            text = f"idTagInfo.status {status}" if status is not None else "a CALLRESULT"
        confirmed = outcome == "answered"
        out[int(request_seq)] = (as_int(reply_seq), text, confirmed)
    return out


@check("transaction_id_reused", clause="OCPP 1.6 ed.2 §6.45 StartTransaction.conf transactionId; errata v4.0 "
                                       "§3.54 (RECOMMENDED unique)")
def transaction_id_reused(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """The CSMS handing out the same transactionId twice to one charge point."""
    tx = cap.transactions
    tx = tx[tx["start_seq"].notna() & tx["transaction_id"].notna()]
    if len(tx) == 0:
        return
    tx = tx.assign(_cp=cp_key(tx["charge_point_id"]))
    counts = tx.groupby(["_cp", "transaction_id"])["start_seq"].transform("size")
    for (cp, tid), group in tx[counts > 1].groupby(["_cp", "transaction_id"], sort=False):
        group = group.sort_values("start_seq")
        yield Finding("transaction_id_reused", "warning", clean(group["ts"].iloc[1]), cp_or_none(cp),
                      as_int(group["connector_id"].iloc[1]), as_int(tid),
                      f"transactionId {tid} was given to {len(group)} StartTransactions",
                      seqs(group["start_reply_seq"].tolist(), group["start_seq"].tolist()))


@check("meter_values_unknown_transaction", clause="OCPP 1.6 ed.2 §6.31 MeterValues.req transactionId; errata "
                                                  "v4.0 §3.16, §3.18 (-1 when StartTransaction.conf never came)")
def meter_values_unknown_transaction(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """MeterValues naming a transactionId that no StartTransaction reply or StopTransaction of the charge point has."""
    mv = cap.meter_values
    use = np.flatnonzero(isin(mv["source"], ["MeterValues"]) & mv["transaction_id"].notna().to_numpy())
    if len(use) == 0:
        return
    first = first_of_each(mv["seq"].to_numpy()[use])  # one row per frame
    sub = mv[["capture_ts", "charge_point_id", "connector_id", "transaction_id", "seq"]].iloc[use[first]]
    cps = cp_key(sub["charge_point_id"])
    tids = sub["transaction_id"].to_numpy(dtype="int64", na_value=0)
    tx = cap.transactions
    known = tx[tx["transaction_id"].notna().to_numpy()]
    frame_pair, known_pair = joint_codes([cps, tids], [cp_key(known["charge_point_id"]),
                                                       known["transaction_id"].to_numpy(dtype="int64")])
    unknown = ~np.isin(frame_pair, known_pair)
    if not unknown.any():
        return
    sub = sub[unknown].assign(_cp=cps[unknown])
    started = tx[tx["start_seq"].notna()]
    first_start = pd.Series(started["start_seq"].to_numpy(dtype="int64", na_value=0),
                            index=cp_key(started["charge_point_id"])).groupby(level=0).min()
    for (cp, connector, tid), group in sub.groupby(["_cp", "connector_id", "transaction_id"], sort=False,
                                                   dropna=False, observed=True):
        first_seq = int(group["seq"].min())
        if tid == -1:
            severity, why = "info", "-1: the charge point never got a StartTransaction.conf (errata §3.18)"
        elif cp not in first_start.index or first_seq < first_start[cp]:
            severity, why = "info", "a transaction that probably started before the capture"
        else:
            severity, why = "warning", "unknown to this charge point's StartTransaction replies"
        yield Finding("meter_values_unknown_transaction", severity, clean(group["capture_ts"].iloc[0]),
                      cp_or_none(cp), as_int(connector), as_int(tid),
                      f"{len(group)} MeterValues message(s) for transactionId {tid}, {why}",
                      seqs(group["seq"].tolist()))


@check("meter_values_after_stop", clause="OCPP 1.6 ed.2 §6.31 MeterValues.req transactionId (of a running "
                                         "transaction), §6.46 StopTransaction.req meterStop")
def meter_values_after_stop(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """MeterValues for a transaction after its StopTransaction (error when their register is above meterStop:
    the stop understated the energy)."""
    mv = cap.meter_values
    tx = cap.transactions
    tx = tx[(tx["stop_seq"].notna() & tx["transaction_id"].notna()).to_numpy(dtype=bool, na_value=False)]
    if len(tx) == 0:
        return
    use = np.flatnonzero(isin(mv["source"], ["MeterValues"]) & mv["transaction_id"].notna().to_numpy())
    if len(use) == 0:
        return
    use = use[first_of_each(mv["seq"].to_numpy()[use])]  # one row per frame: the join needs no more
    sub = mv[["capture_ts", "charge_point_id", "transaction_id", "seq"]].iloc[use]
    stop_seq = tx["stop_seq"].to_numpy(dtype="int64")
    anchor = tx["start_reply_seq"].fillna(tx["start_seq"]).fillna(tx["stop_seq"]).to_numpy(dtype="int64")
    # The session of each frame: the latest of its charge point and transactionId that began before it.
    frame_where, session_where = joint_codes(
        [cp_key(sub["charge_point_id"]), sub["transaction_id"].to_numpy(dtype="int64", na_value=0)],
        [cp_key(tx["charge_point_id"]), tx["transaction_id"].to_numpy(dtype="int64")])
    left = pd.DataFrame({"_where": frame_where, "seq": sub["seq"].to_numpy(dtype="int64"), "_row": np.arange(len(sub))})
    right = pd.DataFrame({"_where": session_where, "anchor": anchor, "_session": np.arange(len(tx))})
    joined = pd.merge_asof(left.sort_values("seq", kind="stable"), right.sort_values("anchor", kind="stable"),
                           left_on="seq", right_on="anchor", by="_where", direction="backward")
    session = joined["_session"].fillna(-1).to_numpy(dtype="int64")
    late = session >= 0
    late[late] = joined["seq"].to_numpy()[late] > stop_seq[session[late]]
    if not late.any():
        return
    late_rows, late_session = joined["_row"].to_numpy()[late], session[late]
    late_seq = sub["seq"].to_numpy()[late_rows]
    # The overall register (Wh) of the late frames only.
    in_late = np.flatnonzero(mv["seq"].isin(late_seq).to_numpy(dtype=bool, na_value=False))
    samples = mv[["seq", "measurand", "phase", "unit_normalized", "value_normalized"]].iloc[in_late]
    is_register = (isin(samples["measurand"], [spec16.ENERGY_IMPORT_REGISTER]) & samples["phase"].isna().to_numpy()
                   & isin(samples["unit_normalized"], ["Wh"]))
    register_of = samples[is_register].groupby("seq")["value_normalized"].max()
    for sid in pd.unique(late_session):
        mine = late_rows[late_session == sid]
        row = tx.iloc[sid]
        frames = sorted(set(sub["seq"].to_numpy()[mine].tolist()))
        first_ts = sub["capture_ts"].iloc[mine].min()
        delay_s = (first_ts - row["stop_capture_ts"]).total_seconds()
        registers = register_of.reindex(frames).dropna()
        highest = float(registers.max()) if len(registers) else np.nan
        meter_stop = clean(row["meter_stop_wh"])
        above = meter_stop is not None and np.isfinite(highest) and highest > meter_stop + config.energy_tolerance_wh
        message = (f"{len(frames)} MeterValues message(s) for transaction {clean(row['transaction_id'])} after its "
                   f"StopTransaction (the first {_duration_text(delay_s)} later)")
        if above:
            message += f"; their register {fmt_wh(highest)} is above meterStop {fmt_wh(meter_stop)}"
        yield Finding("meter_values_after_stop", "error" if above else "warning", clean(first_ts),
                      clean(row["charge_point_id"]), as_int(row["connector_id"]), as_int(row["transaction_id"]),
                      message, seqs(row["stop_seq"], frames))


def _duration_text(seconds: float) -> str:
    """A delay for a message: milliseconds under 10 s, else seconds."""
    if not np.isfinite(seconds):
        return "some time"
    return f"{seconds * 1000:,.0f} ms" if abs(seconds) < 10 else f"{seconds:,.0f} s"


@check("charging_without_transaction", clause="OCPP 1.6 ed.2 §4.9 (Charging: a transaction is running), "
                                              "§4.8 StartTransaction")
def charging_without_transaction(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """A connector reporting Charging with no transaction running on it (beyond charging_start_grace_s)."""
    st = cap.status
    use = ((st["status"] == spec16.CHARGING_STATUS) & (st["connector_id"] > 0)).to_numpy(dtype=bool, na_value=False)
    charging = st[use]
    if len(charging) == 0:
        return
    tx = cap.transactions
    tx = tx[tx["connector_id"].notna()]
    start = epoch_s(tx["start_ts"])
    start = np.where(np.isnan(start), -np.inf, start) - config.charging_start_grace_s  # started before the capture
    stop = epoch_s(tx["stop_ts"])
    stop = np.where(np.isnan(stop), np.inf, stop)
    # Sessions on one connector do not overlap: the latest one starting before the report decides.
    windows = pd.DataFrame({"_cp": pd.Series(cp_key(tx["charge_point_id"]), dtype=object),
                            "connector_id": tx["connector_id"].to_numpy(dtype="int64", na_value=0),
                            "start": start, "stop": stop}).sort_values("start", kind="stable")
    reports = pd.DataFrame({"_cp": pd.Series(cp_key(charging["charge_point_id"]), dtype=object),
                            "connector_id": charging["connector_id"].to_numpy(dtype="int64", na_value=0),
                            "t": epoch_s(charging["ts"]), "_row": np.arange(len(charging))})
    reports = reports[~np.isnan(reports["t"].to_numpy())].sort_values("t", kind="stable")
    covered = np.zeros(len(charging), dtype=bool)
    if len(windows) and len(reports):
        joined = pd.merge_asof(reports, windows, left_on="t", right_on="start", by=["_cp", "connector_id"],
                               direction="backward")
        inside = (joined["t"] <= joined["stop"]).to_numpy(dtype=bool, na_value=False)
        covered[joined["_row"].to_numpy()[inside]] = True
    covered |= np.isnan(epoch_s(charging["ts"]))
    for i in np.flatnonzero(~covered):
        row = charging.iloc[i]
        yield Finding("charging_without_transaction", "warning", clean(row["ts"]), clean(row["charge_point_id"]),
                      as_int(row["connector_id"]), None,
                      f"connector {clean(row['connector_id'])} reports Charging with no transaction running",
                      seqs(row["seq"]))


_BOUNDARY_CONTEXTS = ("Transaction.Begin", "Transaction.End", "Interruption.Begin", "Interruption.End")
_READING_COLUMNS = ["charge_point_id", "connector_id", "transaction_id", "ts", "seq", "meter_value_index",
                    "measurand", "unit_normalized", "value_normalized", "phase"]
"""The meter_values columns power_readings reads (and carries) for the status checks."""


def _power_rows(mv: pd.DataFrame) -> np.ndarray:
    """Positions of the meter_values rows that give the power of MeterValues readings of connectors > 0
    (boundary contexts left out).

    A MeterValue element with an overall Power.Active.Import in W has that power (power_readings ignores
    its other samples), so its current and voltage samples are left out here: most elements carry all
    three, and copying and grouping them cost more than the rest of the status checks."""
    use = (isin(mv["source"], ["MeterValues"]) & (mv["connector_id"].to_numpy(dtype="int64", na_value=0) > 0)
           & mv["ts"].notna().to_numpy() & ~isin(mv["context"], _BOUNDARY_CONTEXTS)
           & isin(mv["measurand"], [spec16.POWER_IMPORT, spec16.CURRENT_IMPORT, spec16.VOLTAGE]))
    rows = np.flatnonzero(use)
    if len(rows) == 0:
        return rows
    overall_w = (isin(mv["measurand"], [spec16.POWER_IMPORT]) & isin(mv["unit_normalized"], ["W"])
                 & mv["phase"].isna().to_numpy())[rows]
    # The samples of one element are adjacent (capture order). A run of one (seq, meter_value_index) is
    # never more than one element, so should an element be split, its rows are only kept, never lost.
    seq = mv["seq"].to_numpy()[rows]
    index = mv["meter_value_index"].to_numpy()[rows]
    starts = np.flatnonzero(np.r_[True, (seq[1:] != seq[:-1]) | (index[1:] != index[:-1])])
    run_has_overall = np.logical_or.reduceat(overall_w, starts)
    has_overall = np.repeat(run_has_overall, np.diff(np.r_[starts, len(rows)]))
    return rows[overall_w | ~has_overall]


def _status_power_conflicts(cap: Any, config: CheckConfig) -> pd.DataFrame:
    """Settled power readings of connectors > 0 that disagree with the status in force: above power_idle_w
    while SuspendedEV/SuspendedEVSE, or at or below it while Charging. One row per reading, in time order:
    _cp, connector_id, t, power_w, seq, transaction_id, status, status_seq, status_ts."""
    mv = cap.meter_values
    empty = pd.DataFrame(columns=["_cp", "connector_id", "t", "power_w", "seq", "status", "status_seq",
                                  "status_ts", "transaction_id"])
    rows = _power_rows(mv)
    if len(rows) == 0:
        return empty
    readings = power_readings(mv[_READING_COLUMNS].iloc[rows])
    st = cap.status
    st = st[st["connector_id"].notna() & st["ts"].notna() & st["status"].notna()]
    if len(readings) == 0 or len(st) == 0:
        return empty
    cp_keys, (reading_cp, status_cp) = cp_codes(readings["charge_point_id"], st["charge_point_id"])
    reading_connector = readings["connector_id"].to_numpy(dtype="int64", na_value=0)
    status_connector = st["connector_id"].to_numpy(dtype="int64", na_value=0)
    reading_where, status_where = joint_codes([reading_cp, reading_connector], [status_cp, status_connector])
    left = pd.DataFrame({"_where": reading_where, "_cp": reading_cp, "connector_id": reading_connector,
                         "t": epoch_s(readings["ts"]), "power_w": readings["power_w"].to_numpy(dtype=float),
                         "seq": readings["seq"].to_numpy(), "transaction_id": readings["transaction_id"].array})
    st_t = epoch_s(st["ts"])
    right = pd.DataFrame({"_where": status_where, "status_t": st_t,
                          "status_next": st_t + st["time_in_state_s"].fillna(np.inf).to_numpy(),
                          "status": st["status"].to_numpy(), "status_seq": st["seq"].to_numpy(),
                          "status_ts": st["ts"].reset_index(drop=True)})
    joined = pd.merge_asof(left.sort_values("t", kind="stable"), right.sort_values("status_t", kind="stable"),
                           left_on="t", right_on="status_t", by="_where", direction="backward")
    t = joined["t"].to_numpy()
    settled = ((t - joined["status_t"].to_numpy() >= config.status_settle_s)
               & (joined["status_next"].to_numpy() - t >= config.status_settle_s))
    status = joined["status"]
    power = joined["power_w"].to_numpy()
    conflict = ((isin(status, spec16.SUSPENDED_STATUSES) & (power > config.power_idle_w))
                | (isin(status, [spec16.CHARGING_STATUS]) & (power <= config.power_idle_w)))
    joined = joined[settled & conflict].drop(columns="_where")
    return joined.assign(_cp=object_column(cp_keys[joined["_cp"].to_numpy()], index=joined.index))


@check("power_while_suspended", clause="OCPP 1.6 ed.2 §7.7 ChargePointStatus (SuspendedEV/SuspendedEVSE: no energy "
                                       "transferred); ev.energy R10")
def power_while_suspended(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Power above power_idle_w while the connector says SuspendedEV or SuspendedEVSE."""
    joined = memo(cap, ("status_power_conflicts", config.status_settle_s, config.power_idle_w),
                  lambda: _status_power_conflicts(cap, config))
    bad = joined[joined["status"].isin(list(spec16.SUSPENDED_STATUSES)).to_numpy(dtype=bool)
                 & (joined["power_w"] > config.power_idle_w).to_numpy(dtype=bool)]
    for status_seq, group in bad.groupby("status_seq", sort=True):
        first = group.iloc[0]
        yield Finding("power_while_suspended", "warning", clean(first["status_ts"]), cp_or_none(first["_cp"]),
                      as_int(first["connector_id"]), as_int(first["transaction_id"]),
                      f"{len(group)} reading(s) up to {group['power_w'].max():,.0f} W while {first['status']} "
                      f"(idle threshold {config.power_idle_w:.0f} W)",
                      seqs(status_seq, group["seq"].tolist()))


@check("power_zero_while_charging", clause="OCPP 1.6 ed.2 §7.7 ChargePointStatus (Charging: energy is being "
                                           "transferred); ev.energy R10")
def power_zero_while_charging(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Power at or below power_idle_w in two or more readings of one Charging period."""
    joined = memo(cap, ("status_power_conflicts", config.status_settle_s, config.power_idle_w),
                  lambda: _status_power_conflicts(cap, config))
    bad = joined[(joined["status"] == spec16.CHARGING_STATUS).to_numpy(dtype=bool)
                 & (joined["power_w"] <= config.power_idle_w).to_numpy(dtype=bool)]
    for status_seq, group in bad.groupby("status_seq", sort=True):
        if len(group) < ZERO_WHILE_CHARGING_MIN_READINGS:
            continue
        first = group.iloc[0]
        yield Finding("power_zero_while_charging", "warning", clean(first["status_ts"]), cp_or_none(first["_cp"]),
                      as_int(first["connector_id"]), as_int(first["transaction_id"]),
                      f"{len(group)} reading(s) at or below {config.power_idle_w:.0f} W while Charging "
                      f"(highest {group['power_w'].max():,.0f} W)", seqs(status_seq, group["seq"].tolist()))


@check("transaction_interrupted_by_boot", clause="OCPP 1.6 ed.2 §4.2 BootNotification (sent on every boot); "
                                                 "§3.7 offline queue; §7.38 Reason PowerLoss/HardReset/Reboot")
def transaction_interrupted_by_boot(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """A charge point booted (BootNotification) while one of its transactions was running: power was lost or
    the charger restarted mid-session, so the session's end (and energy) is reported from the queue later.
    Judged on capture time, which a charger's clock cannot skew. One finding per transaction, at the first
    such boot (it ended the session as the charger ran it; later boots cannot interrupt it again)."""
    frames = cap.frames
    boots = frames[frames_mask(cap, "message_type", "CALL")
                   & isin(frames["action"], ["BootNotification"])
                   & frames_mask(cap, "direction", "charger_to_csms")]
    tx = cap.transactions
    if len(boots) == 0 or len(tx) == 0:
        return
    tx = tx[tx["start_capture_ts"].notna().to_numpy(dtype=bool)]
    boots = boots[boots["ts"].notna().to_numpy(dtype=bool)]
    if len(boots) == 0 or len(tx) == 0:
        return
    # The first boot after each start, per charge point: a sorted as-of join (n log n), where pairing every
    # boot with every transaction grew with their product on a charger that reboots often.
    left = tx[["charge_point_id", "connector_id", "transaction_id", "start_capture_ts", "stop_capture_ts",
               "start_seq", "stop_seq", "stop_reason"]].assign(_cp=cp_key(tx["charge_point_id"]),
                                                               _start=tx["start_capture_ts"].astype(TS_DTYPE))
    right = pd.DataFrame({"_cp": cp_key(boots["charge_point_id"]),
                          "_boot": boots["ts"].astype(TS_DTYPE).to_numpy(), "ts": boots["ts"].to_numpy(),
                          "seq": boots["seq"].to_numpy()})
    left["_cp"], right["_cp"] = left["_cp"].astype(object), right["_cp"].astype(object)  # one key dtype
    pairs = pd.merge_asof(left.sort_values("_start", kind="stable"), right.sort_values("_boot", kind="stable"),
                          left_on="_start", right_on="_boot", by="_cp", direction="forward",
                          allow_exact_matches=False)
    pairs = pairs.sort_values("seq", kind="stable")  # findings in boot order, as the frames tell them
    running = pairs["_boot"].notna() & (pairs["stop_capture_ts"].isna() | (pairs["stop_capture_ts"] > pairs["_boot"]))
    for i in np.flatnonzero(running.to_numpy(dtype=bool, na_value=False)):
        row = pairs.iloc[i]
        reason = clean(row["stop_reason"])
        ending = f"; it was stopped with reason {reason}" if reason else "; no StopTransaction followed"
        yield Finding("transaction_interrupted_by_boot", "warning", clean(row["ts"]), clean(row["charge_point_id"]),
                      as_int(row["connector_id"]), as_int(row["transaction_id"]),
                      f"the charge point booted while transaction {clean(row['transaction_id'])} was running"
                      f"{ending}", seqs(row["start_seq"], row["seq"], row["stop_seq"]))
