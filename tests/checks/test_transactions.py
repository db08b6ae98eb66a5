"""Transaction checks, and the zero-false-alarm rule for every registered check on clean captures."""

from checks.scenarios import Faults, Script, Session, add_session, clean_day, fleet_records
from workbench.analysis import Capture
from workbench.checks import CHECKS, CheckConfig, run_checks

TX_CHECKS = ["transaction_open_at_end", "transaction_stop_without_start", "transaction_id_reused",
             "meter_values_unknown_transaction", "charging_without_transaction", "power_while_suspended",
             "power_zero_while_charging"]


def test_every_check_is_silent_on_a_clean_fleet():
    cap = Capture.from_records(fleet_records(3, sessions=3))
    findings = run_checks(cap)
    assert findings.empty, findings[["check", "message"]].to_string()
    assert set(TX_CHECKS) <= set(CHECKS)


def test_open_at_end():
    script = Script()
    script.boot(0)
    script.status(1, 1, "Available")
    script.status(10, 1, "Preparing")
    script.start_tx(12, 1, 7, 100)
    script.status(14, 1, "Charging")
    result = run_checks(script.capture(), names=["transaction_open_at_end"])
    assert result["severity"].tolist() == ["info"]
    script.status(500, 1, "Available")  # the connector went idle without a StopTransaction
    result = run_checks(script.capture(), names=["transaction_open_at_end"])
    assert result["severity"].tolist() == ["warning"] and "never stopped" in result["message"].iloc[0]


def test_stop_without_start():
    script, _ = clean_day(sessions=1)
    script.stop(20000, 999, 5, None)
    result = run_checks(script.capture(), names=TX_CHECKS)
    assert result["check"].tolist() == ["transaction_stop_without_start"]
    assert result["severity"].tolist() == ["error"] and result["transaction_id"].tolist() == [999]
    early = Script()
    early.stop(5, 998, 5, None)  # before any start: the session began before the capture
    result = run_checks(early.capture(), names=["transaction_stop_without_start"])
    assert result["severity"].tolist() == ["info"]


def test_transaction_id_reused():
    script = Script()
    add_session(script, Session(transaction_id=5, plug_t=10, charge_s=600, suspend=None), 100)
    add_session(script, Session(transaction_id=5, plug_t=1000, charge_s=600, suspend=None), 2000)
    result = run_checks(script.capture(), names=TX_CHECKS)
    assert result["check"].tolist() == ["transaction_id_reused"]


def test_meter_values_for_an_unknown_transaction():
    script, _ = clean_day(sessions=2, faults={1: Faults(unknown_tx_in_meter=True)})
    result = run_checks(script.capture(), names=TX_CHECKS)
    assert result["check"].tolist() == ["meter_values_unknown_transaction"]
    assert result["transaction_id"].tolist() == [0] and result["severity"].tolist() == ["warning"]


def test_charging_without_transaction():
    script = Script()
    script.boot(0)
    script.status(1, 1, "Available")
    script.status(10, 1, "Charging")
    result = run_checks(script.capture(), names=["charging_without_transaction"])
    assert len(result) == 1
    # Charging reported just before the StartTransaction (within the grace) is fine.
    script.start_tx(30, 1, 3, 100)
    assert run_checks(script.capture(), names=["charging_without_transaction"]).empty
    assert len(run_checks(script.capture(), CheckConfig(charging_start_grace_s=5),
                          names=["charging_without_transaction"])) == 1


def test_power_while_suspended():
    script, _ = clean_day(sessions=2, faults={1: Faults(power_while_suspended_w=3000.0)})
    result = run_checks(script.capture(), names=TX_CHECKS)
    assert result["check"].tolist() == ["power_while_suspended"]
    assert "SuspendedEV" in result["message"].iloc[0]


def test_power_zero_while_charging():
    script = Script()
    add_session(script, Session(transaction_id=5, plug_t=10, charge_s=1200, suspend=(300, 900)), 100)
    # The charger never reports SuspendedEV: power drops to 0 while the status says Charging.
    script.entries = [e for e in script.entries
                      if not (e[1] == "up" and e[2][2] == "StatusNotification"
                              and e[2][3]["status"] in ("SuspendedEV",))]
    result = run_checks(script.capture(), names=TX_CHECKS)
    assert result["check"].tolist() == ["power_zero_while_charging"]
    assert "Charging" in result["message"].iloc[0]


# --- no check may crash on any input -------------------------------------------------------------

import copy  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

