"""OCPP-J RPC rules: pairing, ids, synchronicity, errors, boot order, actions and their directions.

Each check reads the frames/calls/connections tables of one charge point at a time (the tables
hold all charge points; every comparison is within a connection or a charge point). Sources are
the OCPP-J 1.6 specification [J], its errata [JERR] and OCPP 1.6 edition 2 [SPEC]; see
shared/reference/ocpp16-facts.md (beside the repository) §2, §3 and §9.
"""

from __future__ import annotations

import collections
import heapq
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from ..ocppj import MAX_UNIQUE_ID_LENGTH
from ..schemas import known_actions
from ._support import clean as _clean
from ._support import epoch_us, frames_mask, isin, sort_codes
from ._support import payload_connector as _connector
from .registry import CheckConfig, Finding, check

# [SPEC] §3.3 profile table (+ [SEC] §5 security extension): who may send which request.
# DataTransfer goes both ways. The ocpp package does not model directions, so they are listed here.
CHARGER_ACTIONS = frozenset({
    "Authorize", "BootNotification", "DataTransfer", "Heartbeat", "MeterValues", "StartTransaction",
    "StatusNotification", "StopTransaction", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
    "SecurityEventNotification", "SignCertificate", "LogStatusNotification", "SignedFirmwareStatusNotification",
})
CSMS_ACTIONS = frozenset({
    "ChangeAvailability", "ChangeConfiguration", "ClearCache", "DataTransfer", "GetConfiguration",
    "RemoteStartTransaction", "RemoteStopTransaction", "Reset", "UnlockConnector", "GetDiagnostics",
    "UpdateFirmware", "GetLocalListVersion", "SendLocalList", "CancelReservation", "ReserveNow",
    "ClearChargingProfile", "GetCompositeSchedule", "SetChargingProfile", "TriggerMessage",
    "CertificateSigned", "DeleteCertificate", "ExtendedTriggerMessage", "GetInstalledCertificateIds",
    "GetLog", "InstallCertificate", "SignedUpdateFirmware",
})
CHARGER_TO_CSMS = "charger_to_csms"






