"""Energy checks: registers, meterStart/meterStop and integrated power (OCPP 1.6 ed.2 §3.16, §6.44-6.47, §7.31, §7.45).

Facts used (ocpp16-facts.md §4, §5): "Register" values MUST increase monotonically and SHOULD be the
raw meter register, not rebased to 0 at transaction start; meterStart/meterStop are integer Wh; the
energy of a transaction is the register at the end minus the register at the start. A register is
compared only with itself: same charge point, connector, measurand, phase and location, in sample
time order (queued and transactionData samples keep their original timestamps).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from .. import spec16
from ._support import (
    as_int,
    clean,
    cp_codes,
    cp_key,
    cp_or_none,
    epoch_us,
    fmt_wh,
    group_codes,
    isin,
    memo,
    seqs,
    sort_codes,
)
from .registry import CheckConfig, Finding, check

KWH_RATIO = (500.0, 2000.0)
"""A ratio in this range between two readings of the same quantity means kWh sent as Wh (x1000)."""
REGISTER_CLAUSE = "OCPP 1.6 ed.2 §7.31 Measurand (*.Register values increase monotonically), §3.16"


_NO_TX = -(2**62)
"""Stands for a missing transactionId when comparing the transactions of two readings."""


def _register_steps(cap: Any) -> pd.DataFrame:
    """Consecutive pairs of register readings per (charge point, connector, measurand, phase, location),
    in sample-time order: _row and _prev_row (positions in meter_values of the later and the earlier
    reading), their value_normalized and prev_value, _tx and _prev_tx (transactionId, _NO_TX if none).
    Take the other columns with :func:`_step_details` for the few steps that make findings."""
    mv = cap.meter_values
    value = mv["value_normalized"].to_numpy(dtype=float)
    # Transaction.Begin values repeated inside periodic MeterValues are energy_begin_repeated's business.
    repeated_begin = isin(mv["context"], [spec16.TRANSACTION_BEGIN]) & isin(mv["source"], ["MeterValues"])
    rows = np.flatnonzero(isin(mv["measurand"], spec16.REGISTER_MEASURANDS) & ~np.isnan(value)
                          & mv["ts"].notna().to_numpy() & ~repeated_begin)
    # One code per (charge point, connector, measurand, phase, location), ordered as sort_values on those
    # columns orders them; by register, then time, then seq, a register's readings are adjacent.
    register = group_codes(cp_codes(mv["charge_point_id"].iloc[rows])[1][0], *(
        sort_codes(mv[name].iloc[rows]) for name in ("connector_id", "measurand", "phase", "location")))
    order = np.lexsort((mv["seq"].to_numpy()[rows], epoch_us(mv["ts"])[rows], register))
    register = register[order]
    same_register = register[1:] == register[:-1]
    later = rows[order[1:][same_register]]
    earlier = rows[order[:-1][same_register]]
    transaction = mv["transaction_id"].array
    return pd.DataFrame({"_row": later, "_prev_row": earlier, "value_normalized": value[later],
                         "prev_value": value[earlier],
                         "_tx": transaction[later].to_numpy(dtype=np.int64, na_value=_NO_TX),
                         "_prev_tx": transaction[earlier].to_numpy(dtype=np.int64, na_value=_NO_TX)})


def _step_details(cap: Any, steps: pd.DataFrame) -> pd.DataFrame:
    """``steps`` with the columns of their later reading (ts, charge_point_id, connector_id, transaction_id,
    measurand, phase, unit, seq) and the seq of the earlier one (prev_seq)."""
    mv = cap.meter_values
    later = steps["_row"].to_numpy()
    details = {name: mv[name].array[later] for name in ("ts", "charge_point_id", "connector_id", "transaction_id",
                                                        "measurand", "phase", "unit", "seq")}
    return steps.assign(**details, prev_seq=mv["seq"].to_numpy()[steps["_prev_row"].to_numpy()])


def _is_kwh_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b is about 1000 (a in Wh, b the same quantity in kWh)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(b > 0, a / b, np.nan)
    return (ratio >= KWH_RATIO[0]) & (ratio <= KWH_RATIO[1])


@check("energy_register_monotonic", clause=REGISTER_CLAUSE)
def energy_register_monotonic(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """A register reading lower than the one before it within a transaction (or outside any)."""
    steps = memo(cap, ("register_steps",), lambda: _register_steps(cap))
    if len(steps) == 0:
        return
    prev = steps["prev_value"].to_numpy(dtype=float)
    cur = steps["value_normalized"].to_numpy(dtype=float)
    drop = cur < prev - config.energy_tolerance_wh
    kwh = _is_kwh_ratio(prev, cur)
    same_tx = steps["_tx"].to_numpy() == steps["_prev_tx"].to_numpy()
    rows = _step_details(cap, steps[drop & ~kwh & same_tx])
    for ts, cp, connector, tx, measurand, phase, value, before, seq, prev_seq in zip(
            rows["ts"].tolist(), rows["charge_point_id"].tolist(), rows["connector_id"].tolist(),
            rows["transaction_id"].tolist(), rows["measurand"].tolist(), rows["phase"].tolist(),
            rows["value_normalized"].tolist(), rows["prev_value"].tolist(), rows["seq"].tolist(),
            rows["prev_seq"].tolist()):
        where = f" {phase}" if clean(phase) else ""
        yield Finding("energy_register_monotonic", "error", clean(ts), clean(cp), as_int(connector), as_int(tx),
                      f"{measurand}{where} fell from {fmt_wh(before)} to {fmt_wh(value)} "
                      f"({fmt_wh(value - before)}); a register must not decrease", seqs(prev_seq, seq))


@check("energy_register_rebased", clause="OCPP 1.6 ed.2 §7.31, §3.16 (registers SHOULD NOT be rebased to 0 "
                                         "at transaction start)")
def energy_register_rebased(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Registers (or meterStart) that restart lower at a new transaction: session energy sent as a register.
    One finding per session; when every session of a charge point after the first on its connector restarts
    (per-transaction metering, at least two of them), one warning for the charge point and the sessions as info."""
    events: dict[tuple[str, Any], dict[str, Any]] = {}  # (charge point key, transactionId) -> what restarted

    def add(ts: Any, cp: Any, connector: Any, tid: Any, text: str, proof: tuple[int, ...]) -> None:
        key = (cp if isinstance(cp, str) else "", clean(tid))  # the charge point as cp_key spells it
        event = events.setdefault(key, {"ts": clean(ts), "cp": clean(cp), "connector": as_int(connector),
                                        "tx": as_int(tid), "texts": [], "seqs": ()})
        if text not in event["texts"]:
            event["texts"].append(text)
        event["seqs"] = seqs(event["seqs"], proof)
        if clean(ts) is not None and (event["ts"] is None or clean(ts) < event["ts"]):
            event["ts"] = clean(ts)

    steps = memo(cap, ("register_steps",), lambda: _register_steps(cap))
    if len(steps):
        prev = steps["prev_value"].to_numpy(dtype=float)
        cur = steps["value_normalized"].to_numpy(dtype=float)
        new_tx = steps["_tx"].to_numpy() != steps["_prev_tx"].to_numpy()
        restart = (cur < prev - config.energy_tolerance_wh) & new_tx & ~_is_kwh_ratio(prev, cur)
        rows = _step_details(cap, steps[restart])
        for ts, cp, connector, tx, measurand, value, before, seq, prev_seq in zip(
                rows["ts"].tolist(), rows["charge_point_id"].tolist(), rows["connector_id"].tolist(),
                rows["transaction_id"].tolist(), rows["measurand"].tolist(), rows["value_normalized"].tolist(),
                rows["prev_value"].tolist(), rows["seq"].tolist(), rows["prev_seq"].tolist()):
            add(ts, cp, connector, tx, f"{measurand} restarted at {fmt_wh(value)} after {fmt_wh(before)} in the "
                                       f"previous transaction", seqs(prev_seq, seq))
    # meterStart below the previous transaction's meterStop on the same connector.
    tx = cap.transactions
    tx = tx[tx["start_seq"].notna() & tx["connector_id"].notna()].sort_values("start_seq", kind="stable")
    eligible: dict[str, set[Any]] = {}  # per charge point key: transactionIds with an earlier session on their connector
    if len(tx) >= 2:
        key = [cp_key(tx["charge_point_id"]), tx["connector_id"].to_numpy()]
        grouped = tx.groupby(key, sort=False)
        prev_stop = grouped["meter_stop_wh"].shift(1)
        prev_seq = grouped["stop_seq"].shift(1)
        has_previous = grouped.cumcount().to_numpy() > 0
        for cp, tid in zip(cp_key(tx["charge_point_id"])[has_previous].tolist(),
                           tx["transaction_id"][has_previous].tolist()):
            eligible.setdefault(cp, set()).add(clean(tid))
        restart = (tx["meter_start_wh"] < prev_stop - config.energy_tolerance_wh).fillna(False).to_numpy(dtype=bool)
        for ts, cp, connector, tid, start, before, seq, pseq in zip(
                tx["ts"][restart].tolist(), tx["charge_point_id"][restart].tolist(),
                tx["connector_id"][restart].tolist(), tx["transaction_id"][restart].tolist(),
                tx["meter_start_wh"][restart].tolist(), prev_stop[restart].tolist(), tx["start_seq"][restart].tolist(),
                prev_seq[restart].tolist()):
            add(ts, cp, connector, tid, f"meterStart {fmt_wh(start)} is below the previous transaction's meterStop "
                                        f"{fmt_wh(before)}", seqs(pseq, seq))
    if not events:
        return
    by_cp: dict[str, list[dict[str, Any]]] = {}
    for (cp, _), event in events.items():
        by_cp.setdefault(cp, []).append(event)
    for cp, rebased in by_cp.items():
        # Per-transaction metering: every session that could restart did (not a one-off meter swap).
        could = eligible.get(cp, set())
        every = len(could) >= 2 and could <= {event["tx"] for event in rebased}
        if every:
            first = min(rebased, key=lambda e: (e["ts"] is None, e["ts"] or 0))
            yield Finding("energy_register_rebased", "warning", first["ts"], cp_or_none(cp), None, None,
                          f"all {len(could)} sessions after the first on each connector restarted the register "
                          f"(per-transaction metering): registers should not be rebased per session",
                          seqs(*(e["seqs"] for e in rebased)))
        for event in rebased:
            yield Finding("energy_register_rebased", "info" if every else "warning", event["ts"], event["cp"],
                          event["connector"], event["tx"],
                          "; ".join(event["texts"]) + ("" if every else "; the meter register went back (rebased or "
                                                       "replaced meter): registers should not be rebased per session"),
                          event["seqs"])