C2_CHECKS = ["status_transition", "status_connector0", "status_error_code", "energy_register_monotonic",
             "energy_register_rebased", "energy_kwh_as_wh", "energy_meter_start_stop", "energy_stop_below_start",
             "energy_integrated_mismatch", "energy_begin_repeated", "meter_value_invalid", "meter_values_gap",
             "heartbeat_interval", "clock_skew", "late_delivery", "naive_timestamp", "timestamp_unreadable",
             *TX_CHECKS]

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=8),
              st.sampled_from(["Charging", "SuspendedEV", "kWh", "2025-01-06T08:00:00", "-1", "1e400"])),
    lambda inner: st.one_of(st.lists(inner, max_size=2), st.dictionaries(st.text(max_size=5), inner, max_size=2)),
    max_leaves=4)


def _base_script():
    script = Script()
    script.boot(0)
    script.status(1, 0, "Available")
    script.status(2, 1, "Available")
    add_session(script, Session(transaction_id=5, plug_t=10, charge_s=400, suspend=(120, 240)), 100)
    return script


BASE = _base_script()


def _containers(value, path=()):
    """Every dict/list inside a message with its path."""
    if isinstance(value, dict):
        yield path, value
        for key, item in value.items():
            yield from _containers(item, path + (key,))
    elif isinstance(value, list):
        yield path, value
        for i, item in enumerate(value):
            yield from _containers(item, path + (i,))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_checks_never_crash_on_mutated_payloads(data):
    entries = copy.deepcopy(BASE.entries)
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(entries) - 1))
        message = entries[index][2]
        places = list(_containers(message[-1]))
        _, target = places[data.draw(st.integers(0, len(places) - 1))]
        if isinstance(target, dict) and target:
            key = data.draw(st.sampled_from(sorted(target)))
            if data.draw(st.booleans()):
                del target[key]
            else:
                target[key] = data.draw(json_values)
        elif isinstance(target, list) and target:
            target[data.draw(st.integers(0, len(target) - 1))] = data.draw(json_values)
    script = Script(entries=entries)
    findings = run_checks(script.capture(), names=C2_CHECKS)
    crashed = findings[findings["message"].str.contains("crashed")]
    assert crashed.empty, crashed["message"].tolist()


def test_boot_during_a_running_transaction_is_found_and_a_boot_between_sessions_is_not() -> None:
    from workbench import testing as t
    from workbench.checks.registry import CheckConfig
    from workbench.checks.transactions import transaction_interrupted_by_boot

    boot = {"chargePointVendor": "V", "chargePointModel": "M"}
    boot_reply = {"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z", "interval": 300}
    start = {"connectorId": 1, "idTag": "TAG", "meterStart": 1000, "timestamp": "2026-01-01T00:00:10Z"}
    stop = {"transactionId": 7, "meterStop": 1500, "timestamp": "2026-01-01T00:10:00Z", "reason": "PowerLoss"}

    def script(boot_at_s: float) -> list:
        return [
            (0, "charger_to_csms", [2, "b1", "BootNotification", boot]), (0.1, "csms_to_charger", [3, "b1", boot_reply]),
            (10, "charger_to_csms", [2, "s1", "StartTransaction", start]),
            (10.1, "csms_to_charger", [3, "s1", {"idTagInfo": {"status": "Accepted"}, "transactionId": 7}]),
            (boot_at_s, "charger_to_csms", [2, "b2", "BootNotification", boot]),
            (boot_at_s + 0.1, "csms_to_charger", [3, "b2", boot_reply]),
            (600, "charger_to_csms", [2, "s2", "StopTransaction", stop]),
            (600.1, "csms_to_charger", [3, "s2", {}]),
        ]

    during = workbench_load(t, script(300))
    found = list(transaction_interrupted_by_boot(during, CheckConfig()))
    assert len(found) == 1 and found[0].transaction_id == 7 and "PowerLoss" in found[0].message
    after = workbench_load(t, script(700))
    assert list(transaction_interrupted_by_boot(after, CheckConfig())) == []


def workbench_load(t, script):
    from workbench.analysis import Capture

    return Capture.from_records(t.charger_records("CP1", script))


def _repeat_last_stop(script: Script, truth: list[dict], answer: str, meter_offset: int = 0,
                      first_answer: list | None = None) -> int:
    """At shutdown the charger repeats its last StopTransaction: first without reason, then with Local.
    ``answer``: "error" (CALLERROR) or "unknown" (idTagInfo Invalid). Returns the repeat's seq offset."""
    last = truth[-1]
    stop_t = max(t for t, _, _ in script.entries) + 10
    first = {"transactionId": last["transaction_id"], "meterStop": last["meter_stop"], "timestamp": script.iso(stop_t)}
    old = {e[2][1] for e in script.entries if isinstance(e[2], list) and e[2][0] == 2
           and e[2][2] == "StopTransaction" and e[2][3]["transactionId"] == last["transaction_id"]}
    script.entries = [e for e in script.entries if e[2][1] not in old]  # the stop and its reply
    if first_answer is None:
        script.call(stop_t - 5, "StopTransaction", first, {"idTagInfo": {"status": "Accepted"}})
    else:
        first_uid = script.uid()
        script.entries.append((stop_t - 5, "up", [2, first_uid, "StopTransaction", first]))
        if first_answer:
            script.entries.append((stop_t - 4.95, "down", [first_answer[0], first_uid, *first_answer[1:]]))
    second = dict(first, reason="Local", meterStop=last["meter_stop"] + meter_offset)
    uid = script.uid()
    script.entries.append((stop_t, "up", [2, uid, "StopTransaction", second]))
    reply = ([4, uid, "GenericError", "unknown transaction", {}] if answer == "error"
             else [3, uid, {"idTagInfo": {"status": "Invalid"}}])
    script.entries.append((stop_t + 0.05, "down", reply))
    return len(truth)