def _transaction(payload: Any) -> int | None:
    value = payload.get("transactionId") if isinstance(payload, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _seqs(*values: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in values if _clean(v) is not None)


def _side(direction: Any) -> str:
    return "charger" if direction == CHARGER_TO_CSMS else "CSMS"


@check("invalid_frame", clause="OCPP-J 1.6 §4.1 (message structure: a JSON array of type, id, ...)")
def invalid_frame(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Frames that are not OCPP-J messages: invalid JSON, wrong shape, binary frames, unknown message type."""
    frames = cap.frames
    bad = frames.loc[frames["message_type"] == "invalid", ["seq", "ts", "charge_point_id", "direction", "parse_error"]]
    for seq, ts, cp, direction, error in zip(bad["seq"].tolist(), bad["ts"].tolist(), bad["charge_point_id"].tolist(),
                                             bad["direction"].tolist(), bad["parse_error"].tolist()):
        yield Finding("invalid_frame", "error", _clean(ts), _clean(cp), None, None,
                      f"frame from the {_side(direction)} is not valid OCPP-J: {error}", (int(seq),))


TABLE_INT_LIMIT = 2**53
"""Largest integer magnitude the tables hold exactly (their integer fields pass through float64)."""
_INT_FIELDS = ("connectorId", "transactionId", "meterStart", "meterStop")


@check("integer_out_of_range", clause="OCPP 1.6 JSON schemas (integer fields have no bound); workbench tables "
                                      "hold integers up to 2^53 exactly")
def integer_out_of_range(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """An id or meter reading (connectorId, transactionId, meterStart, meterStop) beyond 2^53: the tables cannot
    hold it and leave it empty (raw keeps it). Looks only at frames whose table rows lost such a field."""
    frames = cap.frames
    candidates: dict[int, set[str]] = {}  # frame seq -> the fields its table rows lost
    # connectorId is required in MeterValues and StatusNotification, so few rows lack it. (A MeterValues without
    # transactionId is common: looking at those would decode half a capture; a huge transactionId shows in
    # the transactions table through its StartTransaction reply instead.)
    for table in (cap.meter_values, cap.status):
        if len(table):
            lost = table["seq"].to_numpy()[table["connector_id"].isna().to_numpy(dtype=bool)]
            for seq in np.unique(lost).tolist():
                candidates.setdefault(seq, set()).add("connectorId")
    tx = cap.transactions
    if len(tx):
        lost = (tx["connector_id"].isna() | tx["transaction_id"].isna()).to_numpy(dtype=bool)
        for column in ("start_seq", "start_reply_seq", "stop_seq"):
            for seq in tx[column].to_numpy(dtype=object)[lost].tolist():
                if _clean(seq) is not None:
                    candidates.setdefault(int(seq), set()).update(_INT_FIELDS)
    if not candidates:
        return
    seqs = frames["seq"].to_numpy(dtype=np.int64)
    wanted = np.fromiter(sorted(candidates), dtype=np.int64, count=len(candidates))
    rows = np.searchsorted(seqs, wanted)
    rows = rows[(rows < len(seqs)) & (seqs[np.minimum(rows, len(seqs) - 1)] == wanted)]
    chosen = frames.take(rows)
    raws = chosen["raw"].to_numpy(dtype=object, na_value=None)
    for row, (raw, seq) in enumerate(zip(raws.tolist(), chosen["seq"].tolist())):
        fields = [name for name in _INT_FIELDS if name in candidates[seq]]
        if not isinstance(raw, str) or not any(f'"{name}"' in raw for name in fields):
            continue  # the field is absent, not too big (most MeterValues outside a transaction): no decode
        payload = chosen["payload"].iloc[row]
        if not isinstance(payload, dict):
            continue
        for name in fields:
            value = payload.get(name)
            if type(value) is int and abs(value) > TABLE_INT_LIMIT:
                yield Finding("integer_out_of_range", "error", _clean(chosen["ts"].iloc[row]),
                              _clean(chosen["charge_point_id"].iloc[row]), None, None,
                              f"{chosen['action'].iloc[row]} {name} {value} is beyond 2^53: the tables cannot hold "
                              "it and leave it empty (raw keeps it)", (int(chosen["seq"].iloc[row]),))


def _unanswered_window_end(cap: Any) -> pd.Series:
    """Per connection: the last moment a reply could have been seen (its close, else its last frame)."""
    seen = pd.concat([
        cap.frames[["connection_id", "ts"]],
        cap.connections[["connection_id", "close_ts"]].rename(columns={"close_ts": "ts"}),
    ], ignore_index=True).dropna()
    return seen.groupby("connection_id", observed=True)["ts"].max()


@check("unanswered_request", clause="OCPP-J 1.6 §4.1.1 / §4.2 (every CALL is answered by a CALLRESULT or CALLERROR)")
def unanswered_request(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Requests with no reply although the connection was watched for ``unanswered_timeout_s`` after them.

    A request near the end of the capture (or of its connection) with less than the timeout left is
    not reported: its reply may simply not have been captured."""
    calls = cap.calls
    pending = calls[calls["outcome"] == "unanswered"]
    if not len(pending):
        return
    end = _unanswered_window_end(cap)
    watched_until = pending["connection_id"].map(end)
    watched_s = (watched_until.astype(pending["ts"].dtype) - pending["ts"]).dt.total_seconds()
    late = pending[watched_s.to_numpy(dtype=float, na_value=np.nan) >= config.unanswered_timeout_s]
    for ts, cp, direction, action, uid, seq, request in zip(
            late["ts"].tolist(), late["charge_point_id"].tolist(), late["direction"].tolist(),
            late["action"].tolist(), late["unique_id"].tolist(), late["request_seq"].tolist(), late["request"].tolist()):
        yield Finding("unanswered_request", "error", ts, _clean(cp), _connector(request), _transaction(request),
                      f"{action} request {uid!r} from the {_side(direction)} got no reply within "
                      f"{config.unanswered_timeout_s:g} s", _seqs(seq))


@check("slow_reply", clause="OCPP-J 1.6 §4.1.1 (a request times out; the timeout is implementation-defined)")
def slow_reply(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Replies that came more than ``slow_reply_s`` after their request."""
    calls = cap.calls
    slow = calls[calls["latency_s"].to_numpy(dtype=float, na_value=np.nan) > config.slow_reply_s]
    for ts, cp, direction, action, uid, latency, rseq, pseq, request in zip(
            slow["ts"].tolist(), slow["charge_point_id"].tolist(), slow["direction"].tolist(),
            slow["action"].tolist(), slow["unique_id"].tolist(), slow["latency_s"].tolist(),
            slow["request_seq"].tolist(), slow["reply_seq"].tolist(), slow["request"].tolist()):
        replier = "CSMS" if direction == CHARGER_TO_CSMS else "charger"
        yield Finding("slow_reply", "warning", ts, _clean(cp), _connector(request), _transaction(request),
                      f"the {replier} answered {action} {uid!r} after {latency:.3f} s "
                      f"(threshold {config.slow_reply_s:g} s)", _seqs(rseq, pseq))


@check("reply_without_request", clause="OCPP-J 1.6 §4.2.2 / §4.2.3 (a reply carries the id of the CALL it answers)")
def reply_without_request(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """CALLRESULT/CALLERROR frames whose id matches no unanswered CALL of the other side on that connection."""
    calls = cap.calls
    orphans = calls[calls["outcome"] == "reply_without_request"]
    for ts, cp, direction, uid, seq in zip(orphans["ts"].tolist(), orphans["charge_point_id"].tolist(),
                                           orphans["direction"].tolist(), orphans["unique_id"].tolist(),
                                           orphans["reply_seq"].tolist()):
        replier = "CSMS" if direction == CHARGER_TO_CSMS else "charger"
        yield Finding("reply_without_request", "error", ts, _clean(cp), None, None,
                      f"the {replier} sent a reply with id {uid!r} that answers no open request", _seqs(seq))


@check("duplicate_message_id", clause="OCPP-J 1.6 §4.1.4 and [JERR] §3.1/3.7 (message ids are unique per sender)")
def duplicate_message_id(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """CALLs reusing an id the same side already used on that connection. A retransmission of the same
    request may reuse its id ([JERR]), so an identical repeat is a warning; a different request an error."""
    calls = cap.calls
    if not (calls["outcome"] == "duplicate_id").any():
        return
    requests = calls[calls["request_seq"].notna()]
    # Only requests sharing an id with a duplicate matter: their payloads are the only ones decoded.
    duplicated_ids = requests.loc[(requests["outcome"] == "duplicate_id").to_numpy(dtype=bool), "unique_id"]
    requests = requests[requests["unique_id"].isin(duplicated_ids.unique()).to_numpy(dtype=bool)]
    first_of: dict[tuple[Any, Any, Any], tuple[Any, Any, Any]] = {}
    for ts, cp, conn, direction, uid, action, seq, payload, outcome in zip(
            requests["ts"].tolist(), requests["charge_point_id"].tolist(), requests["connection_id"].tolist(),
            requests["direction"].tolist(), requests["unique_id"].tolist(), requests["action"].tolist(),
            requests["request_seq"].tolist(), requests["request"].tolist(), requests["outcome"].tolist()):
        key = (conn, direction, uid)
        if outcome != "duplicate_id":
            first_of.setdefault(key, (action, payload, seq))
            continue
        earlier = first_of.get(key)
        same = earlier is not None and earlier[0] == action and earlier[1] == payload
        yield Finding("duplicate_message_id", "warning" if same else "error", ts, _clean(cp),
                      _connector(payload), _transaction(payload),
                      f"the {_side(direction)} reused message id {uid!r} on this connection"
                      + (" (a retransmission of the same request)" if same else
                         f" for a different request ({action})"),
                      _seqs(earlier[2] if earlier else None, seq))


@check("message_id_too_long", clause="OCPP-J 1.6 §4.1.4 (uniqueId: at most 36 characters)")
def message_id_too_long(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """CALLs whose message id is longer than 36 characters."""
    frames = cap.frames
    too_long = (frames["unique_id"].str.len().fillna(0) > MAX_UNIQUE_ID_LENGTH).to_numpy(dtype=bool)
    long_ids = frames.loc[frames_mask(cap, "message_type", "CALL") & too_long,
                          ["seq", "ts", "charge_point_id", "direction", "unique_id", "action"]]
    for seq, ts, cp, direction, uid, action in zip(long_ids["seq"].tolist(), long_ids["ts"].tolist(),
                                                   long_ids["charge_point_id"].tolist(), long_ids["direction"].tolist(),
                                                   long_ids["unique_id"].tolist(), long_ids["action"].tolist()):
        yield Finding("message_id_too_long", "error", ts, _clean(cp), None, None,
                      f"{action} from the {_side(direction)} has a {len(uid)}-character message id "
                      f"(at most {MAX_UNIQUE_ID_LENGTH})", (int(seq),))


def _earlier_max(values: np.ndarray, group: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Per row, the largest value of the rows before it in its group, as float (-1.0 for a group's first
    row). Groups are runs of equal ``group``; ``first`` marks where each begins."""
    running = pd.Series(values).groupby(group, sort=False).cummax().to_numpy(dtype=float)
    earlier = np.r_[-1.0, running[:-1]]
    earlier[first] = -1.0
    return earlier


@check("concurrent_requests", clause="OCPP-J 1.6 §4.1.1 and [JERR] §3.5 (one outstanding CALL per side and connection)")
def concurrent_requests(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """A CALL sent while the same side still waits for a reply to an earlier CALL on that connection.

    An earlier CALL stops being outstanding when its reply is seen, or ``unanswered_timeout_s`` after
    it was sent (it timed out, after which the sender may go on)."""
    calls = cap.calls
    rows = np.flatnonzero(calls["request_seq"].notna().to_numpy())
    if len(rows) < 2:
        return
    # Requests ordered by connection, side and seq (as sort_values on those columns would), on plain arrays.
    connection = sort_codes(calls["connection_id"].iloc[rows])
    side = sort_codes(calls["direction"].iloc[rows])
    seq = calls["request_seq"].to_numpy(dtype=np.int64, na_value=0)[rows]
    order = np.lexsort((seq, side, connection))
    rows, connection, side, seq = rows[order], connection[order], side[order], seq[order]
    first = np.r_[True, (connection[1:] != connection[:-1]) | (side[1:] != side[:-1])]
    group = np.cumsum(first) - 1
    # Vectorised pre-filter: keep only (connection, direction) groups where some CALL starts before an
    # earlier one's reply (reply_seq) or timeout; the exact walk below runs on those groups only.
    reply = calls["reply_seq"].to_numpy(dtype=float, na_value=np.nan)[rows]
    unanswered = np.isnan(reply)
    ts_us = epoch_us(calls["ts"])[rows]
    prev_end_seq = _earlier_max(np.where(unanswered, -1.0, reply), group, first)
    prev_end_us = _earlier_max(np.where(unanswered, ts_us + int(config.unanswered_timeout_s * 1e6), -1), group, first)
    candidate = (prev_end_seq > seq) | (prev_end_us > ts_us)
    if not candidate.any():
        return
    columns = ["ts", "charge_point_id", "connection_id", "direction", "unique_id", "action", "request_seq",
               "reply_seq", "reply_ts", "request"]
    order = calls[columns].iloc[rows[np.isin(group, group[candidate])]]
    timeout = pd.Timedelta(seconds=config.unanswered_timeout_s)
    open_by: dict[tuple[Any, Any], _Outstanding] = {}
    for ts, cp, conn, direction, uid, action, seq, reply_seq, reply_ts, payload in zip(
            order["ts"].tolist(), order["charge_point_id"].tolist(), order["connection_id"].tolist(),
            order["direction"].tolist(), order["unique_id"].tolist(), order["action"].tolist(),
            order["request_seq"].tolist(), order["reply_seq"].tolist(), order["reply_ts"].tolist(),
            order["request"].tolist()):
        key = (conn, direction)
        outstanding = open_by.get(key)
        if outstanding is None:
            outstanding = open_by[key] = _Outstanding(timeout)
        waiting = outstanding.first_at(int(seq), _clean(ts))
        if waiting is not None:
            yield Finding("concurrent_requests", "warning", ts, _clean(cp), _connector(payload), _transaction(payload),
                          f"the {_side(direction)} sent {action} {uid!r} while {waiting[3]} {waiting[4]!r} "
                          "was still unanswered", _seqs(waiting[0], seq))
        outstanding.add((int(seq), None if _clean(reply_seq) is None else int(reply_seq), _clean(ts), action, uid))


class _Outstanding:
    """The CALLs of one connection and side still waiting for a reply, as the next CALL (in seq order) sees them.

    A CALL with a reply is outstanding until the reply's seq; one without, until ``timeout`` after it was sent
    (and never once a CALL of unknown time was seen, nor if its own time is unknown). Once not outstanding, a
    CALL never is again. Each CALL enters and leaves once, through heaps ordered by when it stops being
    outstanding: O(log n) per CALL, however many a flood leaves unanswered."""

    def __init__(self, timeout: pd.Timedelta) -> None:
        self.timeout = timeout
        self.in_order: collections.deque[tuple[Any, ...]] = collections.deque()  # by seq; may hold ended CALLs
        self.by_reply: list[tuple[int, int]] = []  # (reply seq, seq) of answered CALLs
        self.by_time: list[tuple[Any, int]] = []  # (sent at, seq) of unanswered CALLs
        self.ended: set[int] = set()  # seqs of CALLs no longer outstanding (still in in_order)

    def first_at(self, seq: int, ts: Any) -> tuple[Any, ...] | None:
        """The earliest CALL still outstanding when the CALL ``seq`` is sent at ``ts`` (None: no such CALL)."""
        by_reply, by_time, ended = self.by_reply, self.by_time, self.ended
        while by_reply and by_reply[0][0] <= seq:
            ended.add(heapq.heappop(by_reply)[1])
        if ts is None:
            ended.update(other for _, other in by_time)
            by_time.clear()
        else:
            while by_time and ts - by_time[0][0] >= self.timeout:
                ended.add(heapq.heappop(by_time)[1])
        in_order = self.in_order
        while in_order and in_order[0][0] in ended:
            ended.discard(in_order.popleft()[0])
        return in_order[0] if in_order else None

    def add(self, item: tuple[Any, ...]) -> None:
        """Register a CALL just sent: (seq, reply seq or None, sent at or None, action, unique id)."""
        seq, reply_seq, ts = item[0], item[1], item[2]
        if reply_seq is not None:
            heapq.heappush(self.by_reply, (reply_seq, seq))
        elif ts is None:
            return  # of unknown time: never counted as outstanding
        else:
            heapq.heappush(self.by_time, (ts, seq))
        self.in_order.append(item)


@check("callerror", clause="OCPP-J 1.6 §4.2.3 (CALLERROR: the receiver could not process a CALL)")
def callerror(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Every CALLERROR reply: the other side could not process a request."""
    calls = cap.calls
    errors = calls[calls["outcome"] == "error"]
    for ts, cp, direction, action, uid, code, response, rseq, pseq, request in zip(
            errors["ts"].tolist(), errors["charge_point_id"].tolist(), errors["direction"].tolist(),
            errors["action"].tolist(), errors["unique_id"].tolist(), errors["error_code"].tolist(),
            errors["response"].tolist(), errors["request_seq"].tolist(), errors["reply_seq"].tolist(),
            errors["request"].tolist()):
        replier = "CSMS" if direction == CHARGER_TO_CSMS else "charger"
        yield Finding("callerror", "warning", ts, _clean(cp), _connector(request), _transaction(request),
                      f"the {replier} answered {action} {uid!r} with CALLERROR {code}", _seqs(rseq, pseq))


@check("unknown_action", clause="OCPP-J 1.6 §4.2.3 Table 7 (NotImplemented: action not known) and [SPEC] §3.3")
def unknown_action(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """CALLs whose action is not an OCPP 1.6 action (nor of the 1.6 security extension); actions are case-sensitive."""
    frames = cap.frames
    unknown = frames.loc[frames_mask(cap, "message_type", "CALL")
                         & ~isin(frames["action"], known_actions()),
                         ["seq", "ts", "charge_point_id", "direction", "action"]]
    for seq, ts, cp, direction, action in zip(unknown["seq"].tolist(), unknown["ts"].tolist(),
                                              unknown["charge_point_id"].tolist(), unknown["direction"].tolist(),
                                              unknown["action"].tolist()):
        yield Finding("unknown_action", "error", ts, _clean(cp), None, None,
                      f"the {_side(direction)} called {action!r}, which is not an OCPP 1.6 action", (int(seq),))


@check("wrong_direction", clause="OCPP 1.6 [SPEC] §3.3 (each action is sent by one side; DataTransfer by both)")
def wrong_direction(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Known actions sent by the wrong side (e.g. a CSMS sending BootNotification)."""
    frames = cap.frames
    is_call = frames_mask(cap, "message_type", "CALL")
    from_charger = frames_mask(cap, "direction", CHARGER_TO_CSMS)
    action = frames["action"]
    wrong = frames.loc[is_call & ((from_charger & isin(action, CSMS_ACTIONS - CHARGER_ACTIONS))
                                  | (~from_charger & isin(action, CHARGER_ACTIONS - CSMS_ACTIONS))),
                       ["seq", "ts", "charge_point_id", "direction", "action"]]
    for seq, ts, cp, direction, action in zip(wrong["seq"].tolist(), wrong["ts"].tolist(),
                                              wrong["charge_point_id"].tolist(), wrong["direction"].tolist(),
                                              wrong["action"].tolist()):
        yield Finding("wrong_direction", "error", ts, _clean(cp), None, None,
                      f"{action} was sent by the {_side(direction)}; only the "
                      f"{'CSMS' if direction == CHARGER_TO_CSMS else 'charger'} sends it", (int(seq),))


def _charge_points_with_requests_before_acceptance(calls: pd.DataFrame, mine: np.ndarray) -> set[Any]:
    """Vectorised pre-filter: charge points where a non-boot request (of the rows ``mine``) follows a
    BootNotification that was not (yet) answered Accepted. Only they need the exact walk (which also
    handles Pending + triggers)."""
    is_boot = isin(calls["action"], ["BootNotification"])
    boots = np.flatnonzero(mine & is_boot)
    if not len(boots):
        return set()
    status = [r.get("status") if isinstance(r, dict) else None for r in calls["response"].iloc[boots].tolist()]
    accepted = np.asarray([s == "Accepted" for s in status], dtype=bool) & calls["reply_seq"].notna().to_numpy()[boots]
    requests = np.flatnonzero(mine)
    cp, labels = pd.factorize(calls["charge_point_id"])  # integer codes group fast; -1 = no charge point
    request_seq = calls["request_seq"].to_numpy(dtype=float, na_value=np.nan)
    reply_seq = calls["reply_seq"].to_numpy(dtype=float, na_value=np.nan)
    events = pd.DataFrame({
        "cp": np.concatenate([cp[boots], cp[boots][accepted], cp[requests]]),
        "seq": np.concatenate([request_seq[boots], reply_seq[boots][accepted], request_seq[requests]]),
        # state 1 = booting, 0 = accepted, NaN = a request (in the state of the latest boot event before it)
        "state": np.concatenate([np.ones(len(boots)), np.zeros(int(accepted.sum())), np.full(len(requests), np.nan)]),
        "is_request": np.concatenate([np.zeros(len(boots) + int(accepted.sum()), dtype=bool), ~is_boot[requests]]),
    }).sort_values("seq", kind="stable")
    events["state"] = events.groupby("cp")["state"].ffill()
    flagged = (events["is_request"] & (events["state"] == 1.0) & (events["cp"] >= 0)).to_numpy()
    return set(labels[np.unique(events["cp"].to_numpy()[flagged])].tolist())


@check("request_before_boot_accepted",
       clause="OCPP 1.6 [SPEC] §4.2 / §6.3 and [JERR] §3.10 (no other request until BootNotification is Accepted)")
def request_before_boot_accepted(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Charger requests other than BootNotification sent after a BootNotification and before a reply Accepted.

    While Pending the charger may send only what a TriggerMessage asked for. A charger never seen
    booting in the capture is not judged (it may have been accepted before the capture started)."""
    calls = cap.calls
    columns = ["ts", "charge_point_id", "action", "request_seq", "reply_seq", "request", "response"]
    has_request = calls["request_seq"].notna().to_numpy()
    from_charger = (calls["direction"] == CHARGER_TO_CSMS).to_numpy(dtype=bool, na_value=False)
    booted = _charge_points_with_requests_before_acceptance(calls, from_charger & has_request)
    if not booted:
        return
    mine = calls.loc[from_charger & has_request & isin(calls["charge_point_id"], booted), columns]
    triggers = calls.loc[~from_charger & has_request & isin(calls["action"], ["TriggerMessage"]), columns]
    # Events in frame order per charge point: charger requests, boot replies, trigger requests.
    events: list[tuple[int, str, Any, Any]] = []
    for cp, seq, action, payload, reply_seq, response, ts in zip(
            mine["charge_point_id"].tolist(), mine["request_seq"].tolist(), mine["action"].tolist(),
            mine["request"].tolist(), mine["reply_seq"].tolist(), mine["response"].tolist(), mine["ts"].tolist()):
        if cp not in booted:
            continue
        events.append((int(seq), "request", cp, (action, payload, ts)))
        if action == "BootNotification" and _clean(reply_seq) is not None:
            status = response.get("status") if isinstance(response, dict) else None
            events.append((int(reply_seq), "boot_reply", cp, status))
    for cp, seq, payload in zip(triggers["charge_point_id"].tolist(), triggers["request_seq"].tolist(),
                                triggers["request"].tolist()):
        if cp in booted and isinstance(payload, dict):
            events.append((int(seq), "trigger", cp, payload.get("requestedMessage")))
    events.sort(key=lambda e: e[0])
    state: dict[Any, str] = {}  # cp -> "unknown" | "booting" | "Pending" | "Rejected" | "Accepted"
    triggered: dict[Any, set[str]] = {}
    for seq, kind, cp, detail in events:
        if kind == "trigger":
            triggered.setdefault(cp, set()).add(detail)
            continue
        if kind == "boot_reply":
            state[cp] = detail if detail in ("Accepted", "Pending", "Rejected") else "booting"
            if detail != "Pending":
                triggered.pop(cp, None)
            continue
        action, payload, ts = detail
        if action == "BootNotification":
            if state.get(cp) != "Pending":  # a new boot; a repeat while Pending keeps the triggers
                state[cp] = "booting"
            continue
        current = state.get(cp, "unknown")
        if current in ("unknown", "Accepted"):
            continue
        if current == "Pending" and action in triggered.get(cp, set()):
            triggered[cp].discard(action)
            continue
        why = {"booting": "before its BootNotification was answered",
               "Pending": "while its BootNotification was Pending (and no TriggerMessage asked for it)",
               "Rejected": "after its BootNotification was Rejected"}[current]
        yield Finding("request_before_boot_accepted", "error", ts, _clean(cp), _connector(payload),
                      _transaction(payload), f"the charger sent {action} {why}", (seq,))