@check("energy_kwh_as_wh", clause="OCPP 1.6 ed.2 §7.45 SampledValue.unit (values in the unit they are labelled)")
def energy_kwh_as_wh(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """kWh (kW) values labelled Wh (W): a register that jumps by about x1000, or session figures ~1000x apart."""
    steps = memo(cap, ("register_steps",), lambda: _register_steps(cap))
    if len(steps):
        prev = steps["prev_value"].to_numpy(dtype=float)
        cur = steps["value_normalized"].to_numpy(dtype=float)
        jump = _is_kwh_ratio(prev, cur) | _is_kwh_ratio(cur, prev)
        rows = _step_details(cap, steps[jump])
        for ts, cp, connector, tx, measurand, value, before, unit, seq, prev_seq in zip(
                rows["ts"].tolist(), rows["charge_point_id"].tolist(), rows["connector_id"].tolist(),
                rows["transaction_id"].tolist(), rows["measurand"].tolist(), rows["value_normalized"].tolist(),
                rows["prev_value"].tolist(), rows["unit"].tolist(), rows["seq"].tolist(), rows["prev_seq"].tolist()):
            unit = clean(unit) or "no unit (Wh by default)"
            factor = f"x{value / before:,.0f}" if value > before else f"/{before / value:,.0f}"
            yield Finding("energy_kwh_as_wh", "error", clean(ts), clean(cp), as_int(connector), as_int(tx),
                          f"{measurand} jumped from {before:,.3f} to {value:,.3f} ({factor}) with "
                          f"unit {unit}: kWh values labelled Wh", seqs(prev_seq, seq))
    tx = cap.transactions
    if len(tx) == 0:
        return
    stop = tx["meter_stop_wh"].to_numpy(dtype=float, na_value=np.nan)
    last = tx["register_last_wh"].to_numpy(dtype=float, na_value=np.nan)
    integrated = tx["energy_integrated_wh"].to_numpy(dtype=float, na_value=np.nan)
    register = tx["energy_register_wh"].to_numpy(dtype=float, na_value=np.nan)
    energy = tx["energy_wh"].to_numpy(dtype=float, na_value=np.nan)
    reference = np.where(np.isnan(energy), register, energy)
    by_stop = _is_kwh_ratio(stop, last)
    by_register = _is_kwh_ratio(integrated, register) & (integrated > 100.0 * config.energy_tolerance_wh)
    # Power in kW labelled W: the session's energy is ~1000x what its power integrates to.
    by_power = _is_kwh_ratio(reference, integrated) & (reference > 100.0 * config.energy_tolerance_wh)
    for i in np.flatnonzero(by_stop | by_register | by_power):
        row = tx.iloc[i]
        if by_stop[i]:
            message = (f"last register sample {last[i]:,.3f} is ~1000x below meterStop {fmt_wh(stop[i])}: "
                       f"kWh values labelled Wh")
        elif by_register[i]:
            message = (f"register energy {register[i]:,.3f} is ~1000x below integrated power "
                       f"{fmt_wh(integrated[i])}: kWh values labelled Wh")
        else:
            message = (f"power integrates to {integrated[i]:,.3f} Wh, ~1000x below the session energy "
                       f"{fmt_wh(reference[i])}: kW values labelled W")
        yield Finding("energy_kwh_as_wh", "error", clean(row["ts"]), clean(row["charge_point_id"]),
                      as_int(row["connector_id"]), as_int(row["transaction_id"]), message,
                      seqs(row["start_seq"], row["stop_seq"]))


def _kwh_sessions(tx: pd.DataFrame) -> np.ndarray:
    stop = tx["meter_stop_wh"].to_numpy(dtype=float, na_value=np.nan)
    start = tx["meter_start_wh"].to_numpy(dtype=float, na_value=np.nan)
    first = tx["register_first_wh"].to_numpy(dtype=float, na_value=np.nan)
    last = tx["register_last_wh"].to_numpy(dtype=float, na_value=np.nan)
    return _is_kwh_ratio(stop, last) | _is_kwh_ratio(start, first) | _is_kwh_ratio(last, stop) \
        | _is_kwh_ratio(first, start)


def _beyond_power(earlier: str, earlier_wh: float, later: str, later_wh: float, seconds: float, power_w: float,
                  reach_wh: float) -> str:
    """The energy between two readings is more than the reported power could deliver: both numbers."""
    span = f"{seconds:,.0f} s" if np.isfinite(seconds) else "an unknown time"
    power = f"{power_w:,.0f} W" if np.isfinite(power_w) else "no reported power"
    return (f"{fmt_wh(later_wh - earlier_wh)} between {earlier} {fmt_wh(earlier_wh)} and {later} "
            f"{fmt_wh(later_wh)} ({span} apart) is more than the {fmt_wh(reach_wh)} the reported power "
            f"(at most {power}) could deliver")


@check("energy_meter_start_stop", clause="OCPP 1.6 ed.2 §6.46/§6.44 meterStart/meterStop (Wh) vs §7.31 register")
def energy_meter_start_stop(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """meterStart/meterStop that disagree with the session's Energy.Active.Import.Register samples."""
    tx = cap.transactions
    if len(tx) == 0:
        return
    kwh = _kwh_sessions(tx)
    tol = config.energy_tolerance_wh
    start = tx["meter_start_wh"].to_numpy(dtype=float, na_value=np.nan)
    stop = tx["meter_stop_wh"].to_numpy(dtype=float, na_value=np.nan)
    first = tx["register_first_wh"].to_numpy(dtype=float, na_value=np.nan)
    last = tx["register_last_wh"].to_numpy(dtype=float, na_value=np.nan)
    power = tx["max_power_w"].to_numpy(dtype=float, na_value=np.nan)
    # The most a register can have moved between the start (stop) and its first (last) sample.
    lead_s = (tx["register_first_ts"] - tx["start_ts"]).dt.total_seconds().to_numpy(dtype=float, na_value=np.nan)
    trail_s = (tx["stop_ts"] - tx["register_last_ts"]).dt.total_seconds().to_numpy(dtype=float, na_value=np.nan)
    reach_start = np.nan_to_num(power) * np.clip(np.nan_to_num(lead_s), 0, None) / 3600.0
    reach_stop = np.nan_to_num(power) * np.clip(np.nan_to_num(trail_s), 0, None) / 3600.0
    slack_start = reach_start * (1 + config.energy_tolerance_fraction) + tol
    slack_stop = reach_stop * (1 + config.energy_tolerance_fraction) + tol
    with np.errstate(invalid="ignore"):
        problems = {
            "start_above": (start > first + tol),
            "stop_below": (stop < last - tol),
            "start_far": (first - start > slack_start),
            "stop_far": (stop - last > slack_stop),
        }
    for i in range(len(tx)):
        if kwh[i]:
            continue
        messages = []
        if problems["start_above"][i]:
            messages.append(f"meterStart {fmt_wh(start[i])} is above the first register sample {fmt_wh(first[i])}")
        elif problems["start_far"][i]:
            messages.append(_beyond_power("meterStart", start[i], "the first register sample", first[i],
                                          lead_s[i], power[i], reach_start[i]))
        if problems["stop_below"][i]:
            messages.append(f"meterStop {fmt_wh(stop[i])} is below the last register sample {fmt_wh(last[i])}")
        elif problems["stop_far"][i]:
            messages.append(_beyond_power("the last register sample", last[i], "meterStop", stop[i],
                                          trail_s[i], power[i], reach_stop[i]))
        if messages:
            row = tx.iloc[i]
            error = problems["start_above"][i] or problems["stop_below"][i]
            yield Finding("energy_meter_start_stop", "error" if error else "warning", clean(row["ts"]),
                          clean(row["charge_point_id"]), as_int(row["connector_id"]), as_int(row["transaction_id"]),
                          "; ".join(messages), seqs(row["start_seq"], row["stop_seq"]))


@check("energy_stop_below_start", clause="OCPP 1.6 ed.2 §6.44/§6.46 (meterStop, meterStart: register in Wh)")
def energy_stop_below_start(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """A transaction whose meterStop is below its meterStart (negative energy)."""
    tx = cap.transactions
    if len(tx) == 0:
        return
    bad = (tx["meter_stop_wh"] < tx["meter_start_wh"] - config.energy_tolerance_wh).fillna(False).to_numpy(dtype=bool)
    for i in np.flatnonzero(bad):
        row = tx.iloc[i]
        yield Finding("energy_stop_below_start", "error", clean(row["ts"]), clean(row["charge_point_id"]),
                      as_int(row["connector_id"]), as_int(row["transaction_id"]),
                      f"meterStop {fmt_wh(row['meter_stop_wh'])} is below meterStart {fmt_wh(row['meter_start_wh'])}",
                      seqs(row["start_seq"], row["stop_seq"]))


@check("energy_integrated_mismatch", clause="OCPP 1.6 ed.2 §3.16 (meter values), ev.energy R9 (energy from power)")
def energy_integrated_mismatch(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Session energy (meterStop - meterStart, else register) further from integrated power than sampling explains."""
    tx = cap.transactions
    if len(tx) == 0:
        return
    reference = tx["energy_wh"].where(tx["energy_wh"].notna(), tx["energy_register_wh"])
    integrated = tx["energy_integrated_wh"]
    tolerance = (tx["max_power_w"] * tx["sample_interval_s"] / 3600.0 * (2.0 + tx["status_changes"] / 2.0)
                 + config.energy_tolerance_fraction * reference.abs() + config.energy_tolerance_wh)
    complete = (tx["completeness"] == "complete").to_numpy(dtype=bool, na_value=False)
    bad = ((reference - integrated).abs() > tolerance).fillna(False).to_numpy(dtype=bool) & complete
    bad &= ~_kwh_sessions(tx)  # energy_kwh_as_wh says it better
    bad &= ~_is_kwh_ratio(reference.to_numpy(dtype=float, na_value=np.nan),
                          integrated.to_numpy(dtype=float, na_value=np.nan))
    for i in np.flatnonzero(bad):
        row = tx.iloc[i]
        yield Finding("energy_integrated_mismatch", "warning", clean(row["ts"]), clean(row["charge_point_id"]),
                      as_int(row["connector_id"]), as_int(row["transaction_id"]),
                      f"session energy {fmt_wh(reference.iloc[i])} but power integrates to "
                      f"{fmt_wh(integrated.iloc[i])} (tolerance {fmt_wh(tolerance.iloc[i])} for "
                      f"{row['sample_interval_s']:.0f} s samples)", seqs(row["start_seq"], row["stop_seq"]))


@check("energy_begin_repeated", clause="OCPP 1.6 ed.2 §7.42 ReadingContext (Transaction.Begin: once, at the start)")
def energy_begin_repeated(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Transaction.Begin readings repeated in several MeterValues, or mixed into periodic readings."""
    mv = cap.meter_values
    registers = isin(mv["source"], ["MeterValues"]) & isin(mv["measurand"], spec16.REGISTER_MEASURANDS)
    if not (registers & isin(mv["context"], [spec16.TRANSACTION_BEGIN])).any():
        return
    use = registers & isin(mv["context"], [spec16.TRANSACTION_BEGIN, spec16.SAMPLE_PERIODIC])
    sub = mv.loc[use, ["ts", "charge_point_id", "connector_id", "transaction_id", "measurand", "context", "seq"]]
    sub = sub.assign(_cp=cp_key(sub["charge_point_id"]), _begin=(sub["context"] == spec16.TRANSACTION_BEGIN).to_numpy())
    sub["_periodic"] = ~sub["_begin"]
    begin_seqs = sub.loc[sub["_begin"], "seq"].unique()
    in_begin_frames = sub[sub["seq"].isin(begin_seqs)]
    per_frame = in_begin_frames.groupby("seq", sort=False)[["_begin", "_periodic"]].max()
    mixed = set(per_frame.index[per_frame["_begin"] & per_frame["_periodic"]].tolist())
    begins = sub[sub["_begin"]]
    for (cp, connector, tid), group in begins.groupby(["_cp", "connector_id", "transaction_id"], dropna=False,
                                                      sort=False):
        frames = sorted(set(group["seq"].tolist()))
        mixed_frames = [s for s in frames if s in mixed]
        if len(frames) < 2 and not mixed_frames:
            continue
        why = (f"in {len(frames)} MeterValues messages" if len(frames) >= 2
               else "inside a periodic reading")
        yield Finding("energy_begin_repeated", "warning", clean(group["ts"].min()), cp_or_none(cp), as_int(connector),
                      as_int(tid), f"Transaction.Begin register value sent {why}; readers taking the latest "
                      f"value get the start register back", seqs(frames))


@check("meter_value_invalid", clause="OCPP 1.6 ed.2 §7.45 SampledValue.value (a decimal number as a string), "
                                     "§7.30 MeterValue.timestamp")
def meter_value_invalid(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Sampled values whose value or timestamp cannot be read (they are NaN/NaT in meter_values)."""
    mv = cap.meter_values
    bad = mv["problem"].notna().to_numpy(dtype=bool)
    if not bad.any():
        return
    rows = mv.loc[bad, ["capture_ts", "charge_point_id", "connector_id", "transaction_id", "problem", "seq"]]
    for seq, group in rows.groupby("seq", sort=True):
        first = group.iloc[0]
        problems = sorted(set(group["problem"].tolist()))
        yield Finding("meter_value_invalid", "warning", clean(first["capture_ts"]), clean(first["charge_point_id"]),
                      as_int(first["connector_id"]), as_int(first["transaction_id"]),
                      f"{len(group)} sampled value(s) unreadable: " + "; ".join(problems[:3]), seqs(seq))
