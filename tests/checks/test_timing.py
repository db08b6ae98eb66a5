"""Timing checks: sample gaps, heartbeats, clock skew, late queued messages, timestamps."""

from checks.scenarios import Faults, Script, Session, add_session, clean_day, samples
from workbench.analysis import Capture
from workbench.checks import CheckConfig, run_checks

TIMING_CHECKS = ["meter_values_gap", "heartbeat_interval", "clock_skew", "late_delivery", "naive_timestamp",
                 "timestamp_unreadable"]


def test_clean_day_is_silent():
    script, _ = clean_day(sessions=3)
    assert run_checks(script.capture(), names=TIMING_CHECKS).empty


def test_meter_values_gap_against_the_observed_median():
    script, _ = clean_day(sessions=2, faults={1: Faults(skip_samples=(10, 11, 12))})
    result = run_checks(script.capture(), names=TIMING_CHECKS)
    assert result["check"].tolist() == ["meter_values_gap"]
    assert "240 s" in result["message"].iloc[0] and "observed median" in result["message"].iloc[0]
    assert result["transaction_id"].tolist() == [101]


def test_meter_values_gap_against_the_configured_interval():
    script = Script()
    script.boot(0)
    script.call(5, "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "30"}, {"status": "Accepted"},
                from_charger=False)
    add_session(script, Session(transaction_id=3, plug_t=20, charge_s=900, suspend=None), 1000)
    result = run_checks(script.capture(), names=["meter_values_gap"])
    assert len(result) >= 10 and "configured" in result["message"].iloc[0]
    # A rejected change does not count: the observed 60 s stand.
    script.entries = [e for e in script.entries if not (isinstance(e[2], list) and len(e[2]) == 3
                                                        and e[2][2] == {"status": "Accepted"})]
    script.call(5, "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "30"}, {"status": "Rejected"},
                from_charger=False)
    assert run_checks(script.capture(), names=["meter_values_gap"]).empty


def test_heartbeat_missing():
    script = Script()
    script.boot(0, interval=60)
    script.heartbeat(50)
    script.heartbeat(100)
    assert run_checks(script.capture(), names=["heartbeat_interval"]).empty
    script.heartbeat(400)
    result = run_checks(script.capture(), names=["heartbeat_interval"])
    assert len(result) == 1 and "300 s" in result["message"].iloc[0]


def test_clock_skew():
    script, _ = clean_day(sessions=1)
    script.stamp_offset_s = 0.0
    skewed = Script("CP2", stamp_offset_s=600.0)
    skewed.boot(0)
    skewed.status(1, 1, "Available")
    add_session(skewed, Session(transaction_id=8, plug_t=20, charge_s=600, suspend=None), 500)
    cap = Capture.from_records(script.records() + skewed.records())
    result = run_checks(cap, names=TIMING_CHECKS)
    assert result["check"].tolist() == ["clock_skew"]
    assert result["charge_point_id"].tolist() == ["CP2"]
    assert "600 s ahead" in result["message"].iloc[0]
    assert run_checks(cap, CheckConfig(clock_skew_s=900), names=["clock_skew"]).empty


def test_queued_messages_delivered_late_are_not_clock_skew():
    # Offline from 190 s to 1005 s: MeterValues sampled meanwhile arrive on the new connection.
    script = Script()
    script.boot(0)
    script.status(1, 1, "Charging")
    for k in range(2):
        script.meter(100 + k * 60, 1, 4, samples(1000 + k, 7000.0))
    first = script.records(connection_id="c1", close_at_s=190)
    later = Script(counter=100)
    for k in range(2, 16):
        later.meter(100 + k * 60, 1, 4, samples(1000 + k, 7000.0), deliver_t=1005 + k * 0.5)
    later.status(1020, 1, "Charging")
    later.meter(1060, 1, 4, samples(1100, 7000.0))
    cap = Capture.from_records(first + later.records(connection_id="c2"))
    result = run_checks(cap, names=TIMING_CHECKS)
    assert result["check"].tolist() == ["late_delivery"]
    assert result["severity"].tolist() == ["info"]
    assert "queued" in result["message"].iloc[0]


def test_naive_and_unreadable_timestamps():
    script = Script(naive=True)
    script.status(1, 1, "Available")
    script.meter(10, 1, None, samples(5, 0.0, three_phase=False))
    script.status(20, 1, "Available", timestamp="not a time")
    result = run_checks(script.capture(), names=TIMING_CHECKS)
    assert sorted(result["check"].tolist()) == ["naive_timestamp", "timestamp_unreadable"]
    naive = result[result["check"] == "naive_timestamp"].iloc[0]
    assert "2 message(s)" in naive["message"]
