"""Transaction checks: open, orphan and reused transactions, unknown ids in MeterValues, and whether the
connector status agrees with the power drawn (OCPP 1.6 ed.2 §4.8-4.10, §6.44-6.47, §7.7; ev.energy R10).

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
from ..tables.transactions import epoch_s, power_readings
from ._support import as_int, clean, cp_key, cp_or_none, memo, seqs
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
    st = cap.status
    st = st.assign(_cp=cp_key(st["charge_point_id"]))
    last_status = st.sort_values("seq", kind="stable").groupby(["_cp", "connector_id"], sort=False).last()
    for i in range(len(tx)):
        row = tx.iloc[i]
        key = (cp_key(pd.Series([row["charge_point_id"]]))[0], row["connector_id"])
        idle = None
        if clean(row["connector_id"]) is not None and key in last_status.index:
            latest = last_status.loc[key]
            if latest["seq"] > row["start_seq"] and latest["status"] in ("Available", "Unavailable", "Faulted"):
                idle = latest
        if idle is not None:
            yield Finding("transaction_open_at_end", "warning", clean(row["ts"]), clean(row["charge_point_id"]),
                          as_int(row["connector_id"]), as_int(row["transaction_id"]),
                          f"transaction {clean(row['transaction_id'])} was never stopped although the connector "
                          f"went {idle['status']}", seqs(row["start_seq"], idle["seq"]))
        else:
            yield Finding("transaction_open_at_end", "info", clean(row["ts"]), clean(row["charge_point_id"]),
                          as_int(row["connector_id"]), as_int(row["transaction_id"]),
                          f"transaction {clean(row['transaction_id'])} is still open at the end of the capture",
                          seqs(row["start_seq"]))


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
    use = np.flatnonzero(((mv["source"] == "MeterValues") & mv["transaction_id"].notna()).to_numpy(dtype=bool))
    if len(use) == 0:
        return
    _, first = np.unique(mv["seq"].to_numpy()[use], return_index=True)  # one row per frame
    sub = mv.iloc[use[first]][["capture_ts", "charge_point_id", "connector_id", "transaction_id", "seq"]]
    cps = cp_key(sub["charge_point_id"])
    tids = sub["transaction_id"].to_numpy(dtype="int64", na_value=0)
    tx = cap.transactions
    known = set(zip(cp_key(tx["charge_point_id"]).tolist(), tx["transaction_id"].astype("Int64").tolist()))
    unknown = np.fromiter(((c, t) not in known for c, t in zip(cps.tolist(), tids.tolist())), dtype=bool,
                          count=len(sub))
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


def _readings_with_status(cap: Any, config: CheckConfig) -> pd.DataFrame:
    """Power readings of connectors > 0 joined with the status in force (settled), one row per reading."""
    mv = cap.meter_values
    use = ((mv["source"] == "MeterValues") & (mv["connector_id"] > 0) & mv["ts"].notna()
           & ~mv["context"].isin(["Transaction.Begin", "Transaction.End", "Interruption.Begin",
                                  "Interruption.End"])
           & mv["measurand"].isin([spec16.POWER_IMPORT, spec16.CURRENT_IMPORT, spec16.VOLTAGE])).to_numpy(
        dtype=bool, na_value=False)
    empty = pd.DataFrame(columns=["_cp", "connector_id", "t", "power_w", "seq", "status", "status_seq",
                                  "status_ts", "transaction_id"])
    if not use.any():
        return empty
    readings = power_readings(mv[use])
    st = cap.status
    st = st[st["connector_id"].notna() & st["ts"].notna() & st["status"].notna()]
    if len(readings) == 0 or len(st) == 0:
        return empty
    left = pd.DataFrame({"_cp": cp_key(readings["charge_point_id"]),
                         "connector_id": readings["connector_id"].to_numpy(dtype="int64", na_value=0),
                         "t": epoch_s(readings["ts"]), "power_w": readings["power_w"].to_numpy(dtype=float),
                         "seq": readings["seq"].to_numpy(), "transaction_id": readings["transaction_id"].to_numpy()})
    st_t = epoch_s(st["ts"])
    right = pd.DataFrame({"_cp": cp_key(st["charge_point_id"]), "connector_id": st["connector_id"].to_numpy(dtype="int64", na_value=0),
                          "status_t": st_t, "status_next": st_t + st["time_in_state_s"].fillna(np.inf).to_numpy(),
                          "status": st["status"].to_numpy(), "status_seq": st["seq"].to_numpy(),
                          "status_ts": st["ts"].reset_index(drop=True)})
    joined = pd.merge_asof(left.sort_values("t", kind="stable"), right.sort_values("status_t", kind="stable"),
                           left_on="t", right_on="status_t", by=["_cp", "connector_id"], direction="backward")
    settled = ((joined["t"] - joined["status_t"] >= config.status_settle_s)
               & (joined["status_next"] - joined["t"] >= config.status_settle_s))
    return joined[settled.to_numpy(dtype=bool, na_value=False) & joined["status"].notna().to_numpy()]


@check("power_while_suspended", clause="OCPP 1.6 ed.2 §7.7 ChargePointStatus (SuspendedEV/SuspendedEVSE: no energy "
                                       "transferred); ev.energy R10")
def power_while_suspended(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Power above power_idle_w while the connector says SuspendedEV or SuspendedEVSE."""
    joined = memo(cap, ("readings_with_status", config.status_settle_s), lambda: _readings_with_status(cap, config))
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
    joined = memo(cap, ("readings_with_status", config.status_settle_s), lambda: _readings_with_status(cap, config))
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
    Judged on capture time, which a charger's clock cannot skew."""
    frames = cap.frames
    boots = frames[((frames["message_type"] == "CALL") & (frames["action"] == "BootNotification")
                    & (frames["direction"] == "charger_to_csms")).to_numpy(dtype=bool, na_value=False)]
    tx = cap.transactions
    if len(boots) == 0 or len(tx) == 0:
        return
    tx = tx[tx["start_capture_ts"].notna().to_numpy(dtype=bool)]
    pairs = boots[["charge_point_id", "ts", "seq"]].merge(
        tx[["charge_point_id", "connector_id", "transaction_id", "start_capture_ts", "stop_capture_ts",
            "start_seq", "stop_seq", "stop_reason"]], on="charge_point_id")
    running = (pairs["start_capture_ts"] < pairs["ts"]) & (
        pairs["stop_capture_ts"].isna() | (pairs["stop_capture_ts"] > pairs["ts"]))
    for i in np.flatnonzero(running.to_numpy(dtype=bool, na_value=False)):
        row = pairs.iloc[i]
        reason = clean(row["stop_reason"])
        ending = f"; it was stopped with reason {reason}" if reason else "; no StopTransaction followed"
        yield Finding("transaction_interrupted_by_boot", "warning", clean(row["ts"]), clean(row["charge_point_id"]),
                      as_int(row["connector_id"]), as_int(row["transaction_id"]),
                      f"the charge point booted while transaction {clean(row['transaction_id'])} was running"
                      f"{ending}", seqs(row["start_seq"], row["seq"], row["stop_seq"]))
