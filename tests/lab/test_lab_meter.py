"""The simulated meter: exact integration of piecewise-constant power, whole-Wh register with the
remainder carried, a reset that does not touch the counted truth, and the SampledValues."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from workbench.lab.meter import Meter, register_text, sampled_values

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_register_counts_whole_wh_and_carries_the_remainder() -> None:
    meter = Meter(1000, T0)
    meter.set_power(T0, 3000.0)  # 3000 W = 0.8333 Wh per second
    assert meter.advance(at(1)) == 0 and meter.register_wh == 1000
    assert meter.advance(at(2)) == 1 and meter.register_wh == 1001  # 1.667 Wh so far
    meter.set_power(at(2), 0.0)
    assert meter.advance(at(100)) == 0
    meter.set_power(at(100), 3600.0)  # 1 Wh per second; the 0.667 carried makes 2 after 1.5 s
    assert meter.advance(at(101.5)) == 2 and meter.register_wh == 1003 and meter.counted_wh == 3


def test_reset_restarts_the_register_but_not_the_truth() -> None:
    meter = Meter(5000, T0)
    meter.set_power(T0, 7200.0)
    meter.advance(at(10))  # 20 Wh
    meter.reset_register()
    meter.advance(at(20))  # 20 Wh more
    assert meter.register_wh == 20 and meter.counted_wh == 40


def test_going_back_in_time_changes_nothing() -> None:
    meter = Meter(0, T0)
    meter.set_power(T0, 3600.0)
    meter.advance(at(10))
    assert meter.advance(at(5)) == 0 and meter.register_wh == 10 and meter.updated_at == at(10)


@given(
    steps=st.lists(
        st.tuples(st.floats(0.001, 100.0), st.floats(0.0, 22000.0)), min_size=1, max_size=30
    )
)
def test_counted_energy_is_the_exact_integral_rounded_down(steps) -> None:
    meter = Meter(0, T0)
    elapsed_ms, exact_wh = 0, 0.0
    for duration_s, power_w in steps:
        meter.set_power(at(elapsed_ms / 1000), power_w)
        duration_ms = max(1, round(duration_s * 1000))
        elapsed_ms += duration_ms
        meter.advance(at(elapsed_ms / 1000))
        exact_wh += power_w * duration_ms / 1000 / 3600
    assert meter.counted_wh == meter.register_wh
    assert exact_wh - 1 - 1e-6 <= meter.counted_wh <= exact_wh + 1e-6


def test_sampled_values_in_the_order_asked_with_units_and_phases() -> None:
    values = sampled_values(
        ["Power.Active.Import", "Energy.Active.Import.Register", "Current.Import", "Voltage", "SoC"],
        register_wh=1234567, power_w=6900.0, phases=3, voltage_v=230.0, context="Sample.Periodic",
    )
    assert [(v["measurand"], v.get("phase"), v["value"], v["unit"]) for v in values] == [
        ("Power.Active.Import", None, "6900.0", "W"),
        ("Energy.Active.Import.Register", None, "1234567", "Wh"),
        ("Current.Import", "L1", "10.00", "A"),
        ("Current.Import", "L2", "10.00", "A"),
        ("Current.Import", "L3", "10.00", "A"),
        ("Voltage", "L1-N", "230.0", "V"),
        ("Voltage", "L2-N", "230.0", "V"),
        ("Voltage", "L3-N", "230.0", "V"),
    ]  # SoC is not measured: skipped
    assert {v["context"] for v in values} == {"Sample.Periodic"} and {v["location"] for v in values} == {"Outlet"}


def test_kwh_as_wh_fault_formats_kwh_but_keeps_the_wh_label() -> None:
    assert register_text(1000012) == "1000012"
    assert register_text(1000012, kwh_as_wh=True) == "1000.012"
    (value,) = sampled_values(
        ["Energy.Active.Import.Register"], register_wh=1000012, power_w=0.0, phases=1, voltage_v=230.0,
        context="Transaction.End", kwh_as_wh=True,
    )
    assert value == {
        "value": "1000.012", "context": "Transaction.End", "measurand": "Energy.Active.Import.Register",
        "location": "Outlet", "unit": "Wh",
    }
