"""meter_values: one row per SampledValue, spec defaults, units, bad values as NaN + problem."""

import json
import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.analysis import Capture
from workbench.schemas import SCHEMA_DIR, schema_validator
from workbench.tables import meter_values as meter_values_module
from workbench.tables.meter_values import COLUMNS, build_meter_values
from workbench.testing import charger_records, exchange, iso_at


def meter_capture(sampled_values, *, timestamp=None, transaction_id=7, connector_id=1, extra=()):
    element = {"timestamp": iso_at(10) if timestamp is None else timestamp, "sampledValue": sampled_values}
    payload = {"connectorId": connector_id, "meterValue": [element]}
    if transaction_id is not None:
        payload["transactionId"] = transaction_id
    script = list(extra) + exchange(10, "m1", "MeterValues", payload)
    return Capture.from_records(charger_records("CP1", script))


def test_columns_and_dtypes_follow_the_documentation():
    table = meter_capture([{"value": "1"}]).meter_values
    assert list(table.columns) == list(COLUMNS)
    for name, (dtype, _unit, _meaning) in COLUMNS.items():
        assert str(table[name].dtype) == dtype, name


def test_bare_value_takes_the_spec_defaults():
    row = meter_capture([{"value": "1234"}]).meter_values.iloc[0]
    assert row["measurand"] == "Energy.Active.Import.Register"
    assert row["context"] == "Sample.Periodic"
    assert row["location"] == "Outlet"
    assert row["format"] == "Raw"
    assert pd.isna(row["unit"])  # as sent: absent
    assert row["unit_normalized"] == "Wh"
    assert row["value"] == 1234.0 and row["value_normalized"] == 1234.0
    assert row["source"] == "MeterValues"
    assert row["connector_id"] == 1 and row["transaction_id"] == 7
    assert row["ts"] == pd.Timestamp(iso_at(10))
    assert not row["ts_naive"] and pd.isna(row["problem"])


def test_numbers_exponents_and_kilo_units():
    table = meter_capture([
        {"value": "1.5e3", "unit": "Wh"},
        {"value": 2500, "measurand": "Energy.Active.Import.Register", "unit": "Wh"},  # JSON number (deviation)
        {"value": "12.5", "unit": "kWh"},
        {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
        {"value": "16", "measurand": "Current.Import", "phase": "L1"},
    ]).meter_values
    assert table["value"].tolist() == [1500.0, 2500.0, 12.5, 7.2, 16.0]
    assert table["value_normalized"].tolist() == [1500.0, 2500.0, 12500.0, 7200.0, 16.0]
    assert table["unit_normalized"].tolist() == ["Wh", "Wh", "Wh", "W", "A"]
    assert table["phase"].tolist()[4] == "L1"
    assert table["problem"].isna().all()


def test_bad_values_become_nan_with_a_problem():
    table = meter_capture([
        {"value": "abc"}, {"value": None}, {"value": "NaN"}, {"value": [1]}, "not a dict",
        {"value": "0xAB", "format": "SignedData"},
    ]).meter_values
    assert len(table) == 6
    assert table["value"].isna().all()
    problems = table["problem"].tolist()
    assert "not a number" in problems[0]
    assert "no value" in problems[1]
    assert "not finite" in problems[2]
    assert "list" in problems[3]
    assert "no value" in problems[4]  # a non-object sampled value is a row without value
    assert pd.isna(problems[5])  # SignedData is not a number by design


def test_timestamps_naive_and_unreadable():
    naive = meter_capture([{"value": "1"}], timestamp="2025-01-06T08:00:10").meter_values.iloc[0]
    assert naive["ts_naive"] and naive["ts"] == pd.Timestamp("2025-01-06T08:00:10Z")
    bad = meter_capture([{"value": "1"}], timestamp="yesterday").meter_values.iloc[0]
    assert pd.isna(bad["ts"]) and "unreadable timestamp" in bad["problem"]
    assert bad["value"] == 1.0  # the value survives


def test_transaction_data_gets_the_connector_of_its_start():
    script = (exchange(1, "s1", "StartTransaction", {"connectorId": 2, "idTag": "T", "meterStart": 100,
                                                     "timestamp": iso_at(1)},
                       {"transactionId": 55, "idTagInfo": {"status": "Accepted"}})
              + exchange(100, "s2", "StopTransaction", {
                  "transactionId": 55, "meterStop": 200, "timestamp": iso_at(100),
                  "transactionData": [
                      {"timestamp": iso_at(1), "sampledValue": [{"value": "100", "context": "Transaction.Begin"}]},
                      {"timestamp": iso_at(100), "sampledValue": [{"value": "200", "context": "Transaction.End"}]},
                  ]}))
    table = Capture.from_records(charger_records("CP1", script)).meter_values
    assert table["source"].tolist() == ["StopTransaction", "StopTransaction"]
    assert table["connector_id"].tolist() == [2, 2]
    assert table["transaction_id"].tolist() == [55, 55]
    assert table["meter_value_index"].tolist() == [0, 1]
    assert table["context"].tolist() == ["Transaction.Begin", "Transaction.End"]


def test_only_charger_calls_count():
    script = exchange(5, "x", "MeterValues", {"connectorId": 1, "meterValue": [
        {"timestamp": iso_at(5), "sampledValue": [{"value": "1"}]}]}, from_charger=False)
    assert len(Capture.from_records(charger_records("CP1", script)).meter_values) == 0


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                                 st.dictionaries(st.text(max_size=5), inner,
                                                                                 max_size=3)), max_leaves=6)
