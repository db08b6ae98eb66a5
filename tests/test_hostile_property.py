"""Property: no frame of any hostile kind, in any mix, takes down a table or a check (issue 10, section 1).

Generated scripts mix valid OCPP traffic with frames nested beyond any limit, lone surrogate escapes,
integers beyond 64 bits, NaN/Infinity, frames of megabytes, repeated message ids and floods of CALLs
nobody answers. Every table must build, every check must run (no "crashed" finding), and every table
must convert to Parquet as ``analyze --out`` writes it.
"""

from __future__ import annotations

import io
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench import jsonfast
from workbench.analysis import Capture
from workbench.checks.registry import crashed
from workbench.commands.analyze import parquet_ready
from workbench.testing import charger_records, iso_at, merge_records

ACTIONS = ["MeterValues", "StartTransaction", "StopTransaction", "StatusNotification", "BootNotification",
           "Heartbeat", "DataTransfer", "SetChargingProfile", "Authorize", "NotAnAction"]
IDS = st.sampled_from(["a", "b", "c", "dup", "\udc80"]) | st.text(max_size=40)  # ids repeat often

huge_ints = st.sampled_from([2**53 + 1, 2**63 - 1, 2**63, 2**64 + 1, -(2**63) - 1, 10**30, -(10**40)])
hostile_texts = (st.sampled_from(["\udc80", "W\ud800h", "Energy.Active.Import.Register", "Charging", "Wh", "kW",
                                  "Transaction.Begin", "Sample.Periodic", ""])
                 | st.builds(lambda a, b: a + "\udfff" + b, st.text(max_size=4), st.text(max_size=4))
                 | st.text(max_size=12))
hostile_numbers = (st.integers(-(2**70), 2**70) | huge_ints | st.floats(allow_nan=True, allow_infinity=True)
                   | st.sampled_from([0, 1, -1, 7]))
scalars = hostile_numbers | hostile_texts | st.none() | st.booleans()
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_texts, inner, max_size=3),
                      max_leaves=6)


def timestamps(t_s: float) -> st.SearchStrategy[Any]:
    return st.sampled_from([iso_at(t_s), iso_at(t_s), "9999-12-31T23:59:59Z", "0001-01-01T00:00:00", "nope"]) | values


@st.composite
def sampled_value(draw: st.DrawFn) -> dict[str, Any]:
    sample = {"value": draw(st.sampled_from(["12.5", "1e400", "NaN", "-3"]) | values)}
    for key in ("measurand", "unit", "context", "phase", "location", "format"):
        if draw(st.booleans()):
            sample[key] = draw(hostile_texts | values)
    return sample


@st.composite
def payload(draw: st.DrawFn, action: str, t_s: float) -> dict[str, Any]:
    number = hostile_numbers | st.sampled_from([1, 2, 1001])
    if action in ("MeterValues", "StopTransaction"):
        elements = draw(st.lists(st.fixed_dictionaries({"timestamp": timestamps(t_s),
                                                        "sampledValue": st.lists(sampled_value(), max_size=3)}),
                                 max_size=2))
        if action == "MeterValues":
            return {"connectorId": draw(number), "transactionId": draw(number), "meterValue": elements}
        return {"transactionId": draw(number), "meterStop": draw(number), "timestamp": draw(timestamps(t_s)),
                "reason": draw(hostile_texts), "transactionData": elements}
    if action == "StartTransaction":
        return {"connectorId": draw(number), "idTag": draw(hostile_texts), "meterStart": draw(number),
                "timestamp": draw(timestamps(t_s))}
    if action == "StatusNotification":
        return {"connectorId": draw(number), "errorCode": draw(hostile_texts), "status": draw(hostile_texts),
                "timestamp": draw(timestamps(t_s))}
    if action == "SetChargingProfile":
        return {"connectorId": draw(number), "csChargingProfiles": draw(values)}
    return draw(st.dictionaries(hostile_texts, values, max_size=3))


NESTINGS = {'{"a":': ("null", "}"), "[": ("", "]"), '[{"b":': ("null", "}]")}  # opener: (innermost, closer)


