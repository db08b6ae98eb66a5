"""Energy checks: each fires on its injected fault and stays silent on clean traffic."""

import pandas as pd

from checks.scenarios import Faults, Script, Session, add_session, clean_day
from workbench.checks import CheckConfig, run_checks

ENERGY_CHECKS = ["energy_register_monotonic", "energy_register_rebased", "energy_kwh_as_wh",
                 "energy_meter_start_stop", "energy_stop_below_start", "energy_integrated_mismatch",
                 "energy_begin_repeated", "meter_value_invalid"]


def with_fault(**knobs):
    script, _ = clean_day(sessions=2, faults={1: Faults(**knobs)})
    return run_checks(script.capture(), names=ENERGY_CHECKS)


def test_clean_day_is_silent():
    script, _ = clean_day(sessions=4)
    assert run_checks(script.capture(), names=ENERGY_CHECKS).empty


def test_register_drop_mid_session():
    result = with_fault(register_drop_at=10)
    assert set(result["check"]) == {"energy_register_monotonic"}
    assert result["severity"].tolist() == ["error"]
    assert result["transaction_id"].tolist() == [101]


def test_kwh_labelled_wh():
    result = with_fault(kwh_as_wh_from=10)
    assert set(result["check"]) == {"energy_kwh_as_wh"}
    assert "labelled Wh" in result["message"].iloc[0]


def test_kwh_labelled_wh_for_a_whole_session_is_found_from_power():
    script = Script()
    session = Session(transaction_id=5, plug_t=10, charge_s=1800, power_w=7000.0, suspend=None)
    add_session(script, session, 20000, Faults(kwh_as_wh_from=1))
    # Drop the transactionData so no Wh value is there to compare with.
    for t, direction, message in script.entries:
        if direction == "up" and message[2] == "StopTransaction":
            message[3].pop("transactionData")
    result = run_checks(script.capture(), names=["energy_kwh_as_wh"])
    assert len(result) >= 1 and (result["check"] == "energy_kwh_as_wh").all()


def test_meter_stop_far_from_registers():
    result = with_fault(meter_stop_offset_wh=500)
    assert set(result["check"]) == {"energy_meter_start_stop"}
    assert result["severity"].tolist() == ["warning"]
    message = result["message"].iloc[0]
    assert "between the last register sample" in message and "is more than the" in message
    assert "the reported power (at most 8,000 W) could deliver" in message


def test_energy_between_meter_start_and_the_first_sample_beyond_the_power_says_both_numbers():
    from checks.scenarios import samples
    script = Script()
    script.start_tx(9, 1, 7, 1000)  # StartTransaction at t=10
    script.meter(70, 1, 7, samples(1500, 3000, three_phase=False))
    script.meter(130, 1, 7, samples(1550, 3000, three_phase=False))
    script.stop(131, 7, 1551, None)
    result = run_checks(script.capture(), names=["energy_meter_start_stop"])
    assert result["severity"].tolist() == ["warning"]
    assert result["message"].iloc[0] == (
        "500.0 Wh between meterStart 1,000.0 Wh and the first register sample 1,500.0 Wh (60 s apart) is more "
        "than the 50.0 Wh the reported power (at most 3,000 W) could deliver")


def test_meter_stop_below_start():
    result = with_fault(meter_stop_offset_wh=-20000)
    assert {"energy_stop_below_start", "energy_meter_start_stop"} <= set(result["check"])
    below = result[result["check"] == "energy_stop_below_start"]
    assert below["severity"].tolist() == ["error"]


def test_integrated_power_disagrees():
    # 1 kW extra while suspended adds 300 s x 1 kW = 83 Wh to the register but power says 0 ... make it big:
    script = Script()
    session = Session(transaction_id=5, plug_t=10, charge_s=3600, power_w=7000.0, suspend=None)
    add_session(script, session, 20000)
    for t, direction, message in script.entries:  # the charger reports a third of the real power
        if direction == "up" and message[2] == "MeterValues":
            for value in message[3]["meterValue"][0]["sampledValue"]:
                if value["measurand"] == "Power.Active.Import":
                    value["value"] = "2333.3"
    result = run_checks(script.capture(), names=ENERGY_CHECKS)
    assert set(result["check"]) == {"energy_integrated_mismatch"}
    # A generous tolerance silences it.
    loose = CheckConfig(energy_tolerance_fraction=0.7)
    assert run_checks(script.capture(), loose, names=["energy_integrated_mismatch"]).empty


def test_register_rebased_each_session():
    script = Script()
    script.boot(0)
    for i in range(3):
        add_session(script, Session(transaction_id=10 + i, plug_t=100 + i * 4000, charge_s=1800, power_w=7000.0,
                                    suspend=None), 0)
    result = run_checks(script.capture(), names=ENERGY_CHECKS)
    assert set(result["check"]) == {"energy_register_rebased"}
    # Per-transaction metering: one warning for the charge point, then one info per session (the register and
    # meterStart restarts of a session are one finding, not two).
    assert result["severity"].tolist() == ["warning", "info", "info"]
    summary = result.iloc[0]
    assert pd.isna(summary["transaction_id"]) and "all 2 sessions" in summary["message"]
    assert result["transaction_id"].tolist()[1:] == [11, 12]
    assert "meterStart 0.0 Wh is below the previous transaction's meterStop" in result["message"].iloc[1]
    assert "Energy.Active.Import.Register restarted at" in result["message"].iloc[1]


def test_one_rebased_session_among_several_is_a_warning_of_its_own():
    script = Script()
    script.boot(0)
    register = 0
    for i in range(4):
        start = 0 if i == 2 else register  # the meter was swapped before the third session
        register = add_session(script, Session(transaction_id=10 + i, plug_t=100 + i * 4000, charge_s=1800,
                                               power_w=7000.0, suspend=None), start)
    result = run_checks(script.capture(), names=["energy_register_rebased"])
    assert result["severity"].tolist() == ["warning"] and result["transaction_id"].tolist() == [12]


def test_begin_value_repeated_in_periodic_readings():
    result = with_fault(begin_in_periodic=True)
    assert set(result["check"]) == {"energy_begin_repeated"}
    assert len(result) == 1


def test_unreadable_values():
    script = Script()
    script.meter(10, 1, None, [{"value": "twelve"}, {"value": "5", "measurand": "Voltage"}])
    result = run_checks(script.capture(), names=ENERGY_CHECKS)
    assert result["check"].tolist() == ["meter_value_invalid"]
    assert "twelve" in result["message"].iloc[0]
