"""The OCPP-J envelope: every shape classified, nothing raises."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workbench.ocppj import MessageKind, call, call_error, call_result, canonical_error_code, parse_frame


def test_three_message_types() -> None:
    c = parse_frame(call("42", "Heartbeat", {}))
    assert (c.kind, c.unique_id, c.action, c.payload) == (MessageKind.CALL, "42", "Heartbeat", {})
    r = parse_frame(call_result("42", {"currentTime": "2026-01-01T00:00:00Z"}))
    assert (r.kind, r.unique_id, r.payload["currentTime"]) == (MessageKind.CALLRESULT, "42", "2026-01-01T00:00:00Z")
    e = parse_frame(call_error("42", "NotSupported", "no", {"a": 1}))
    assert (e.kind, e.error_code, e.error_description, e.payload) == (MessageKind.CALLERROR, "NotSupported", "no", {"a": 1})
    assert c.parse_error is None and r.parse_error is None and e.parse_error is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json", "invalid JSON"),
        ('{"a":1}', "not a JSON array"),
        ("[]", "not a JSON array"),
        ('[2,1,"Heartbeat",{}]', "message id must be a string"),
        ('[2,"1","Heartbeat"]', "CALL must have 4 elements"),
        ('[2,"1",7,{}]', "action is not a string"),
        ('[2,"1","Heartbeat",null]', "payload is not a JSON object"),
        ('[3,"1"]', "CALLRESULT must have 3 elements"),
        ('[4,"1","GenericError",""]', "CALLERROR must have 5 elements"),
        ('[9,"1",{}]', "unknown message type 9"),
        ('[true,"1",{}]', "unknown message type True"),
    ],
)
def test_malformed_frames_become_invalid_with_a_reason(text: str, fragment: str) -> None:
    parsed = parse_frame(text)
    assert parsed.kind is MessageKind.INVALID
    assert fragment in parsed.parse_error


def test_binary_frame_is_invalid_not_an_exception() -> None:
    assert parse_frame(None).kind is MessageKind.INVALID


def test_both_error_code_spellings_are_accepted() -> None:
    assert canonical_error_code("FormationViolation") == "FormationViolation"
    assert canonical_error_code("FormatViolation") == "FormationViolation"
    assert canonical_error_code("OccurrenceConstraintViolation") == "OccurenceConstraintViolation"
    assert canonical_error_code("MessageTypeNotSupported") is None


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(), inner, max_size=4),
                    max_leaves=20))
def test_no_json_value_makes_the_parser_raise(value: object) -> None:
    parsed = parse_frame(json.dumps(value))
    assert parsed.kind in set(MessageKind)
    assert (parsed.parse_error is None) == (parsed.kind is not MessageKind.INVALID)


@given(st.text(max_size=200))
def test_no_text_makes_the_parser_raise(text: str) -> None:
    assert parse_frame(text).kind in set(MessageKind)
