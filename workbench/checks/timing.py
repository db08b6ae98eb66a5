"""Timing checks: sample and heartbeat intervals, clock skew, late queued messages, timestamps.

Sources: OCPP 1.6 ed.2 §3.7 (offline queueing, original timestamps), §4.6 and §9.1 HeartbeatInterval,
§9.1 MeterValueSampleInterval with errata v4.0 §3.15 (MeterValues SHALL be sent at that interval),
§3.14 time zones (UTC recommended) and the schemas' ``format: date-time`` (RFC 3339: an offset is
required). Intervals come from the capture itself: BootNotification.conf ``interval``, and
ChangeConfiguration (Accepted/RebootRequired) or GetConfiguration replies, the latest one before the
gap; the sample interval falls back to the observed median.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from .. import spec16
from ..tables.payload_time import parse_payload_times
from ._support import as_int, clean, cp_key, cp_or_none, memo, seqs
from .registry import CheckConfig, Finding, check

QUEUEABLE = "queueable"
_NO_TX = np.iinfo(np.int64).min


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if np.isfinite(number) else None


def configured_intervals(cap: Any) -> pd.DataFrame:
    """Interval settings seen in the capture: columns _cp, seq (of the reply), key
    (MeterValueSampleInterval or HeartbeatInterval), value_s, sorted by seq."""
    calls = cap.calls
    use = calls["action"].isin(["ChangeConfiguration", "GetConfiguration", "BootNotification"]).to_numpy(
        dtype=bool, na_value=False) & (calls["outcome"] == "answered").to_numpy(dtype=bool, na_value=False)
    sub = calls.loc[use, ["charge_point_id", "action", "request", "response", "reply_seq", "request_seq"]]
    rows: list[tuple[str, int, str, float]] = []
    aliases = {spec16.METER_VALUE_SAMPLE_INTERVAL: spec16.METER_VALUE_SAMPLE_INTERVAL,
               spec16.METER_VALUE_SAMPLE_INTERVAL_MISSPELT: spec16.METER_VALUE_SAMPLE_INTERVAL,
               spec16.HEARTBEAT_INTERVAL: spec16.HEARTBEAT_INTERVAL}
    for cp, action, request, response, reply_seq, request_seq in zip(
            cp_key(sub["charge_point_id"]), sub["action"].tolist(), sub["request"].tolist(),
            sub["response"].tolist(), sub["reply_seq"].tolist(), sub["request_seq"].tolist()):
        seq = clean(reply_seq) if clean(reply_seq) is not None else clean(request_seq)
        if seq is None or not isinstance(response, dict):
            continue
        if action == "BootNotification":
            value = _number(response.get("interval"))
            if response.get("status") == "Accepted" and value is not None:
                rows.append((cp, int(seq), spec16.HEARTBEAT_INTERVAL, value))
        elif action == "ChangeConfiguration" and isinstance(request, dict):
            key = aliases.get(request.get("key"))
            value = _number(request.get("value"))
            if key and value is not None and response.get("status") in ("Accepted", "RebootRequired"):
                rows.append((cp, int(seq), key, value))
        elif action == "GetConfiguration":
            for item in response.get("configurationKey") or []:
                if isinstance(item, dict) and aliases.get(item.get("key")):
                    value = _number(item.get("value"))
                    if value is not None:
                        rows.append((cp, int(seq), aliases[item["key"]], value))
    table = pd.DataFrame(rows, columns=["_cp", "seq", "key", "value_s"])
    return table.astype({"seq": "int64", "value_s": "float64"}).sort_values("seq", kind="stable")


def _interval_at(events: pd.DataFrame, key: str, cps: np.ndarray, at_seq: np.ndarray) -> np.ndarray:
    """The value of ``key`` in force for each (charge point, seq), NaN when never set."""
    out = np.full(len(cps), np.nan)
    ev = events[events["key"] == key]
    if len(ev) == 0 or len(cps) == 0:
        return out
    left = pd.DataFrame({"_cp": cps, "seq": at_seq.astype("int64"), "_row": np.arange(len(cps))}).sort_values(
        "seq", kind="stable")
    joined = pd.merge_asof(left, ev[["_cp", "seq", "value_s"]], on="seq", by="_cp", direction="backward")
    out[joined["_row"].to_numpy()] = joined["value_s"].to_numpy(dtype=float)
    return out


def _latest_start(cap: Any, readings: pd.DataFrame) -> np.ndarray:
    """For each reading, the seq of the latest StartTransaction on its connector before it (-1 if none)."""
    tx = cap.transactions
    tx = tx[tx["start_seq"].notna() & tx["connector_id"].notna()]
    out = np.full(len(readings), -1, dtype=np.int64)
    usable = readings["connector_id"].notna().to_numpy()
    if len(tx) == 0 or not usable.any():
        return out
    left = pd.DataFrame({"_cp": readings["_cp"].to_numpy()[usable],
                         "connector_id": readings["connector_id"].to_numpy(dtype="int64", na_value=0)[usable],
                         "seq": readings["seq"].to_numpy(dtype=np.int64)[usable],
                         "_row": np.flatnonzero(usable)}).sort_values("seq", kind="stable")
    right = pd.DataFrame({"_cp": cp_key(tx["charge_point_id"]),
                          "connector_id": tx["connector_id"].to_numpy(dtype="int64", na_value=0),
                          "seq": tx["start_seq"].to_numpy(dtype="int64", na_value=0)})
    right = right.assign(_start=right["seq"]).sort_values("seq", kind="stable")
    joined = pd.merge_asof(left, right, on="seq", by=["_cp", "connector_id"], direction="backward")
    out[joined["_row"].to_numpy()] = joined["_start"].to_numpy(dtype="int64", na_value=-1)
    return out


@check("meter_values_gap", clause="OCPP 1.6 ed.2 §9.1 MeterValueSampleInterval; errata v4.0 §3.15 (SHALL send "
                                  "MeterValues at that interval)")
def meter_values_gap(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Missing periodic MeterValues in a transaction: a gap longer than the factor times the sample interval."""
    mv = cap.meter_values
    use = np.flatnonzero(((mv["source"] == "MeterValues") & (mv["context"] == spec16.SAMPLE_PERIODIC)
                          & mv["transaction_id"].notna() & mv["ts"].notna()).to_numpy(dtype=bool))
    if len(use) < 2:
        return
    reading = mv["seq"].to_numpy(dtype=np.int64)[use] * 1_000_000 + np.clip(
        mv["meter_value_index"].to_numpy(dtype=np.int64)[use], 0, 999_999)
    _, first = np.unique(reading, return_index=True)  # one row per MeterValue element
    readings = mv.iloc[use[first]][["ts", "charge_point_id", "connector_id", "transaction_id", "seq"]]
    readings = readings.assign(_cp=cp_key(readings["charge_point_id"]))
    readings["_start"] = _latest_start(cap, readings)  # a reused transactionId starts a new series
    cp_code = pd.factorize(readings["_cp"].to_numpy())[0]
    connector = readings["connector_id"].to_numpy(dtype="int64", na_value=-1)
    tx = readings["transaction_id"].to_numpy(dtype="int64", na_value=_NO_TX)
    start = readings["_start"].to_numpy()
    t = readings["ts"].to_numpy(dtype="datetime64[us]").astype(np.int64) / 1e6
    seq = readings["seq"].to_numpy()
    order = np.lexsort((seq, t, start, tx, connector, cp_code))
    cp_code, connector, tx, start, t, seq = (a[order] for a in (cp_code, connector, tx, start, t, seq))
    same = np.zeros(len(order), dtype=bool)
    same[1:] = ((cp_code[1:] == cp_code[:-1]) & (connector[1:] == connector[:-1]) & (tx[1:] == tx[:-1])
                & (start[1:] == start[:-1]))
    step = np.flatnonzero(same)
    if len(step) == 0:
        return
    gap_s = t[step] - t[step - 1]
    cps = readings["_cp"].to_numpy()[order]
    configured = _interval_at(configured_intervals(cap), spec16.METER_VALUE_SAMPLE_INTERVAL, cps[step], seq[step])
    positive = gap_s > 0
    observed = pd.Series(gap_s[positive]).groupby(cp_code[step][positive]).agg(["median", "size"])
    median = observed["median"].where(observed["size"] >= 3).reindex(cp_code[step]).to_numpy()
    expected = np.where(np.isnan(configured), median, configured)
    with np.errstate(invalid="ignore"):
        bad = (expected > 0) & (gap_s > expected * config.interval_tolerance_factor)
    ts_sorted = readings["ts"].iloc[order].reset_index(drop=True)
    for i in np.flatnonzero(bad):
        at = step[i]
        source = "configured" if not np.isnan(configured[i]) else "observed median"
        yield Finding("meter_values_gap", "warning", clean(ts_sorted.iloc[at - 1]), cp_or_none(cps[at]),
                      int(connector[at]) if connector[at] >= 0 else None, int(tx[at]) if tx[at] != _NO_TX else None,
                      f"no periodic MeterValues for {gap_s[i]:.0f} s (sample interval {expected[i]:.0f} s, "
                      f"{source}): about {gap_s[i] / expected[i] - 1:.0f} reading(s) missing",
                      seqs(seq[at - 1], seq[at]))


