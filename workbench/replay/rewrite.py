"""Rewriting a recorded payload for a live peer: transaction ids and payload times.

Recorded transaction ids belong to the recorded CSMS; a live CSMS assigns its own in
StartTransaction.conf. Sending the stale ones would stop or meter someone else's transaction, so
:class:`TransactionIds` learns ``recorded -> live`` from each live StartTransaction.conf and
:func:`rewrite_payload` puts the live id into every later MeterValues, StopTransaction,
RemoteStopTransaction and SetChargingProfile TxProfile. Payload times are shifted by one fixed
offset (the first recorded frame becomes "now"), so relative offsets are kept.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

TIME_KEYS = frozenset({
    "timestamp", "currentTime", "expiryDate", "startSchedule", "validFrom", "validTo",
    "retrieveDate", "startTime", "stopTime",
})
"""Payload keys holding an OCPP dateTime (1.6 schemas); shifted on replay, ignored by the diff."""

_FRACTION = re.compile(r"\.(\d+)")


class TransactionIds:
    """``recorded transactionId -> live transactionId`` for one replay (all charge points)."""

    def __init__(self) -> None:
        self.live_by_recorded: dict[int, int] = {}

    def learn(self, recorded_reply: dict[str, Any] | None, live_reply: Any) -> None:
        """Record the pair from a recorded and a live StartTransaction.conf."""
        if not isinstance(recorded_reply, dict) or not isinstance(live_reply, dict):
            return
        recorded, live = recorded_reply.get("transactionId"), live_reply.get("transactionId")
        if isinstance(recorded, int) and isinstance(live, int):
            self.live_by_recorded[recorded] = live

    def live(self, recorded: Any) -> Any:
        """The live id of a recorded one (the recorded id itself when none was learnt)."""
        if isinstance(recorded, int):
            return self.live_by_recorded.get(recorded, recorded)
        return recorded


def map_transaction_ids(action: str | None, payload: dict[str, Any], ids: TransactionIds) -> None:
    """Replace recorded transaction ids in ``payload`` (a request of ``action``) in place."""
    if action in ("MeterValues", "StopTransaction", "RemoteStopTransaction") and "transactionId" in payload:
        payload["transactionId"] = ids.live(payload["transactionId"])
    elif action == "SetChargingProfile":
        profile = payload.get("csChargingProfiles")
        if isinstance(profile, dict) and "transactionId" in profile:
            profile["transactionId"] = ids.live(profile["transactionId"])


_PLAIN_SUFFIX = re.compile(r"(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)?")


def shift_time_text(text: str, shift: dt.timedelta) -> str:
    """An ISO 8601 time moved by ``shift``, written with the same fraction digits and zone style
    (``Z`` or an offset); text that is not a time is returned unchanged."""
    if (not shift.microseconds and len(text) >= 19 and _PLAIN_SUFFIX.fullmatch(text, 19)
            and not text.endswith("-00:00")):
        # The replay's case (its shift is whole seconds): only the date and time of day change; the
        # fraction and the zone are kept as written. Same result as below at a third of the cost.
        try:
            moved = dt.datetime.fromisoformat(text[:19]) + shift
        except (ValueError, OverflowError):  # (the general path decides)
            moved = None
        if moved is not None and moved.year >= 1000:
            return moved.isoformat() + text[19:]
    return shifted_time_text_general(text, shift)


def shifted_time_text_general(text: str, shift: dt.timedelta) -> str:
    """:func:`shift_time_text` for any ISO 8601 time and any shift (the reference of its fast path)."""
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    try:
        moved = when + shift
    except OverflowError:  # beyond year 1 or 9999: a time that cannot be moved is sent as recorded
        return text
    match = _FRACTION.search(text)
    digits = len(match.group(1)) if match else 0
    if moved.year >= 1000:  # isoformat: the same text as strftime here, at a fraction of its cost
        base = moved.replace(tzinfo=None, microsecond=0).isoformat()
    else:  # strftime does not pad such years to four digits; kept as it was
        base = moved.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        base += "." + f"{moved.microsecond:06d}"[:digits].ljust(digits, "0")
    if when.tzinfo is None:
        return base
    if text.endswith("Z"):
        return base + "Z"
    zone = moved.strftime("%z")
    return base + zone[:3] + ":" + zone[3:]


def copy_json(node: Any, shift: dt.timedelta | None = None) -> Any:
    """A copy of a JSON value (dicts, lists, scalars), with every dateTime under a
    :data:`TIME_KEYS` key moved by ``shift`` (None: unchanged). One pass, no ``copy.deepcopy``:
    this runs for every frame the replayer sends."""
    if isinstance(node, dict):
        if shift is None:
            return {key: copy_json(value) for key, value in node.items()}
        return {key: (shift_time_text(value, shift) if key in TIME_KEYS and isinstance(value, str)
                      else copy_json(value, shift)) for key, value in node.items()}
    if isinstance(node, list):
        return [copy_json(item, shift) for item in node]
    return node  # str, int, float, bool, None: immutable


_SCALARS = frozenset({str, int, float, bool, type(None)})


def shifted_json(node: Any, shift: dt.timedelta | None) -> Any:
    """``node`` with every dateTime under a :data:`TIME_KEYS` key moved by ``shift``, copying only
    the dicts and lists on the way to a moved time: whatever holds none is the recorded object
    itself, shared (so never mutate the result). Runs for every frame the replayer sends; a full
    copy (:func:`copy_json`) of e.g. a MeterValues with its sampled values cost more than the rest
    of the send."""
    if shift is None:
        return node
    if isinstance(node, dict):
        out = None
        for key, value in node.items():
            kind = type(value)  # exact types first (what json.loads makes): cheaper than isinstance
            if kind is str:
                if key not in TIME_KEYS:
                    continue
                moved = shift_time_text(value, shift)
            elif kind is dict or kind is list:
                moved = shifted_json(value, shift)
            elif kind in _SCALARS:
                continue
            elif key in TIME_KEYS and isinstance(value, str):  # subclasses, from plans built in code
                moved = shift_time_text(value, shift)
            elif isinstance(value, (dict, list)):
                moved = shifted_json(value, shift)
            else:
                continue
            if moved is not value:
                if out is None:
                    out = dict(node)
                out[key] = moved
        return node if out is None else out
    if isinstance(node, list):
        items = None
        for i, value in enumerate(node):
            kind = type(value)
            if kind is dict or kind is list or (kind not in _SCALARS and isinstance(value, (dict, list))):
                moved = shifted_json(value, shift)
                if moved is not value:
                    if items is None:
                        items = list(node)
                    items[i] = moved
        return node if items is None else items
    return node


def _with_live_transaction_ids(action: str | None, payload: dict[str, Any], ids: TransactionIds) -> dict[str, Any]:
    """``payload`` with its recorded transaction ids mapped (:func:`map_transaction_ids`), copying
    only the dicts it changes: ``payload`` itself is left as it is."""
    if action in ("MeterValues", "StopTransaction", "RemoteStopTransaction") and "transactionId" in payload:
        live = ids.live(payload["transactionId"])
        if live is not payload["transactionId"]:
            payload = {**payload, "transactionId": live}
    elif action == "SetChargingProfile":
        profile = payload.get("csChargingProfiles")
        if isinstance(profile, dict) and "transactionId" in profile:
            live_profile = {**profile, "transactionId": ids.live(profile["transactionId"])}
            payload = {**payload, "csChargingProfiles": live_profile}
    return payload


class Rewriter:
    """What the engine applies to every recorded payload before it goes on the wire.

    ``time_shift``: added to payload times (None keeps them as recorded). ``map_transactions``:
    False sends the recorded transaction ids unchanged (only to show why that is wrong).
    """

    def __init__(self, time_shift: dt.timedelta | None, map_transactions: bool = True) -> None:
        self.time_shift = time_shift
        self.map_transactions = map_transactions
        self.transactions = TransactionIds()

    # The three below return the recorded payload rewritten, sharing what they do not change with
    # it (the plan's payloads are never mutated; do not mutate what they return either).

    def request(self, action: str | None, payload: dict[str, Any] | None) -> dict[str, Any]:
        """A recorded request payload, ready to send."""
        out = shifted_json(payload, self.time_shift) if payload is not None else {}
        if self.map_transactions:
            out = _with_live_transaction_ids(action, out, self.transactions)
        return out

    def answer(self, payload: dict[str, Any] | None) -> dict[str, Any]:
        """A recorded answer to the peer, ready to send (times shifted)."""
        return shifted_json(payload, self.time_shift) if payload is not None else {}

    def expected(self, action: str | None, payload: dict[str, Any] | None) -> dict[str, Any]:
        """A recorded peer request as the live peer should send it (its transaction ids mapped)."""
        out = payload if payload is not None else {}
        if self.map_transactions:
            out = _with_live_transaction_ids(action, out, self.transactions)
        return out
