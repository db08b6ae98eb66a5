"""Checks on fuzzed traffic (floods of unanswered CALLs, repeated ids, frequent reboots) stay within
n log n: the rewritten checks give what the former quadratic ones gave, and their output stays linear."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from workbench.analysis import Capture
from workbench.checks.protocol import (
    _clean,
    _connector,
    _earlier_max,
    _seqs,
    _side,
    _transaction,
    concurrent_requests,
    epoch_us,
    sort_codes,
)
from workbench.checks.registry import CheckConfig, Finding
from workbench.checks.transactions import transaction_interrupted_by_boot
from workbench.testing import call, charger_records, fuzzed_script, iso_at, merge_records, result


def reference_concurrent_requests(cap: Any, config: CheckConfig) -> list[Finding]:
    """The former check, verbatim but for its walk: every CALL scanned every CALL still open (quadratic)."""
    calls = cap.calls
    rows = np.flatnonzero(calls["request_seq"].notna().to_numpy())
    if len(rows) < 2:
        return []
    connection = sort_codes(calls["connection_id"].iloc[rows])
    side = sort_codes(calls["direction"].iloc[rows])
    seq = calls["request_seq"].to_numpy(dtype=np.int64, na_value=0)[rows]
    order = np.lexsort((seq, side, connection))
    rows, connection, side, seq = rows[order], connection[order], side[order], seq[order]
    first = np.r_[True, (connection[1:] != connection[:-1]) | (side[1:] != side[:-1])]
    group = np.cumsum(first) - 1
    reply = calls["reply_seq"].to_numpy(dtype=float, na_value=np.nan)[rows]
    unanswered = np.isnan(reply)
    ts_us = epoch_us(calls["ts"])[rows]
    prev_end_seq = _earlier_max(np.where(unanswered, -1.0, reply), group, first)
    prev_end_us = _earlier_max(np.where(unanswered, ts_us + int(config.unanswered_timeout_s * 1e6), -1), group, first)
    candidate = (prev_end_seq > seq) | (prev_end_us > ts_us)
    if not candidate.any():
        return []
    columns = ["ts", "charge_point_id", "connection_id", "direction", "unique_id", "action", "request_seq",
               "reply_seq", "reply_ts", "request"]
    order = calls[columns].iloc[rows[np.isin(group, group[candidate])]]
    timeout = pd.Timedelta(seconds=config.unanswered_timeout_s)
    open_by: dict[tuple[Any, Any], list[tuple[Any, int, Any]]] = {}
    found = []
    for ts, cp, conn, direction, uid, action, seq, reply_seq, _reply_ts, payload in zip(
            order["ts"].tolist(), order["charge_point_id"].tolist(), order["connection_id"].tolist(),
            order["direction"].tolist(), order["unique_id"].tolist(), order["action"].tolist(),
            order["request_seq"].tolist(), order["reply_seq"].tolist(), order["reply_ts"].tolist(),
            order["request"].tolist()):
        key = (conn, direction)
        still_open = []
        for other_seq, other_reply_seq, other_ts, other_action, other_uid in open_by.get(key, []):
            if other_reply_seq is not None:
                outstanding = other_reply_seq > seq
            else:
                outstanding = _clean(ts) is not None and _clean(other_ts) is not None and ts - other_ts < timeout
            if outstanding:
                still_open.append((other_seq, other_reply_seq, other_ts, other_action, other_uid))
        if still_open:
            waiting = still_open[0]
            found.append(Finding("concurrent_requests", "warning", ts, _clean(cp), _connector(payload),
                                 _transaction(payload), f"the {_side(direction)} sent {action} {uid!r} while "
                                 f"{waiting[3]} {waiting[4]!r} was still unanswered", _seqs(waiting[0], seq)))
        still_open.append((int(seq), None if _clean(reply_seq) is None else int(reply_seq), ts, action, uid))
        open_by[key] = still_open
    return found


def fuzzed_capture(frames: int, seed: int, charge_points: int = 2) -> Capture:
    return Capture.from_records(merge_records(*[
        charger_records(f"CP{i}", fuzzed_script(frames // charge_points, seed=seed * 10 + i))
        for i in range(charge_points)]))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("timeout_s", [0.0, 2.0, 30.0, 1e6])
def test_concurrent_requests_finds_what_the_quadratic_walk_found(seed: int, timeout_s: float) -> None:
    cap = fuzzed_capture(1500, seed)
    config = CheckConfig(unanswered_timeout_s=timeout_s)
    assert list(concurrent_requests(cap, config)) == reference_concurrent_requests(cap, config)


def test_concurrent_requests_with_unknown_and_backward_times_matches_the_quadratic_walk() -> None:
    script = []
    for i in range(300):
        t_s = (i * 7919) % 97 * 0.5  # times jump back and forth
        script.append((t_s, "up", call(f"c{i}", "Heartbeat", {})))
        if i % 5 == 0:
            script.append((t_s, "down", result(f"c{i - 3}", {"currentTime": iso_at(t_s)})))
    records = charger_records("CP1", script)
    for record in records[5::11]:
        record["ts"] = "not a time"
    cap = Capture.from_records(records)
    for timeout_s in (1.0, 10.0, 30.0):
        config = CheckConfig(unanswered_timeout_s=timeout_s)
        assert list(concurrent_requests(cap, config)) == reference_concurrent_requests(cap, config)


def test_a_charger_that_reboots_often_gets_one_interrupted_finding_per_transaction() -> None:
    boot = {"chargePointVendor": "V", "chargePointModel": "M"}
    script = []
    for i in range(200):  # 200 transactions never stopped, each followed by two boots
        t_s = i * 10.0
        script += [(t_s, "up", call(f"s{i}", "StartTransaction",
                                    {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": iso_at(t_s)})),
                   (t_s + 0.1, "down", result(f"s{i}", {"transactionId": i, "idTagInfo": {"status": "Accepted"}})),
                   (t_s + 5, "up", call(f"b{i}", "BootNotification", boot)),
                   (t_s + 6, "up", call(f"c{i}", "BootNotification", boot))]
    cap = Capture.from_records(charger_records("CP1", script))
    found = list(transaction_interrupted_by_boot(cap, CheckConfig()))
    assert sorted(f.transaction_id for f in found) == list(range(200))  # not 200 x 400 pairs
    first = next(f for f in found if f.transaction_id == 3)
    assert first.frame_seqs == (12, 14)  # its start and the first boot after it


def test_boots_with_only_a_stop_without_start_find_nothing_and_do_not_crash() -> None:
    stop = '[2,"a","StopTransaction",{"transactionId":0,"meterStop":0,"timestamp":"%s"}]' % iso_at(0)
    cap = Capture.from_records(merge_records(
        charger_records("CP1", [(0.0, "up", call("a", "BootNotification", {})), (0.0, "up", stop)]),
        charger_records("CP2", [(0.0, "up", call("a", "BootNotification", {}))])))
    assert list(transaction_interrupted_by_boot(cap, CheckConfig())) == []
