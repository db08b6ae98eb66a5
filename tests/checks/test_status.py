"""Status checks: each fires on its fault and stays silent on clean traffic."""

from checks.scenarios import Faults, Script, clean_day
from workbench.checks import run_checks

STATUS_CHECKS = ["status_transition", "status_connector0", "status_error_code"]


def found(cap, name):
    return run_checks(cap, names=[name])


def test_clean_day_is_silent():
    script, _ = clean_day(sessions=3)
    assert run_checks(script.capture(), names=STATUS_CHECKS).empty


def test_transition_outside_the_table_is_an_error():
    script, _ = clean_day(sessions=2, faults={1: Faults(invalid_transition=True)})
    result = found(script.capture(), "status_transition")
    # Charging -> Reserved is an error; Reserved -> Charging back could be Preparing skipped: a warning.
    assert result["severity"].tolist() == ["error", "warning"]
    assert "Charging -> Reserved (C7)" in result["message"].iloc[0]
    assert "(G3)" in result["message"].iloc[1]
    assert result["connector_id"].tolist() == [2, 2]
    assert len(result["frame_seqs"].iloc[0]) == 2  # the status before and the offending one


def test_skipped_state_is_a_warning():
    script = Script()
    script.boot(0)
    script.status(1, 1, "Available")
    script.status(10, 1, "Finishing")  # A6: Preparing (B6) in between not reported
    result = found(script.capture(), "status_transition")
    assert result["severity"].tolist() == ["warning"]
    assert "A6" in result["message"].iloc[0]


def test_first_status_after_boot_or_reconnect_may_be_anything():
    script = Script()
    script.boot(0)
    script.status(1, 1, "Charging")
    script.boot(100)
    script.status(101, 1, "Reserved")  # C7, but right after a boot
    assert found(script.capture(), "status_transition").empty
    records = script.records(connection_id="c1", close_at_s=150)
    again = Script()
    again.status(200, 1, "Finishing")  # G6 on a new connection
    records += again.records(connection_id="c2")
    from workbench.analysis import Capture
    assert found(Capture.from_records(records), "status_transition").empty


def test_repeated_status_is_not_a_violation():
    script = Script()
    script.boot(0)
    script.status(1, 1, "Available")
    script.status(5, 1, "Available")
    script.status(9, 1, "Available", error_code="HighTemperature")
    assert found(script.capture(), "status_transition").empty


def test_connector0_only_available_unavailable_faulted():
    script = Script()
    script.boot(0)
    script.status(1, 0, "Available")
    script.status(2, 0, "Faulted")
    script.status(3, 0, "Unavailable")
    assert found(script.capture(), "status_connector0").empty
    script.status(4, 0, "Charging")
    result = found(script.capture(), "status_connector0")
    assert result["severity"].tolist() == ["error"] and "Charging" in result["message"].iloc[0]


def test_error_codes():
    script = Script()
    script.boot(0)
    script.status(1, 1, "Faulted", error_code="GroundFailure")
    assert found(script.capture(), "status_error_code").empty  # Faulted with a fault: nothing to say
    script.status(2, 1, "Preparing", error_code="EVCommunicationError")
    script.status(3, 1, "Charging", error_code="EVCommunicationError")
    script.status(4, 1, "Available", error_code="HighTemperature")
    result = found(script.capture(), "status_error_code")
    # The charger reporting a warning is info; EVCommunicationError while Charging is not defined.
    assert result["severity"].tolist() == ["info", "warning", "info"]