def nested(levels: int, opener: str) -> str:
    innermost, closer = NESTINGS[opener]
    return '[2,"deep","Heartbeat",{"a":' + opener * levels + innermost + closer * levels + "}]"


@st.composite
def items(draw: st.DrawFn, t_s: float) -> list[tuple[float, str, Any]]:
    """One step of the script: a frame, or a flood of them."""
    kind = draw(st.sampled_from(["call", "call", "reply", "error", "deep", "raw", "flood", "huge"]))
    direction = draw(st.sampled_from(["up", "up", "down"]))
    if kind == "call":
        action = draw(st.sampled_from(ACTIONS))
        return [(t_s, direction, [2, draw(IDS), action, draw(payload(action, t_s))])]
    if kind == "reply":
        return [(t_s, direction, [3, draw(IDS), {"transactionId": draw(hostile_numbers), "status": draw(hostile_texts),
                                                 "currentTime": draw(timestamps(t_s)), "interval": draw(hostile_numbers),
                                                 "idTagInfo": {"status": draw(hostile_texts)}}])]
    if kind == "error":
        return [(t_s, direction, [4, draw(IDS), draw(hostile_texts), draw(hostile_texts), draw(values)])]
    if kind == "deep":
        levels = draw(st.sampled_from([jsonfast.MAX_DEPTH - 3, jsonfast.MAX_DEPTH + 1, 600, 1100, 5000]))
        return [(t_s, direction, nested(levels, draw(st.sampled_from(sorted(NESTINGS)))))]
    if kind == "raw":
        return [(t_s, direction, draw(st.sampled_from([
            '[2,"n","MeterValues",{"connectorId":NaN,"transactionId":Infinity,"meterValue":[]}]',
            '[3,"a",{"transactionId":-Infinity}]', f'[{2**70},"x","Heartbeat",{{}}]',
            '[2,"x","Heartbeat",{}', "[" * 100_000, "", "null", "[]", '"\\udc80"', b"\x00\xff binary"])))]
    if kind == "flood":  # CALLs nobody answers, ids repeating
        count = draw(st.integers(20, 150))
        action = draw(st.sampled_from(ACTIONS))
        return [(t_s + i * 0.01, "up", [2, f"f{i % 7}", action, {}]) for i in range(count)]
    return [(t_s, "up", Huge(draw(st.sampled_from([1000, 5_000_000]))))]


class Huge(int):
    """A DataTransfer CALL of about this many bytes, made only when the script runs (a short repr for
    hypothesis to print)."""

    def frame(self) -> str:
        return json.dumps([2, "huge", "DataTransfer", {"vendorId": "V", "data": "x" * int(self)}])


@st.composite
def scripts(draw: st.DrawFn) -> list[tuple[float, str, Any]]:
    entries: list[tuple[float, str, Any]] = []
    t_s = 0.0
    for _ in range(draw(st.integers(1, 25))):
        t_s += draw(st.sampled_from([0.0, 0.5, 5.0, 60.0]))
        entries += draw(items(t_s))
    # As a charger sends them: UTF-8 text, lone surrogates and NaN as their JSON spelling.
    return [(t, d, m if isinstance(m, (str, bytes, Huge)) else json.dumps(m)) for t, d, m in entries]


def expanded(script: list[tuple[float, str, Any]]) -> list[tuple[float, str, Any]]:
    return [(t, d, m.frame() if isinstance(m, Huge) else m) for t, d, m in script]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scripts(), scripts())
def test_every_table_and_check_survives_hostile_frames(first: list, second: list) -> None:
    cap = Capture.from_records(merge_records(charger_records("CP1", expanded(first)),
                                             charger_records("CP2", expanded(second))))
    tables = cap.tables()  # raises if a table cannot be built
    findings = tables["findings"]
    assert not crashed(findings).any(), findings[crashed(findings)]["message"].tolist()
    assert len(tables["frames"]) == len(first) + len(second)
    for name, table in tables.items():
        parquet_ready(table).to_parquet(io.BytesIO(), index=False)
