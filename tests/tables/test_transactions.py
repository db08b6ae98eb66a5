"""transactions: sessions with energy three ways, status durations and completeness."""

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.scenarios import Faults, Script, Session, add_session, clean_day, samples
from workbench.analysis import Capture
from workbench.tables.transactions import COLUMNS, build_transactions
from workbench.testing import charger_records, exchange, iso_at


def test_columns_and_dtypes_follow_the_documentation():
    script, _ = clean_day(sessions=1)
    table = script.capture().transactions
    assert list(table.columns) == list(COLUMNS)
    for name, (dtype, _unit, _meaning) in COLUMNS.items():
        assert str(table[name].dtype) == dtype, name


def test_energy_three_ways_against_the_truth():
    script, truth = clean_day(sessions=4, connectors=2)
    table = script.capture().transactions
    assert table["completeness"].tolist() == ["complete"] * 4
    by_id = table.set_index("transaction_id")
    for session in truth:
        row = by_id.loc[session["transaction_id"]]
        assert row["meter_start_wh"] == session["meter_start"]
        assert abs(row["energy_wh"] - session["energy_wh"]) <= 1.0
        assert abs(row["energy_register_wh"] - session["energy_wh"]) <= 1.0
        assert abs(row["energy_integrated_wh"] - session["energy_wh"]) <= row["energy_tolerance_wh"]
        assert row["max_power_w"] > 0 and row["sample_interval_s"] == 60.0
    first = by_id.loc[100]
    # Charging from start + 0.5 s to the stop, minus 300 s of SuspendedEV (status times, in seconds).
    assert first["suspended_ev_s"] == pytest.approx(300.0)
    assert first["charging_s"] == pytest.approx(3000.0 - 0.5 - 300.0)
    assert first["suspended_evse_s"] == 0.0
    assert first["stop_reason"] == "Local" and first["id_tag"] == "TAG1" and first["id_tag_status"] == "Accepted"


def test_integration_uses_current_times_voltage_without_power():
    script = Script("CP1")
    script.boot(0)
    session = Session(connector=1, transaction_id=9, plug_t=20, charge_s=1800, power_w=6900.0, suspend=None)
    # Replace the sampled values with I x U only: drop the power entries after generating.
    add_session(script, session, 5000)
    for i, (t, direction, message) in enumerate(script.entries):
        if direction == "up" and message[2] == "MeterValues":
            values = message[3]["meterValue"][0]["sampledValue"]
            message[3]["meterValue"][0]["sampledValue"] = [v for v in values
                                                           if v["measurand"] != "Power.Active.Import"]
    row = script.capture().transactions.iloc[0]
    assert row["energy_wh"] == 3450.0
    assert abs(row["energy_integrated_wh"] - 3450.0) < 1.0
    assert row["max_power_w"] == pytest.approx(6900.0, rel=1e-3)


def test_kwh_units_are_normalised():
    script = Script("CP1")
    session = Session(connector=1, transaction_id=3, plug_t=10, charge_s=600, power_w=6000.0, suspend=None)
    add_session(script, session, 10000)
    for t, direction, message in script.entries:
        if direction == "up" and message[2] == "MeterValues":
            for value in message[3]["meterValue"][0]["sampledValue"]:
                if value["measurand"] == "Energy.Active.Import.Register":
                    value["value"] = f"{float(value['value']) / 1000:.3f}"
                    value["unit"] = "kWh"
    row = script.capture().transactions.iloc[0]
    assert row["energy_register_wh"] == pytest.approx(1000.0, abs=1.0)


def test_open_orphan_and_pre_capture_sessions():
    script = Script("CP1")
    # Stopped before any start in the capture: it started before the capture.
    script.stop(5, 41, 900, None)
    script.start_tx(10, 1, 42, 1000)
    script.stop(100, 77, 2000, None)  # unknown id after a start was seen
    table = script.capture().transactions
    by_id = table.set_index("transaction_id")
    assert by_id.loc[41, "completeness"] == "started_before_capture"
    assert by_id.loc[42, "completeness"] == "open_at_end"
    assert by_id.loc[77, "completeness"] == "stop_without_start"
    assert pd.isna(by_id.loc[42, "stop_ts"]) and pd.isna(by_id.loc[41, "start_ts"])
    assert table["ts"].notna().all()


def test_reused_transaction_id_pairs_each_stop_with_the_latest_start():
    script = Script("CP1")
    script.start_tx(10, 1, 5, 100)
    script.stop(50, 5, 200, None)
    script.start_tx(60, 1, 5, 200)
    script.stop(90, 5, 260, None)
    table = script.capture().transactions
    assert table["energy_wh"].tolist() == [100.0, 60.0]
    assert table["completeness"].tolist() == ["complete", "complete"]


