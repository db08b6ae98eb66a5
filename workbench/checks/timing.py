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
from ._support import (
    as_int,
    clean,
    cp_codes,
    cp_key,
    cp_or_none,
    epoch_us,
    first_of_each,
    frames_mask,
    group_codes,
    isin,
    joint_codes,
    memo,
    object_column,
    seqs,
    sort_codes,
)
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


def _latest_at(key: np.ndarray, at: np.ndarray, event_key: np.ndarray, event_at: np.ndarray,
               event_value: np.ndarray) -> np.ndarray:
    """For each (key, at): the value of the latest event with the same key at or before ``at`` (the last one
    given among equals), NaN when there is none. Keys are integer codes, ``at`` and ``event_at`` int64
    (frame seqs): merge_asof on one integer key, with both sides put in order by argsort."""
    order = np.argsort(at, kind="stable")
    left = pd.DataFrame({"key": key[order], "at": at[order].astype(np.int64)})
    by_time = np.argsort(event_at, kind="stable")
    right = pd.DataFrame({"key": event_key[by_time], "at": event_at[by_time].astype(np.int64),
                          "value": event_value[by_time]})
    joined = pd.merge_asof(left, right, on="at", by="key", direction="backward")
    out = np.full(len(key), np.nan)
    out[order] = joined["value"].to_numpy(dtype=float, na_value=np.nan)
    return out


def _interval_at(events: pd.DataFrame, key: str, cp_keys: np.ndarray, cp_code: np.ndarray,
                 at_seq: np.ndarray) -> np.ndarray:
    """The value of ``key`` in force for each (charge point, seq), NaN when never set. Charge points are
    given as codes into the sorted keys ``cp_keys`` (see :func:`cp_codes`)."""
    ev = events[events["key"] == key]
    if len(ev) == 0 or len(cp_code) == 0:
        return np.full(len(cp_code), np.nan)
    # -1: a charge point with no row to look up (it then matches nothing).
    ev_code = pd.Index(cp_keys).get_indexer(ev["_cp"].to_numpy(dtype=object))
    return _latest_at(cp_code, at_seq, ev_code, ev["seq"].to_numpy(), ev["value_s"].to_numpy(dtype=float))


def _latest_start(cap: Any, readings: pd.DataFrame) -> np.ndarray:
    """For each reading, the seq of the latest StartTransaction on its connector before it (-1 if none)."""
    tx = cap.transactions
    tx = tx[tx["start_seq"].notna() & tx["connector_id"].notna()]
    out = np.full(len(readings), -1, dtype=np.int64)
    usable = readings["connector_id"].notna().to_numpy()
    if len(tx) == 0 or not usable.any():
        return out
    _, (reading_cp, tx_cp) = cp_codes(readings["charge_point_id"], tx["charge_point_id"])
    reading_where, tx_where = joint_codes(
        [reading_cp[usable], readings["connector_id"].to_numpy(dtype="int64", na_value=0)[usable]],
        [tx_cp, tx["connector_id"].to_numpy(dtype="int64", na_value=0)])
    start = tx["start_seq"].to_numpy(dtype="int64", na_value=0)
    latest = _latest_at(reading_where, readings["seq"].to_numpy(dtype=np.int64)[usable], tx_where, start, start)
    out[usable] = np.where(np.isnan(latest), -1, latest)
    return out


@check("meter_values_gap", clause="OCPP 1.6 ed.2 §9.1 MeterValueSampleInterval; errata v4.0 §3.15 (SHALL send "
                                  "MeterValues at that interval)")