sampled = st.one_of(json_values, st.fixed_dictionaries({}, optional={
    "value": st.one_of(json_values, st.sampled_from(["1", "1e3", "-0", "inf", " 12 ", ""])),
    "measurand": st.one_of(json_values, st.sampled_from(["Power.Active.Import", "Voltage", "Current.Import"])),
    "unit": st.one_of(json_values, st.sampled_from(["kWh", "W", "A", "V", "Celcius"])),
    "phase": st.one_of(json_values, st.sampled_from(["L1", "L2-N"])),
    "context": json_values, "format": st.one_of(json_values, st.just("SignedData")), "location": json_values,
}))
meter_value = st.one_of(json_values, st.fixed_dictionaries({}, optional={
    "timestamp": st.one_of(json_values, st.sampled_from(["2025-01-06T08:00:00Z", "2025-01-06T08:00:00",
                                                          "2025-01-06T08:00:00+03"])),
    "sampledValue": st.one_of(json_values, st.lists(sampled, max_size=4)),
}))
payloads = st.fixed_dictionaries({}, optional={
    "connectorId": json_values, "transactionId": json_values,
    "meterValue": st.one_of(json_values, st.lists(meter_value, max_size=3)),
    "transactionData": st.one_of(json_values, st.lists(meter_value, max_size=3)),
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads, st.sampled_from(["MeterValues", "StopTransaction"]))
def test_arbitrary_payloads_never_raise(payload, action):
    script = exchange(3, "p", action, payload)
    frames = Capture.from_records(charger_records("CP1", script)).frames
    table = build_meter_values(frames)
    assert list(table.columns) == list(COLUMNS)
    # Every row either has a finite value, or is NaN with a reason (or is SignedData).
    values = table["value"].tolist()
    for value, problem, value_format in zip(values, table["problem"].tolist(), table["format"].tolist()):
        assert (not math.isnan(value)) or isinstance(problem, str) or value_format != "Raw"


# --- the shape path: frames of a known MeterValues shape are read without decoding ---------------

_TEMPLATE = [
    {"value": "0", "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
    {"value": "0", "measurand": "Power.Active.Import", "unit": "W"},
    {"value": "0", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
]
_VALUES = st.one_of(
    st.sampled_from(["12.5", "0", "-3", "1e3", "7E-2", "inf", "nan", "Infinity", "", "abc", "1_000", " 4 ", "Zürich"]),
    st.text(max_size=6), st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False),
)
_TEXT_MUTATIONS = st.sampled_from([
    None, None, None,
    ('"value":"', '"value":"\\u0031'),  # an escape
    ('"value":"', '"value":"\t'),  # a raw control character: invalid JSON
    ('"unit":"W"', '"unit":"W","value":"99"'),  # a duplicate key
    ('"context":"Sample.Periodic"', '"context":"Sample.Clock"'),
    ('"measurand":"Voltage"', '"measurand":"Voltage","format":"SignedData"'),
    ('"timestamp":"', '"timestamp":"x'),
    ('{"timestamp"', '{"extra":"1","timestamp"'),
    ('"connectorId":1', '"connectorId":2'),
    # connectorId and transactionId digits are captures too: anything but plain digits is not
    ('"connectorId":1', '"connectorId":-1'),
    ('"connectorId":1', '"connectorId":1.0'),
    ('"connectorId":1', '"connectorId":1e0'),
    ('"connectorId":1', '"connectorId":"1"'),
    ('"connectorId":1', '"connectorId":01'),
    ('"connectorId":1', '"connectorId":123456789012345678901'),
    ('"transactionId":', '"transactionId": '),
    ('"transactionId":', '"transactionId":true,"x":'),
])


@st.composite
def _meter_frames(draw):
    frames = []
    for i in range(draw(st.integers(1, 12))):
        sampled = [dict(sv, value=draw(_VALUES)) for sv in _TEMPLATE[:draw(st.integers(1, 3))]]
        element = {"timestamp": draw(st.sampled_from([iso_at(10 + i), "2025-01-06T08:00:00", "bad", ""])),
                   "sampledValue": sampled}
        elements = [element] if draw(st.booleans()) else [{"sampledValue": sampled, "timestamp": iso_at(10 + i)},
                                                          element]
        payload = {"connectorId": 1, "transactionId": draw(st.sampled_from([7, 8, 0, 10**17 + 3, 10**18])),
                   "meterValue": elements}
        if draw(st.booleans()):  # key order is part of a shape
            payload = {"meterValue": elements, **{k: v for k, v in payload.items() if k != "meterValue"}}
        text = json.dumps([2, f"m{i}", "MeterValues", payload], separators=(",", ":"), ensure_ascii=False)
        mutation = draw(_TEXT_MUTATIONS)
        if mutation is not None:
            text = text.replace(*mutation, 1)
        frames.append(text)
    return frames


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_meter_frames())
def test_shape_path_gives_what_decoding_gives(texts):
    _assert_shape_path_gives_what_decoding_gives(texts)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_meter_frames())