def test_a_repeated_stop_is_its_own_finding_and_no_session():
    for answer, said in (("error", "CALLERROR GenericError ('unknown transaction')"),
                         ("unknown", "idTagInfo.status Invalid")):
        script, truth = clean_day(sessions=2)
        sessions = _repeat_last_stop(script, truth, answer)
        cap = script.capture()
        assert len(cap.transactions) == sessions
        assert (cap.transactions["completeness"] == "complete").all()
        findings = cap.findings
        assert not (findings["severity"] == "error").any(), findings[["check", "message"]]
        repeated = findings[findings["check"] == "transaction_stop_repeated"]
        assert len(repeated) == 1 and "transaction_stop_without_start" not in findings["check"].tolist()
        row = repeated.iloc[0]
        assert row["severity"] == "warning" and row["transaction_id"] == truth[-1]["transaction_id"]
        assert "reason Local; the first: absent, Local by default" in row["message"]
        assert "same meterStop" in row["message"] and said in row["message"]
        assert len(row["frame_seqs"]) == 4  # both stops and both replies


def test_a_repeated_stop_with_another_meter_stop_says_so():
    script, truth = clean_day(sessions=1)
    _repeat_last_stop(script, truth, "unknown", meter_offset=24)
    message = run_checks(script.capture(), names=["transaction_stop_repeated"])["message"].iloc[0]
    assert f"meterStop {truth[-1]['meter_stop'] + 24:,.1f} Wh differs from the first's" in message


def test_a_repeated_stop_of_a_transaction_started_before_the_capture_is_one_session():
    early = Script()
    early.stop(5, 998, 5, None)
    early.stop(6, 998, 5, None)
    cap = early.capture()
    assert len(cap.transactions) == 1
    assert cap.findings["check"].tolist() == ["transaction_stop_without_start", "transaction_stop_repeated"]


def test_meter_values_after_the_stop_are_reported_with_a_register_above_meter_stop():
    from checks.scenarios import samples
    script = Script()
    script.start_tx(10, 1, 7, 0)
    script.meter(40, 1, 7, samples(20, 3000, three_phase=False))
    script.stop(60, 7, 39, None)  # its reply comes 50 ms later
    # 75 ms after the StopTransaction, the station sends the transaction's MeterValues once more.
    script.meter(60.075, 1, 7, samples(63, 0, three_phase=False), sample_t=60.075)
    cap = script.capture()
    result = run_checks(cap, names=["meter_values_after_stop"])
    assert len(result) == 1
    row = result.iloc[0]
    assert row["severity"] == "error" and row["transaction_id"] == 7
    assert ("1 MeterValues message(s) for transaction 7 after its StopTransaction (the first 75 ms later)"
            in row["message"])
    assert "their register 63.0 Wh is above meterStop 39.0 Wh" in row["message"]
    stop_seq = int(cap.transactions["stop_seq"].iloc[0])
    assert row["frame_seqs"][0] == stop_seq and len(row["frame_seqs"]) == 2


def test_meter_values_after_the_stop_below_meter_stop_are_a_warning_and_clean_days_are_silent():
    from checks.scenarios import samples
    script, truth = clean_day(sessions=1)
    assert run_checks(script.capture(), names=["meter_values_after_stop"]).empty
    last_t = max(t for t, _, _ in script.entries)
    script.meter(last_t + 1, 1, truth[0]["transaction_id"], samples(truth[0]["meter_stop"], 0, three_phase=False))
    result = run_checks(script.capture(), names=["meter_values_after_stop"])
    assert result["severity"].tolist() == ["warning"] and "above meterStop" not in result["message"].iloc[0]


def test_a_stop_repeated_after_a_callerror_or_no_answer_is_a_retry_and_info():
    for first_answer, said in (([4, "InternalError", "database down", {}], "CALLERROR InternalError ('database down')"),
                               ([], "no answer")):
        script, truth = clean_day(sessions=1)
        _repeat_last_stop(script, truth, "unknown", first_answer=first_answer)
        result = run_checks(script.capture(), names=["transaction_stop_repeated"])
        assert result["severity"].tolist() == ["info"]
        assert f"(a retry: the first got {said})" in result["message"].iloc[0]
