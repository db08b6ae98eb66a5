"""RPC-rule checks: each fires on its fault and stays silent on the clean exchange next to it."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.analysis import Capture
from workbench.checks.protocol import CHARGER_ACTIONS, CSMS_ACTIONS
from workbench.checks.registry import CHECKS, CheckConfig, run_checks
from workbench.schemas import known_actions
from workbench.testing import call, charger_records, clean_session_script, error, iso_at, merge_records, result

PROTOCOL_CHECKS = ["invalid_frame", "unanswered_request", "slow_reply", "reply_without_request",
                   "duplicate_message_id", "message_id_too_long", "concurrent_requests", "callerror",
                   "unknown_action", "wrong_direction", "request_before_boot_accepted"]

BOOT = {"chargePointVendor": "V", "chargePointModel": "M"}


def _booted(extra, *, close_at_s=None) -> list[tuple]:
    """A boot that is Accepted at t=1, then ``extra`` entries."""
    return [(0, "up", call("boot", "BootNotification", BOOT)),
            (1, "down", result("boot", {"status": "Accepted", "currentTime": iso_at(1), "interval": 300}))] + extra


def _run(check_name: str, script, config: CheckConfig | None = None, **options) -> pd.DataFrame:
    cap = Capture.from_records(charger_records("CP1", script, **options))
    return run_checks(cap, config, names=[check_name])


def test_all_protocol_checks_are_registered_with_a_clause() -> None:
    for name in PROTOCOL_CHECKS:
        assert name in CHECKS and CHECKS[name].clause and CHECKS[name].description


def test_clean_multi_charger_capture_has_no_protocol_findings() -> None:
    records = merge_records(*(charger_records(f"CP{i}", clean_session_script(t0_s=i * 0.3, transaction_id=100 + i),
                                              connection_id=f"c{i}", close_at_s=4000) for i in range(5)))
    findings = run_checks(Capture.from_records(records), names=PROTOCOL_CHECKS + ["schema", "callerror_code"])
    assert findings.empty, findings["message"].tolist()


def test_invalid_frame() -> None:
    fired = _run("invalid_frame", _booted([(2, "up", '[2,"x","Heartbeat"]'), (3, "down", b"\xff")]))
    assert fired["frame_seqs"].tolist() == [[2], [3]]
    assert "4 elements" in fired.loc[0, "message"] and "binary" in fired.loc[1, "message"]
    assert _run("invalid_frame", _booted([])).empty


def test_unanswered_request_respects_the_timeout_and_the_observation_window() -> None:
    script = _booted([(2, "up", call("h", "Heartbeat", {})), (40, "up", call("a", "Authorize", {"idTag": "T"})),
                      (40.1, "down", result("a", {"idTagInfo": {"status": "Accepted"}}))])
    fired = _run("unanswered_request", script)
    assert fired["frame_seqs"].tolist() == [[2]] and fired.loc[0, "severity"] == "error"
    assert _run("unanswered_request", script, CheckConfig(unanswered_timeout_s=60)).empty
    # The last request of a capture, with less than the timeout left to watch: not judged.
    assert _run("unanswered_request", _booted([(2, "up", call("h", "Heartbeat", {}))])).empty
    # ... but a closed connection was watched until its close.
    assert len(_run("unanswered_request", _booted([(2, "up", call("h", "Heartbeat", {}))]), close_at_s=100)) == 1


def test_slow_reply() -> None:
    script = _booted([(2, "up", call("h", "Heartbeat", {})), (14, "down", result("h", {"currentTime": iso_at(14)}))])
    fired = _run("slow_reply", script)
    assert fired["frame_seqs"].tolist() == [[2, 3]] and "12.000 s" in fired.loc[0, "message"]
    assert _run("slow_reply", script, CheckConfig(slow_reply_s=12.5)).empty


def test_reply_without_request() -> None:
    fired = _run("reply_without_request", _booted([(2, "down", result("ghost", {}))]))
    assert fired["frame_seqs"].tolist() == [[2]]
    assert _run("reply_without_request", _booted([])).empty


def test_duplicate_message_id_identical_retransmission_is_a_warning() -> None:
    again = _booted([(2, "up", call("h", "Heartbeat", {})), (3, "down", result("h", {"currentTime": iso_at(3)})),
                     (4, "up", call("h", "Heartbeat", {})), (5, "down", result("h", {"currentTime": iso_at(5)})),
                     (6, "up", call("h", "Authorize", {"idTag": "T"})),
                     (7, "down", result("h", {"idTagInfo": {"status": "Accepted"}}))])
    fired = _run("duplicate_message_id", again)
    assert fired["severity"].tolist() == ["warning", "error"]
    assert fired["frame_seqs"].tolist() == [[2, 4], [2, 6]]
    # The same id used by the other side is not a duplicate.
    other_side = _booted([(2, "down", call("boot", "GetConfiguration", {})),
                          (3, "up", result("boot", {"configurationKey": []}))])
    assert _run("duplicate_message_id", other_side).empty


def test_message_id_too_long() -> None:
    fired = _run("message_id_too_long", _booted([(2, "up", call("x" * 37, "Heartbeat", {}))]))
    assert fired["frame_seqs"].tolist() == [[2]]
    assert _run("message_id_too_long", _booted([(2, "up", call("x" * 36, "Heartbeat", {}))])).empty


def test_concurrent_requests() -> None:
    script = _booted([(2, "up", call("a", "Heartbeat", {})), (2.1, "up", call("b", "Heartbeat", {})),
                      (2.2, "down", result("a", {"currentTime": iso_at(2)})),
                      (2.3, "down", result("b", {"currentTime": iso_at(2)}))])
    fired = _run("concurrent_requests", script)
    assert fired["frame_seqs"].tolist() == [[2, 3]]
    # Crossing CALLs from the two sides are legal, and so is a new CALL after the earlier one timed out.
    legal = _booted([(2, "up", call("a", "Heartbeat", {})), (2.1, "down", call("x", "ClearCache", {})),
                     (2.2, "up", result("x", {"status": "Accepted"})),
                     (2.3, "down", result("a", {"currentTime": iso_at(2)})),
                     (3, "up", call("lost", "Heartbeat", {})), (40, "up", call("c", "Heartbeat", {})),
                     (40.1, "down", result("c", {"currentTime": iso_at(40)}))])
    assert _run("concurrent_requests", legal).empty


def test_callerror() -> None:
    fired = _run("callerror", _booted([(2, "down", call("r", "Reset", {"type": "Hard"})),
                                       (3, "up", error("r", "NotSupported", "no"))]))
    assert fired["frame_seqs"].tolist() == [[2, 3]] and "NotSupported" in fired.loc[0, "message"]
    assert fired.loc[0, "severity"] == "warning"


def test_unknown_action_is_case_sensitive() -> None:
    fired = _run("unknown_action", _booted([(2, "up", call("x", "heartbeat", {})),
                                            (3, "up", call("y", "MakeCoffee", {}))]))
    assert fired["frame_seqs"].tolist() == [[2], [3]]
    assert _run("unknown_action", _booted([(2, "up", call("x", "SecurityEventNotification",
                                                            {"type": "X", "timestamp": iso_at(2)}))])).empty


def test_wrong_direction() -> None:
    fired = _run("wrong_direction", _booted([(2, "down", call("x", "Heartbeat", {})),
                                             (3, "up", call("y", "Reset", {"type": "Soft"}))]))
    assert fired["frame_seqs"].tolist() == [[2], [3]]
    assert _run("wrong_direction", _booted([(2, "down", call("x", "DataTransfer", {"vendorId": "V"})),
                                            (3, "up", call("y", "DataTransfer", {"vendorId": "V"}))])).empty


def test_direction_tables_cover_every_schema_action() -> None:
    assert CHARGER_ACTIONS | CSMS_ACTIONS == known_actions()
    assert CHARGER_ACTIONS & CSMS_ACTIONS == {"DataTransfer"}


@pytest.mark.parametrize("status", ["Rejected", "Pending"])
def test_request_before_boot_accepted(status: str) -> None:
    script = [(0, "up", call("b1", "BootNotification", BOOT)),
              (0.5, "up", call("s", "StatusNotification", {"connectorId": 0, "errorCode": "NoError", "status": "Available"})),
              (1, "down", result("b1", {"status": status, "currentTime": iso_at(1), "interval": 10})),
              (1.1, "down", result("s", {})),
              (2, "up", call("h", "Heartbeat", {})), (2.1, "down", result("h", {"currentTime": iso_at(2)})),
              (11, "up", call("b2", "BootNotification", BOOT)),
              (11.5, "down", result("b2", {"status": "Accepted", "currentTime": iso_at(11), "interval": 300})),
              (12, "up", call("h2", "Heartbeat", {})), (12.1, "down", result("h2", {"currentTime": iso_at(12)}))]
    fired = _run("request_before_boot_accepted", script)
    assert fired["frame_seqs"].tolist() == [[1], [4]]
    assert status in fired.loc[1, "message"]


def test_request_before_boot_accepted_allows_triggered_messages_while_pending() -> None:
    script = [(0, "up", call("b1", "BootNotification", BOOT)),
              (1, "down", result("b1", {"status": "Pending", "currentTime": iso_at(1), "interval": 10})),
              (2, "down", call("t", "TriggerMessage", {"requestedMessage": "StatusNotification"})),
              (2.1, "up", result("t", {"status": "Accepted"})),
              (2.2, "up", call("s", "StatusNotification", {"connectorId": 0, "errorCode": "NoError", "status": "Available"})),
              (2.3, "down", result("s", {}))]
    assert _run("request_before_boot_accepted", script).empty


def test_request_before_boot_is_not_judged_without_a_boot_in_the_capture() -> None:
    assert _run("request_before_boot_accepted", [(0, "up", call("h", "Heartbeat", {})),
                                                 (0.1, "down", result("h", {"currentTime": iso_at(0)}))]).empty


def test_checks_only_compare_frames_of_the_same_charge_point() -> None:
    # CP2's request is outstanding while CP1 sends: that is not CP1's concurrency.
    one = charger_records("CP1", _booted([(2, "up", call("a", "Heartbeat", {})),
                                          (2.5, "down", result("a", {"currentTime": iso_at(2)}))]), connection_id="c1")
    two = charger_records("CP2", [(1.9, "up", call("a", "Heartbeat", {})),
                                  (3, "down", result("a", {"currentTime": iso_at(3)}))], connection_id="c2")
    findings = run_checks(Capture.from_records(merge_records(one, two)), names=PROTOCOL_CHECKS)
    assert findings.empty, findings["message"].tolist()
