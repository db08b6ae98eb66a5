"""The fast decoder gives exactly what json.loads gives, including on what orjson refuses."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workbench import jsonfast
from workbench.tables.frames import build_frames


@pytest.mark.parametrize("text", ['[2,"1","MeterValues",{"v":NaN}]', '{"a":"\\ud800"}', "[1e400]",
                                  ' [3,"1",{}] ', "[18446744073709551615]", "[-9223372036854775808]"])
def test_what_orjson_refuses_is_decoded_as_json_loads_does(text: str) -> None:
    assert repr(jsonfast.loads(text)) == repr(json.loads(text))


def test_integers_beyond_64_bits_become_floats_as_documented() -> None:
    assert jsonfast.loads("[123456789012345678901234567890]") == [1.2345678901234568e29]


def test_invalid_json_still_raises_value_error() -> None:
    with pytest.raises(ValueError):
        jsonfast.loads("{nope")


def test_a_frame_orjson_refuses_is_still_a_valid_call_row() -> None:
    text = '[2,"1","DataTransfer",{"vendorId":"X","data":"\\udc80"}]'
    frames = build_frames([{"type": "frame", "ts": "2026-01-01T00:00:00.000000Z", "connection_id": "c",
                            "direction": "charger_to_csms", "text": text}])
    assert frames.loc[0, "message_type"] == "CALL"
    assert frames.loc[0, "raw"] == text
    # A lone surrogate is spelled as an escape in the payload, as in every str column (Arrow cannot hold it).
    assert frames.loc[0, "payload"] == {"vendorId": "X", "data": "\\udc80"}


@given(st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=4),
                    max_leaves=15))
def test_any_json_value_round_trips_like_json_loads(value: object) -> None:
    text = json.dumps(value)
    assert repr(jsonfast.loads(text)) == repr(json.loads(text))
