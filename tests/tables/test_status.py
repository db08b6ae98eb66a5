"""status: transitions with §4.9 codes, first status after boot or reconnect, time in state."""

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.analysis import Capture
from workbench.tables.status import COLUMNS, build_status
from workbench.testing import charger_records, exchange, iso_at, merge_records


def status(t, connector, value, uid, **extra):
    payload = {"connectorId": connector, "errorCode": "NoError", "status": value, "timestamp": iso_at(t), **extra}
    return exchange(t, uid, "StatusNotification", payload)


def boot(t, uid):
    return exchange(t, uid, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"},
                    {"status": "Accepted", "currentTime": iso_at(t), "interval": 300})


def table_of(*records_lists):
    return Capture.from_records(merge_records(*records_lists)).status


def test_columns_and_dtypes_follow_the_documentation():
    table = table_of(charger_records("CP1", status(1, 1, "Available", "a")))
    assert list(table.columns) == list(COLUMNS)
    for name, (dtype, _unit, _meaning) in COLUMNS.items():
        assert str(table[name].dtype) == dtype, name


def test_transitions_codes_and_time_in_state():
    script = (boot(0, "b") + status(1, 1, "Available", "s1") + status(11, 1, "Preparing", "s2")
              + status(13, 1, "Charging", "s3") + status(20, 1, "Charging", "s4", info="again")
              + status(50, 1, "Reserved", "s5") + status(60, 0, "Available", "s6"))
    table = table_of(charger_records("CP1", script))
    one = table[table["connector_id"] == 1]
    assert one["previous_status"].tolist()[1:] == ["Available", "Preparing", "Charging", "Charging"]
    assert pd.isna(one["previous_status"].iloc[0])
    assert one["transition"].tolist()[1:3] == ["A2", "B3"]
    assert pd.isna(one["transition"].iloc[3])  # a repeat is no transition
    assert one["transition"].iloc[4] == "C7"
    assert one["allowed"].tolist()[1:] == [True, True, True, False]
    assert pd.isna(one["allowed"].iloc[0])
    assert one["time_in_state_s"].tolist()[:4] == [10.0, 2.0, 7.0, 30.0]
    assert pd.isna(one["time_in_state_s"].iloc[4])
    assert one["first_after_boot"].tolist() == [True, False, False, False, False]
    zero = table[table["connector_id"] == 0].iloc[0]
    assert bool(zero["allowed"]) is True and pd.isna(zero["transition"])


def test_first_status_after_boot_and_after_reconnect():
    first = charger_records("CP1", boot(0, "b1") + status(1, 1, "Charging", "s1"), connection_id="c1",
                            close_at_s=5)
    second = charger_records("CP1", status(10, 1, "Finishing", "s2") + status(12, 1, "Available", "s3"),
                             connection_id="c2", close_at_s=15)
    third = charger_records("CP1", boot(20, "b2") + status(21, 1, "Faulted", "s4"), connection_id="c3")
    table = table_of(first, second, third)
    assert table["first_after_boot"].tolist() == [True, True, False, True]
    assert table["transition"].fillna("-").tolist() == ["-", "C6", "F1", "A9"]


def test_missing_and_unreadable_timestamps_fall_back_to_capture_time():
    script = (exchange(5, "a", "StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                                      "status": "Available"})
              + exchange(6, "b", "StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                                        "status": "Available", "timestamp": "soon"})
              + exchange(7, "c", "StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                                        "status": "Available", "timestamp": "2025-01-06T08:00:07"}))
    table = table_of(charger_records("CP1", script))
    assert table["ts_from_payload"].tolist() == [False, False, True]
    assert (table["ts"].iloc[:2] == table["capture_ts"].iloc[:2]).all()
    assert pd.isna(table["problem"].iloc[0]) and "unreadable" in table["problem"].iloc[1]
    assert table["ts_naive"].tolist() == [False, False, True]


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=2), st.dictionaries(st.text(max_size=4), inner, max_size=2)),
    max_leaves=4)
status_payloads = st.fixed_dictionaries({}, optional={
    "connectorId": st.one_of(json_values, st.integers(0, 3)),
    "status": st.one_of(json_values, st.sampled_from(["Available", "Charging", "SuspendedEV", "Reserved"])),
    "errorCode": json_values, "timestamp": st.one_of(json_values, st.just("2025-01-06T08:00:00Z")),
    "info": json_values,
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(status_payloads, min_size=1, max_size=5))
def test_arbitrary_status_payloads_never_raise(payloads):
    script = []
    for i, payload in enumerate(payloads):
        script += exchange(i * 10, f"u{i}", "StatusNotification", payload)
    frames = Capture.from_records(charger_records("CP1", script)).frames
    table = build_status(frames)
    assert len(table) == len(payloads)
    assert table["ts"].notna().all()
