"""Which OCPP version a foreign trace is: what it states (``ocppVersion`` fields, subprotocols), else
what its actions say. The workbench analyses OCPP 1.6; a 2.0.1 trace is imported whole (nothing is
lost) and reported in one line, not run through 1.6 schemas as a cascade of errors."""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

from ocpp.v16.enums import Action as Action16
from ocpp.v201.enums import Action as Action201

from ...ocppj import MessageKind

ONLY_16 = frozenset(a.value for a in Action16) - frozenset(a.value for a in Action201)
ONLY_201 = frozenset(a.value for a in Action201) - frozenset(a.value for a in Action16)
ANALYSED = "1.6"
NOT_ANALYSED = "OCPP {version}, not analysed"


def trace_version(parsed: list[Any], stated: Counter[str]) -> tuple[str, str]:
    """(version, why): the version the trace states most often, else the one its CALLs vote for
    (actions of one version only; a BootNotification's payload shape), else 1.6."""
    calls = [(message.action, message.payload) for message in parsed
             if message is not None and message.kind is MessageKind.CALL]
    return votes_version(calls, stated)


def votes_version(calls: Iterable[tuple[str | None, Any]], stated: Counter[str]) -> tuple[str, str]:
    """:func:`trace_version` from the (action, payload) of each CALL."""
    if stated:
        version, count = stated.most_common(1)[0]
        return version, f"stated {count} times"
    votes: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for action, payload in calls:
        version = "2.0.1" if action in ONLY_201 else "1.6" if action in ONLY_16 else None
        if action == "BootNotification" and isinstance(payload, dict):
            version = "2.0.1" if "chargingStation" in payload else "1.6" if (
                "chargePointVendor" in payload) else None
        if version is not None:
            votes[version] += 1
            examples.setdefault(version, action)
    if votes["2.0.1"] > votes["1.6"]:
        return "2.0.1", f"{votes['2.0.1']} CALLs of 2.0.1 only, e.g. {examples['2.0.1']}; {votes['1.6']} of 1.6 only"
    return ANALYSED, "1.6 actions"
