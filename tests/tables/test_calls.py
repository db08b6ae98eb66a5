"""The calls table: requests paired with replies per connection and direction, with outcomes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.tables.calls import COLUMNS, OUTCOMES, build_calls
from workbench.tables.frames import build_frames
from workbench.testing import call, charger_records, clean_session_script, error, merge_records, result


def _calls(*record_lists) -> pd.DataFrame:
    return build_calls(build_frames(merge_records(*record_lists)))


def test_columns_and_dtypes_match_the_documented_schema() -> None:
    calls = _calls(charger_records("CP1", clean_session_script()))
    assert list(calls.columns) == list(COLUMNS)
    for name, (dtype, _unit, _meaning) in COLUMNS.items():
        assert str(calls[name].dtype) == dtype, name
    assert set(calls["outcome"]) == {"answered"}
    assert np.allclose(calls["latency_s"], 0.05)


def test_every_outcome() -> None:
    script = [
        (0, "up", call("a", "Heartbeat", {})),
        (1.5, "down", result("a", {"currentTime": "2025-01-06T08:00:01Z"})),
        (2, "up", call("b", "Authorize", {"idTag": "T"})),
        (2.5, "down", error("b", "InternalError")),
        (3, "up", call("c", "Heartbeat", {})),
        (4, "down", result("nobody", {})),
        (5, "up", call("a", "Heartbeat", {})),
        (5.2, "down", result("a", {"currentTime": "2025-01-06T08:00:05Z"})),
    ]
    calls = _calls(charger_records("CP1", script))
    assert calls["outcome"].tolist() == ["answered", "error", "unanswered", "reply_without_request", "duplicate_id"]
    assert set(calls["outcome"]) <= set(OUTCOMES)
    first, err, pending, orphan, dup = (calls.iloc[i] for i in range(5))
    assert first["latency_s"] == 1.5 and first["request_seq"] == 0 and first["reply_seq"] == 1
    assert first["response"] == {"currentTime": "2025-01-06T08:00:01Z"}
    assert err["error_code"] == "InternalError"
    assert pd.isna(pending["reply_seq"]) and pd.isna(pending["reply_ts"]) and np.isnan(pending["latency_s"])
    assert pending["response"] is None
    # A reply without request: ts is the reply's, direction is the (missing) request's, no latency.
    assert orphan["direction"] == "charger_to_csms" and pd.isna(orphan["request_seq"]) and orphan["reply_seq"] == 5
    assert orphan["ts"] == orphan["reply_ts"] and np.isnan(orphan["latency_s"]) and orphan["request"] is None
    assert dup["reply_seq"] == 7


def test_replies_pair_within_their_connection_only() -> None:
    one = charger_records("CP1", [(0, "up", call("x", "Heartbeat", {}))], connection_id="c1")
    two = charger_records("CP2", [(1, "down", result("x", {"currentTime": "2025-01-06T08:00:01Z"}))],
                          connection_id="c2")
    calls = _calls(one, two)
    assert calls["outcome"].tolist() == ["unanswered", "reply_without_request"]
    assert calls["charge_point_id"].tolist() == ["CP1", "CP2"]


def test_crossing_calls_from_both_sides_pair_correctly() -> None:
    script = [
        (0, "up", call("1", "Heartbeat", {})),
        (0.1, "down", call("1", "Reset", {"type": "Soft"})),
        (0.2, "up", result("1", {"status": "Accepted"})),
        (0.3, "down", result("1", {"currentTime": "2025-01-06T08:00:00Z"})),
    ]
    calls = _calls(charger_records("CP1", script))
    assert calls["action"].tolist() == ["Heartbeat", "Reset"]
    assert calls["direction"].tolist() == ["charger_to_csms", "csms_to_charger"]
    assert calls["reply_seq"].tolist() == [3, 2]
    assert calls["outcome"].tolist() == ["answered", "answered"]


def test_empty_and_invalid_only_inputs() -> None:
    assert len(build_calls(build_frames([]))) == 0
    calls = _calls(charger_records("CP1", [(0, "up", "garbage"), (1, "down", b"\x01")]))
    assert len(calls) == 0 and list(calls.columns) == list(COLUMNS)