def test_unanswered_start_has_no_transaction_id():
    script = exchange(1, "s", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 5,
                                                   "timestamp": iso_at(1)})[:1]
    table = Capture.from_records(charger_records("CP1", script)).transactions
    assert len(table) == 1 and pd.isna(table["transaction_id"].iloc[0])
    assert table["completeness"].iloc[0] == "open_at_end"


def test_faults_leave_the_table_buildable():
    script, _ = clean_day(sessions=2, faults={0: Faults(kwh_as_wh_from=5, register_drop_at=8, skip_samples=(3,)),
                                              1: Faults(unknown_tx_in_meter=True, begin_in_periodic=True)})
    table = script.capture().transactions
    assert len(table) == 2
    assert table["energy_wh"].notna().all()


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**65, 2**65), st.floats(), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=2), st.dictionaries(st.text(max_size=4), inner, max_size=2)),
    max_leaves=4)
start_payloads = st.fixed_dictionaries({}, optional={
    "connectorId": st.one_of(json_values, st.integers(0, 2)), "meterStart": st.one_of(json_values, st.integers()),
    "timestamp": st.one_of(json_values, st.just("2025-01-06T08:00:00Z")), "idTag": json_values})
stop_payloads = st.fixed_dictionaries({}, optional={
    "transactionId": st.one_of(json_values, st.integers(0, 3)), "meterStop": json_values,
    "timestamp": st.one_of(json_values, st.just("2025-01-06T09:00:00Z")), "reason": json_values,
    "transactionData": st.one_of(json_values, st.just([{"timestamp": "2025-01-06T08:30:00Z",
                                                         "sampledValue": [{"value": "5"}]}]))})
replies = st.one_of(json_values, st.fixed_dictionaries({"transactionId": st.one_of(json_values, st.integers(0, 3))}))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(start_payloads, replies, stop_payloads), min_size=1, max_size=3))
def test_arbitrary_start_stop_payloads_never_raise(sessions):
    script = []
    for i, (start, reply, stop) in enumerate(sessions):
        script.append((i * 100, "up", [2, f"a{i}", "StartTransaction", start]))
        script.append((i * 100 + 1, "down", [3, f"a{i}", reply]))
        script += exchange(i * 100 + 50, f"b{i}", "StopTransaction", stop)
        script += exchange(i * 100 + 20, f"c{i}", "MeterValues", {
            "connectorId": 1, "transactionId": i, "meterValue": [
                {"timestamp": "2025-01-06T08:00:00Z", "sampledValue": samples(1000 + i, 7000.0)}]})
    cap = Capture.from_records(charger_records("CP1", script))
    table = build_transactions(cap.frames, cap.meter_values, cap.status)
    assert list(table.columns) == list(COLUMNS)
    assert set(table["completeness"].dropna()) <= {"complete", "open_at_end", "started_before_capture",
                                                   "stop_without_start"}


def test_synthetic_fleet_energy_matches_the_truth(tmp_path):
    from workbench.analysis import load
    from workbench.lab.synth import generate
    from workbench.lab.truth import read_truth

    result = generate(tmp_path / "fleet.ocpp.jsonl", chargers=3, days=1, seed=11)
    sessions = read_truth(result.truth_path).sessions
    table = load(result.path).transactions.set_index(["charge_point_id", "transaction_id"])
    assert len(sessions) > 0 and len(table) == len(sessions)
    for session in sessions:
        row = table.loc[(session.charge_point_id, session.transaction_id)]
        assert abs(row["energy_wh"] - session.energy_wh) <= 1.0
        assert abs(row["energy_register_wh"] - session.energy_wh) <= 1.0
        assert abs(row["energy_integrated_wh"] - session.energy_wh) <= row["energy_tolerance_wh"]


def test_open_session_takes_its_samples_by_transaction_id_whatever_their_clock():
    # The charger's clock is a day behind: only the transactionId ties these samples to the session,
    # which is still open at the end of the capture.
    script = Script("CP1")
    script.start_tx(10, 1, 42, 1000)
    script.meter(70, 1, 42, samples(1500, 7000.0), sample_t=70 - 86400)
    script.meter(130, 1, 42, samples(2000, 7000.0), sample_t=130 - 86400)
    row = script.capture().transactions.set_index("transaction_id").loc[42]
    assert row["completeness"] == "open_at_end"
    assert row["energy_register_wh"] == 500.0
    assert row["max_power_w"] == pytest.approx(7000.0)