@check("heartbeat_interval", clause="OCPP 1.6 ed.2 §4.6 Heartbeat, §9.1 HeartbeatInterval (inactivity period)")
def heartbeat_interval(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """A charger silent on an open connection for longer than the factor times its HeartbeatInterval."""
    events = configured_intervals(cap)
    events = events[(events["key"] == spec16.HEARTBEAT_INTERVAL) & (events["value_s"] > 0)]
    if len(events) == 0:
        return
    frames = cap.frames
    up = np.flatnonzero((frames["direction"] == "charger_to_csms").to_numpy(dtype=bool, na_value=False))
    if len(up) < 2:
        return
    connection = pd.factorize(frames["connection_id"].iloc[up])[0]
    order = np.argsort(connection, kind="stable")  # frames are in capture order: stable keeps it per connection
    rows = up[order]
    connection = connection[order]
    t = frames["ts"].iloc[rows].to_numpy(dtype="datetime64[us]").astype(np.int64) / 1e6
    same = np.zeros(len(rows), dtype=bool)
    same[1:] = (connection[1:] == connection[:-1]) & (connection[1:] >= 0)
    step = np.flatnonzero(same)
    gap_s = t[step] - t[step - 1]
    # Only gaps longer than the shortest interval ever configured can be too long.
    candidate = gap_s > events["value_s"].min() * config.interval_tolerance_factor
    step, gap_s = step[candidate], gap_s[candidate]
    if len(step) == 0:
        return
    cps = cp_key(frames["charge_point_id"].iloc[rows[step]])
    seq = frames["seq"].to_numpy()
    prev_seq = seq[rows[step - 1]]
    interval = _interval_at(events, spec16.HEARTBEAT_INTERVAL, cps, prev_seq)
    with np.errstate(invalid="ignore"):
        bad = (interval > 0) & (gap_s > interval * config.interval_tolerance_factor)
    for i in np.flatnonzero(bad):
        yield Finding("heartbeat_interval", "warning", clean(frames["ts"].iloc[rows[step[i] - 1]]),
                      cp_or_none(cps[i]), None, None,
                      f"no message from the charger for {gap_s[i]:.0f} s on an open connection "
                      f"(HeartbeatInterval {interval[i]:.0f} s)", seqs(prev_seq[i], seq[rows[step[i]]]))


def _payload_times(cap: Any) -> pd.DataFrame:
    """One row per charger message with a payload time: _cp, connection_id, seq, action, offset_s
    (payload time - capture time), queueable (a §3.7 transaction message)."""
    parts = []
    st = cap.status
    st = st[st["ts_from_payload"].to_numpy(dtype=bool)]
    parts.append(pd.DataFrame({"_cp": cp_key(st["charge_point_id"]), "connection_id": st["connection_id"].to_numpy(),
                               "seq": st["seq"].to_numpy(), "action": "StatusNotification",
                               "offset_s": (st["ts"] - st["capture_ts"]).dt.total_seconds().to_numpy(),
                               QUEUEABLE: False}))
    mv = cap.meter_values
    # Clock-aligned samples are stamped with the start of their interval, so they are left out.
    use = np.flatnonzero(((mv["source"] == "MeterValues") & (mv["context"] != spec16.SAMPLE_CLOCK)
                          & mv["ts"].notna()).to_numpy(dtype=bool))
    if len(use):
        # meter_values is in capture order, so each frame's rows are contiguous: reduce per run of seq.
        frame_seq = mv["seq"].to_numpy()[use]
        first = np.flatnonzero(np.r_[True, frame_seq[1:] != frame_seq[:-1]])
        sample_us = mv["ts"].to_numpy(dtype="datetime64[us]")[use].astype(np.int64)
        newest_us = np.maximum.reduceat(sample_us, first)
        rows = use[first]
        capture_us = mv["capture_ts"].to_numpy(dtype="datetime64[us]")[rows].astype(np.int64)
        parts.append(pd.DataFrame({"_cp": cp_key(mv["charge_point_id"].iloc[rows]),
                                   "connection_id": cp_key(mv["connection_id"].iloc[rows]),
                                   "seq": frame_seq[first], "action": "MeterValues",
                                   "offset_s": (newest_us - capture_us) / 1e6, QUEUEABLE: True}))
    frames = cap.frames
    for action in ("StartTransaction", "StopTransaction"):
        mask = ((frames["message_type"] == "CALL") & (frames["direction"] == "charger_to_csms")
                & (frames["action"] == action)).to_numpy(dtype=bool, na_value=False)
        sub = frames.loc[mask, ["ts", "charge_point_id", "connection_id", "seq", "payload"]]
        stamps = [p.get("timestamp") if isinstance(p, dict) else None for p in sub["payload"].tolist()]
        parsed, _, _ = parse_payload_times(stamps)
        offset = (parsed.to_numpy(dtype="datetime64[us]") - sub["ts"].to_numpy(dtype="datetime64[us]")) / np.timedelta64(1, "s") if len(sub) else np.zeros(0)
        parts.append(pd.DataFrame({"_cp": cp_key(sub["charge_point_id"]),
                                   "connection_id": sub["connection_id"].to_numpy(), "seq": sub["seq"].to_numpy(),
                                   "action": action, "offset_s": np.asarray(offset, dtype=float), QUEUEABLE: True}))
    table = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else \
        pd.DataFrame(columns=["_cp", "connection_id", "seq", "action", "offset_s", QUEUEABLE])
    table = table[np.isfinite(table["offset_s"].to_numpy(dtype=float))]
    return table.sort_values("seq", kind="stable").reset_index(drop=True)


def _classify_times(cap: Any, config: CheckConfig) -> pd.DataFrame:
    """Payload times with ``kind``: "ok", "skew" (clock wrong) or "late" (queued while offline, §3.7).

    A queued message has an old timestamp and arrives in the backlog at the start of a connection,
    before the first fresh message (|offset| <= clock_skew_s) and with a fresh one after it. Anything
    else further off than clock_skew_s is clock skew; an old StatusNotification in the backlog is
    left alone (after a reconnect it may report when its status began)."""
    times = _payload_times(cap)
    if len(times) == 0:
        return times.assign(kind=[])
    offset = times["offset_s"].to_numpy(dtype=float)
    fresh = np.abs(offset) <= config.clock_skew_s
    conn = times["connection_id"].astype(object).where(times["connection_id"].notna(), "").to_numpy()
    grouped = pd.Series(fresh.astype(np.int64)).groupby(conn, sort=False)
    fresh_before = (grouped.cumsum().to_numpy() - fresh) > 0
    fresh_after = (grouped.transform("sum").to_numpy() - grouped.cumsum().to_numpy()) > 0
    backlog = ~fresh & ~fresh_before & fresh_after & (offset < 0)
    queueable = times[QUEUEABLE].to_numpy(dtype=bool)
    kind = np.where(fresh, "ok", "skew").astype(object)
    kind[backlog & queueable] = np.where(offset[backlog & queueable] < -config.late_delivery_s, "late", "ok")
    kind[backlog & ~queueable] = "ok"
    return times.assign(kind=kind)


def _times_of_kind(cap: Any, config: CheckConfig, kind: str) -> tuple[pd.DataFrame, pd.Series | None]:
    """Payload times classified ``kind`` (shared by clock_skew and late_delivery, computed once per capture),
    and the capture time of every frame by seq (None when there are none)."""
    times = memo(cap, ("classified_times", config.clock_skew_s, config.late_delivery_s),
                 lambda: _classify_times(cap, config))
    rows = times[times["kind"] == kind]
    return rows, (cap.frames.set_index("seq")["ts"] if len(rows) else None)


@check("clock_skew", clause="OCPP 1.6 ed.2 §4.2 (charge point SHOULD sync its clock), ev.energy R2")
def clock_skew(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Payload timestamps further than clock_skew_s from capture time that queueing does not explain."""
    skewed, frames_ts = _times_of_kind(cap, config, "skew")
    for (cp, connection), group in skewed.groupby(["_cp", "connection_id"], sort=False):
        worst = group["offset_s"].abs().idxmax()
        offset = float(group.loc[worst, "offset_s"])
        ahead = "ahead of" if offset > 0 else "behind"
        first_seq = int(group["seq"].iloc[0])
        yield Finding("clock_skew", "warning", clean(frames_ts.get(first_seq)), cp_or_none(cp), None, None,
                      f"charger clock up to {abs(offset):,.0f} s {ahead} capture time in {len(group)} message(s) "
                      f"(threshold {config.clock_skew_s:.0f} s)", seqs(group["seq"].tolist()))


@check("late_delivery", clause="OCPP 1.6 ed.2 §3.7 (transaction messages queued while offline keep their time)")
def late_delivery(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Queued transaction messages delivered after a reconnect more than late_delivery_s after they happened."""
    late, frames_ts = _times_of_kind(cap, config, "late")
    for (cp, connection), group in late.groupby(["_cp", "connection_id"], sort=False):
        first_seq = int(group["seq"].iloc[0])
        yield Finding("late_delivery", "info", clean(frames_ts.get(first_seq)), cp_or_none(cp), None, None,
                      f"{len(group)} queued transaction message(s) delivered up to "
                      f"{-group['offset_s'].min():,.0f} s late after a reconnect", seqs(group["seq"].tolist()))


@check("naive_timestamp", clause="OCPP 1.6 ed.2 §3.14 time zones (UTC recommended); schema format date-time "
                                 "(RFC 3339 requires an offset)")
def naive_timestamp(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Payload timestamps without a UTC offset (read as UTC, which may be wrong by the charger's time zone)."""
    parts = []
    mv = cap.meter_values
    parts.append(mv.loc[mv["ts_naive"].to_numpy(dtype=bool), ["charge_point_id", "seq", "capture_ts"]])
    st = cap.status
    parts.append(st.loc[st["ts_naive"].to_numpy(dtype=bool), ["charge_point_id", "seq", "capture_ts"]])
    frames = cap.frames
    mask = ((frames["message_type"] == "CALL") & (frames["direction"] == "charger_to_csms")
            & frames["action"].isin(["StartTransaction", "StopTransaction"])).to_numpy(dtype=bool, na_value=False)
    sub = frames.loc[mask, ["charge_point_id", "seq", "ts", "payload"]]
    _, naive, _ = parse_payload_times([p.get("timestamp") if isinstance(p, dict) else None
                                       for p in sub["payload"].tolist()])
    parts.append(sub.loc[naive, ["charge_point_id", "seq", "ts"]].rename(columns={"ts": "capture_ts"}))
    rows = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else None
    if rows is None:
        return
    rows = rows.drop_duplicates("seq").sort_values("seq")
    rows["_cp"] = cp_key(rows["charge_point_id"])
    for cp, group in rows.groupby("_cp", sort=False):
        yield Finding("naive_timestamp", "warning", clean(group["capture_ts"].iloc[0]), cp_or_none(cp), None, None,
                      f"{len(group)} message(s) carry timestamps without a UTC offset (read as UTC)",
                      seqs(group["seq"].tolist()))


@check("timestamp_unreadable", clause="OCPP 1.6 ed.2 §7 dateTime; schema format date-time (RFC 3339)")
def timestamp_unreadable(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """StatusNotification timestamps that cannot be read (capture time is used instead)."""
    st = cap.status
    bad = st["problem"].notna().to_numpy(dtype=bool)
    for ts, cp, connector, problem, seq in zip(st["capture_ts"][bad].tolist(), st["charge_point_id"][bad].tolist(),
                                               st["connector_id"][bad].tolist(), st["problem"][bad].tolist(),
                                               st["seq"][bad].tolist()):
        yield Finding("timestamp_unreadable", "warning", clean(ts), clean(cp), as_int(connector), None,
                      f"StatusNotification {problem}; capture time used instead", seqs(seq))