def test_shape_path_in_small_blocks_gives_what_decoding_gives(texts):
    # Frames of a shape are added in blocks, after frames of later rows: the table is still in row order.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(meter_values_module, "_FLUSH_FRAMES", 2)
        _assert_shape_path_gives_what_decoding_gives(texts)


def _assert_shape_path_gives_what_decoding_gives(texts):
    script = [(10 + i, "up", text) for i, text in enumerate(texts)]
    script = [entry for i, text in enumerate(texts)
              for entry in (script[i], (10.5 + i, "down", '[3,"m%d",{}]' % i))]
    cap = Capture.from_records(charger_records("CP1", script))
    frames = cap.frames
    by_decoding = build_meter_values(frames)  # decodes every payload, never uses a shape
    pd.testing.assert_frame_equal(cap.meter_values, by_decoding)
    for kind, action, payload, error in zip(frames["message_type"], frames["action"], frames["payload"],
                                            frames["schema_error"]):
        if kind == "CALL":
            assert (schema_validator(action, False).errors(payload) == []) == pd.isna(error)


def test_repeated_shapes_are_not_decoded_again():
    script = []
    for i in range(30):
        sampled = [dict(sv, value=str(1000 + i) if k == 0 else str(k)) for k, sv in enumerate(_TEMPLATE)]
        script += exchange(10 + i, f"m{i}", "MeterValues",  # three sessions on two connectors: one shape
                           {"connectorId": 1 + i % 2, "transactionId": 7 + i // 10,
                            "meterValue": [{"timestamp": iso_at(10 + i), "sampledValue": sampled}]})
    cap = Capture.from_records(charger_records("CP1", script))
    frames = cap.frames
    assert cap._meter_collector.frames_by_shape == 29  # all but the first
    table = cap.meter_values
    energy = table[table["measurand"] == "Energy.Active.Import.Register"]
    assert energy["value"].tolist() == [1000.0 + i for i in range(30)]
    assert energy["connector_id"].tolist() == [1 + i % 2 for i in range(30)]
    assert energy["transaction_id"].tolist() == [7 + i // 10 for i in range(30)]
    pd.testing.assert_frame_equal(table, build_meter_values(frames))


def test_shape_path_is_sound_only_because_these_schema_nodes_are_bare():
    # A shape's verdict carries over to frames that differ only in these strings: that holds while
    # the schema asks nothing of them but to be strings (format is not checked, as in the ocpp package).
    schema = json.loads((SCHEMA_DIR / "MeterValues.json").read_text(encoding="utf-8-sig"))
    element = schema["properties"]["meterValue"]["items"]
    assert {k: v for k, v in element["properties"]["timestamp"].items() if k != "format"} == {"type": "string"}
    assert element["properties"]["sampledValue"]["items"]["properties"]["value"] == {"type": "string"}
    # ... and connectorId and transactionId (plain digits in a shape) ask nothing but to be integers.
    assert schema["properties"]["connectorId"] == {"type": "integer"}
    assert schema["properties"]["transactionId"] == {"type": "integer"}