def meter_values_gap(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Missing periodic MeterValues in a transaction: a gap longer than the factor times the sample interval."""
    mv = cap.meter_values
    use = np.flatnonzero(isin(mv["source"], ["MeterValues"]) & isin(mv["context"], [spec16.SAMPLE_PERIODIC])
                         & mv["transaction_id"].notna().to_numpy() & mv["ts"].notna().to_numpy())
    if len(use) < 2:
        return
    reading = mv["seq"].to_numpy(dtype=np.int64)[use] * 1_000_000 + np.clip(
        mv["meter_value_index"].to_numpy(dtype=np.int64)[use], 0, 999_999)
    rows = use[first_of_each(reading)]  # one row per MeterValue element, in seq order
    readings = mv[["ts", "charge_point_id", "connector_id", "transaction_id", "seq"]].iloc[rows]
    cp_keys, (cp_code,) = cp_codes(readings["charge_point_id"])
    start = _latest_start(cap, readings)  # a reused transactionId starts a new series
    seq = readings["seq"].to_numpy()
    # The interval in force at each reading, looked up while the readings are still in seq order.
    configured = _interval_at(memo(cap, ("configured_intervals",), lambda: configured_intervals(cap)),
                              spec16.METER_VALUE_SAMPLE_INTERVAL, cp_keys, cp_code, seq)
    connector = readings["connector_id"].to_numpy(dtype="int64", na_value=-1)
    tx = readings["transaction_id"].to_numpy(dtype="int64", na_value=_NO_TX)
    t = epoch_us(readings["ts"]) / 1e6
    # One series per (charge point, connector, transaction, start); its readings by time, then seq.
    series = group_codes(cp_code, sort_codes(connector), sort_codes(tx), sort_codes(start))
    order = np.lexsort((seq, t, series))
    series, cp_code, connector, tx, t, seq, configured = (
        a[order] for a in (series, cp_code, connector, tx, t, seq, configured))
    same = np.zeros(len(order), dtype=bool)
    same[1:] = series[1:] == series[:-1]
    step = np.flatnonzero(same)
    if len(step) == 0:
        return
    gap_s = t[step] - t[step - 1]
    configured = configured[step]
    positive = gap_s > 0
    observed = pd.Series(gap_s[positive]).groupby(cp_code[step][positive]).agg(["median", "size"])
    median = observed["median"].where(observed["size"] >= 3).reindex(cp_code[step]).to_numpy()
    expected = np.where(np.isnan(configured), median, configured)
    with np.errstate(invalid="ignore"):
        bad = (expected > 0) & (gap_s > expected * config.interval_tolerance_factor)
    for i in np.flatnonzero(bad):
        at = step[i]
        source = "configured" if not np.isnan(configured[i]) else "observed median"
        yield Finding("meter_values_gap", "warning", clean(readings["ts"].iloc[order[at - 1]]),
                      cp_or_none(cp_keys[cp_code[at]]),
                      int(connector[at]) if connector[at] >= 0 else None, int(tx[at]) if tx[at] != _NO_TX else None,
                      f"no periodic MeterValues for {gap_s[i]:.0f} s (sample interval {expected[i]:.0f} s, "
                      f"{source}): about {gap_s[i] / expected[i] - 1:.0f} reading(s) missing",
                      seqs(seq[at - 1], seq[at]))


@check("heartbeat_interval", clause="OCPP 1.6 ed.2 §4.6 Heartbeat, §9.1 HeartbeatInterval (inactivity period)")
def heartbeat_interval(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """A charger silent on an open connection for longer than the factor times its HeartbeatInterval."""
    events = memo(cap, ("configured_intervals",), lambda: configured_intervals(cap))
    events = events[(events["key"] == spec16.HEARTBEAT_INTERVAL) & (events["value_s"] > 0)]
    if len(events) == 0:
        return
    frames = cap.frames
    up = np.flatnonzero(frames_mask(cap, "direction", "charger_to_csms"))
    if len(up) < 2:
        return
    connection = pd.factorize(frames["connection_id"].iloc[up])[0]
    order = np.argsort(connection, kind="stable")  # frames are in capture order: stable keeps it per connection
    rows = up[order]
    connection = connection[order]
    t = epoch_us(frames["ts"])[rows] / 1e6
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
    cp_keys, cp_code = np.unique(cps, return_inverse=True)
    interval = _interval_at(events, spec16.HEARTBEAT_INTERVAL, cp_keys, cp_code, prev_seq)
    with np.errstate(invalid="ignore"):
        bad = (interval > 0) & (gap_s > interval * config.interval_tolerance_factor)
    for i in np.flatnonzero(bad):
        yield Finding("heartbeat_interval", "warning", clean(frames["ts"].iloc[rows[step[i] - 1]]),
                      cp_or_none(cps[i]), None, None,
                      f"no message from the charger for {gap_s[i]:.0f} s on an open connection "
                      f"(HeartbeatInterval {interval[i]:.0f} s)", seqs(prev_seq[i], seq[rows[step[i]]]))


def _transaction_message_times(cap: Any) -> pd.DataFrame:
    """The chargers' StartTransaction and StopTransaction requests in frame order: charge_point_id,
    connection_id, seq, ts (capture time), action, payload_ts (their ``timestamp``, NaT if unreadable) and
    naive (it had no UTC offset). Their payloads are decoded once for clock_skew, late_delivery and
    naive_timestamp."""
    frames = cap.frames
    mask = (frames_mask(cap, "message_type", "CALL")
            & frames_mask(cap, "direction", "charger_to_csms")
            & isin(frames["action"], ["StartTransaction", "StopTransaction"]))
    sub = frames.loc[mask, ["ts", "charge_point_id", "connection_id", "seq", "action", "payload"]]
    parsed, naive, _ = parse_payload_times([p.get("timestamp") if isinstance(p, dict) else None
                                            for p in sub["payload"].tolist()])
    return sub.drop(columns="payload").assign(payload_ts=parsed.array, naive=naive)


def _time_rows(cps: np.ndarray, connections: np.ndarray, seq: np.ndarray, offset_s: np.ndarray,
               queueable: bool) -> dict[str, np.ndarray]:
    """Columns of :func:`_payload_times` (but action) for messages of one kind."""
    return {"_cp": np.asarray(cps, dtype=object), "connection_id": np.asarray(connections, dtype=object),
            "seq": np.asarray(seq, dtype=np.int64), "offset_s": np.asarray(offset_s, dtype=float),
            QUEUEABLE: np.full(len(seq), queueable)}


def _payload_times(cap: Any) -> pd.DataFrame:
    """One row per charger message with a payload time: _cp, connection_id, seq, action, offset_s
    (payload time - capture time, s), queueable (a §3.7 transaction message); sorted by seq."""
    parts = {}
    st = cap.status
    st = st[st["ts_from_payload"].to_numpy(dtype=bool)]
    parts["StatusNotification"] = _time_rows(
        cp_key(st["charge_point_id"]), st["connection_id"].to_numpy(), st["seq"].to_numpy(),
        (st["ts"] - st["capture_ts"]).dt.total_seconds().to_numpy(), False)
    mv = cap.meter_values
    # Clock-aligned samples are stamped with the start of their interval, so they are left out.
    use = (isin(mv["source"], ["MeterValues"]) & ~isin(mv["context"], [spec16.SAMPLE_CLOCK])
           & mv["ts"].notna().to_numpy())
    if use.any():
        # meter_values is in capture order, so each frame's rows are contiguous: reduce per run of seq
        # (on whole columns: cheaper than copying out the rows used first).
        seq = mv["seq"].to_numpy()
        first = np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]])
        newest_us = np.maximum.reduceat(np.where(use, epoch_us(mv["ts"]), np.iinfo(np.int64).min), first)
        used = np.logical_or.reduceat(use, first)
        rows, newest_us = first[used], newest_us[used]
        capture_us = epoch_us(mv["capture_ts"])[rows]
        parts["MeterValues"] = _time_rows(cp_key(mv["charge_point_id"].iloc[rows]),
                                          cp_key(mv["connection_id"].iloc[rows]), seq[rows],
                                          (newest_us - capture_us) / 1e6, True)
    messages = memo(cap, ("transaction_message_times",), lambda: _transaction_message_times(cap))
    for action in ("StartTransaction", "StopTransaction"):
        sub = messages[(messages["action"] == action).to_numpy(dtype=bool, na_value=False)]
        offset = (sub["payload_ts"].to_numpy(dtype="datetime64[us]") - sub["ts"].to_numpy(dtype="datetime64[us]")
                  ) / np.timedelta64(1, "s")
        parts[action] = _time_rows(cp_key(sub["charge_point_id"]), sub["connection_id"].to_numpy(),
                                   sub["seq"].to_numpy(), offset, True)
    columns = {name: np.concatenate([part[name] for part in parts.values()]) for name in parts["StatusNotification"]}
    columns["action"] = np.repeat(np.arange(len(parts)), [len(part["seq"]) for part in parts.values()])
    keep = np.flatnonzero(np.isfinite(columns["offset_s"]))
    keep = keep[np.argsort(columns["seq"][keep], kind="stable")]
    table = {name: object_column(values[keep]) if values.dtype == object else values[keep]
             for name, values in columns.items()}
    table["action"] = pd.Categorical.from_codes(table["action"], categories=list(parts))
    return pd.DataFrame(table)[["_cp", "connection_id", "seq", "action", "offset_s", QUEUEABLE]]


def _connection_groups(connection: pd.Series) -> np.ndarray:
    """A group number per row: equal connection ids together, missing ones with "" (both: not known)."""
    codes, uniques = pd.factorize(connection)
    empty = np.flatnonzero(np.asarray(uniques, dtype=object) == "")
    codes[codes < 0] = empty[0] if len(empty) else len(uniques)
    return codes


_KINDS = ["ok", "skew", "late"]
"""The kinds of payload time, see :func:`_classify_times`."""


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
    grouped = pd.Series(fresh.astype(np.int64)).groupby(_connection_groups(times["connection_id"]), sort=False)
    fresh_before = (grouped.cumsum().to_numpy() - fresh) > 0
    fresh_after = (grouped.transform("sum").to_numpy() - grouped.cumsum().to_numpy()) > 0
    backlog = ~fresh & ~fresh_before & fresh_after & (offset < 0)
    queueable = times[QUEUEABLE].to_numpy(dtype=bool)
    kind = np.where(fresh, _KINDS.index("ok"), _KINDS.index("skew"))
    kind[backlog & queueable] = np.where(offset[backlog & queueable] < -config.late_delivery_s,
                                         _KINDS.index("late"), _KINDS.index("ok"))
    kind[backlog & ~queueable] = _KINDS.index("ok")
    return times.assign(kind=pd.Categorical.from_codes(kind, categories=_KINDS))


def _times_of_kind(cap: Any, config: CheckConfig, kind: str) -> tuple[pd.DataFrame, dict[int, Any]]:
    """Payload times classified ``kind`` (shared by clock_skew and late_delivery, computed once per capture),
    and the capture time of their frames by seq."""
    times = memo(cap, ("classified_times", config.clock_skew_s, config.late_delivery_s),
                 lambda: _classify_times(cap, config))
    rows = times[(times["kind"] == kind).to_numpy(dtype=bool)]
    if len(rows) == 0:
        return rows, {}
    frames = cap.frames
    mine = frames["seq"].isin(rows["seq"]).to_numpy()
    return rows, dict(zip(frames["seq"][mine].tolist(), frames["ts"][mine].tolist()))


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
    messages = memo(cap, ("transaction_message_times",), lambda: _transaction_message_times(cap))
    parts.append(messages.loc[messages["naive"].to_numpy(dtype=bool), ["charge_point_id", "seq", "ts"]].rename(
        columns={"ts": "capture_ts"}))
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
