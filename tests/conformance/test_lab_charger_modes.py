"""The lab charger's answers that the probe relies on, without a network: GetCompositeSchedule and
the misbehaviours that change answers (the probe tests show them on the wire)."""

from __future__ import annotations

import datetime as dt

import pytest

from workbench.lab.charger import WRONG_CLOCK_S, ChargerConfig, LabCharger


def _charger(*misbehaviours: str) -> LabCharger:
    return LabCharger(ChargerConfig("CP-M", connectors=2, misbehaviours=frozenset(misbehaviours)),
                      "wss://127.0.0.1:1/ocpp", None)


def test_composite_schedule_reads_back_the_station_limit_in_w_and_a() -> None:
    charger = _charger()
    assert charger.composite_schedule(9, 300, None).status == "Rejected"
    free = charger.composite_schedule(1, 300, None)
    assert free.status == "Accepted" and free.charging_schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 11000.0}]
    profile = {"charging_profile_id": 7, "stack_level": 1, "charging_profile_purpose": "ChargePointMaxProfile",
               "charging_profile_kind": "Absolute",
               "charging_schedule": {"charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 10}]}}
    assert charger.set_charging_profile(0, profile) == "Accepted"
    amps = charger.composite_schedule(1, 60, "A")
    assert amps.charging_schedule == {"duration": 60, "chargingRateUnit": "A",
                                      "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}]}
    assert charger.composite_schedule(0, 60, "W").charging_schedule["chargingSchedulePeriod"][0]["limit"] == 6900.0


def test_configuration_misbehaviours() -> None:
    assert _charger("reject_charging_profile").set_charging_profile(0, {}) == "Rejected"
    ignoring = _charger("ignore_meter_interval")
    assert ignoring.change_configuration("MeterValueSampleInterval", "60") == "Accepted"
    assert ignoring.configuration_value("MeterValueSampleInterval") == "1"  # never applied
    document = _charger("document_spelling_only")
    assert document.change_configuration("MeterValuesSampledData", "Power.Active.Import") == "NotSupported"
    assert document.change_configuration("MeterValuesSampleData", "Power.Active.Import") == "Accepted"
    assert document.change_configuration("MeterValuesSampleData", "Nonsense.Measurand") == "Rejected"


def test_wrong_clock_shifts_payload_timestamps_only() -> None:
    when = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.timezone.utc)
    assert _charger()._stamp(when) == "2026-01-01T10:00:00.000Z"
    assert _charger("wrong_clock")._stamp(when) == f"2026-01-01T10:{int(WRONG_CLOCK_S) // 60:02d}:00.000Z"


def test_connection_misbehaviours_change_scheme_and_tls() -> None:
    import ssl

    assert LabCharger(ChargerConfig("CP-M", misbehaviours=frozenset({"plain_ws"})), "wss://h:1/ocpp",
                      ssl.create_default_context()).url == "ws://h:1/ocpp/CP-M"
    context = ssl.create_default_context()
    LabCharger(ChargerConfig("CP-M", misbehaviours=frozenset({"tls13_only"})), "wss://h:1/ocpp", context)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3
    with pytest.raises(ValueError, match="unknown misbehaviour"):
        ChargerConfig("CP-M", misbehaviours=frozenset({"no_such_mode"}))
