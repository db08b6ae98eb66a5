"""Passive evaluation on hand-built captures: every verdict of every ev-energy requirement R1..R10."""

from __future__ import annotations

import datetime as dt

import pytest
from conformance_builders import (BEGIN_S, CP, build, down, meter, rejected_record, replace_meter_values, session,
                                  status, tls_failed_record, up, verdict)

import workbench as wb
from workbench.testing import DEFAULT_START, factory_header

# --- R1 TLS ---------------------------------------------------------------------------------------


def test_r1_passes_tls12_with_a_policy_cipher() -> None:
    row = verdict(build(session()), "R1")
    assert row.verdict == "pass" and row.warnings == []
    assert row.evidence[0]["tls_version"] == "TLSv1.2" and row.evidence[0]["frame_seqs"] == [0]


def test_r1_fails_plain_ws() -> None:
    row = verdict(build(session(), tls_version=None, cipher=None), "R1")
    assert row.verdict == "fail" and "plain ws" in row.evidence[0]["note"]
    assert row.advice and "TLS 1.2" in row.advice


def test_r1_fails_a_plain_ws_upgrade_the_proxy_refused() -> None:
    refused = rejected_record(-3.0, status_code=400, tls=False)  # `proxy` answers plain ws:// on wss:// with 400
    row = verdict(build(session(), records=[refused]), "R1")
    assert row.verdict == "fail"
    assert [e["note"] for e in row.evidence if e.get("result") == "fail"] == [
        "plain ws:// connection (no TLS) (upgrade refused with 400)"]


@pytest.mark.parametrize("version, cipher, why", [
    ("TLSv1.1", "ECDHE-RSA-AES128-SHA", "TLSv1.1 is not allowed"),
    ("TLSv1.2", "ECDHE-RSA-CHACHA20-POLY1305", "cipher ECDHE-RSA-CHACHA20-POLY1305 is not in"),
])
def test_r1_fails_a_version_or_cipher_outside_the_policy(version: str, cipher: str, why: str) -> None:
    row = verdict(build(session(), tls_version=version, cipher=cipher), "R1")
    assert row.verdict == "fail" and why in row.evidence[0]["note"]


def test_r1_tls13_is_a_warning_not_a_failure() -> None:
    row = verdict(build(session(), tls_version="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256"), "R1")
    assert row.verdict == "pass"
    assert row.warnings and "TLS 1.3" in row.warnings[0]


def test_r1_fails_a_refused_handshake_with_the_chargers_offer_as_evidence(tmp_path) -> None:
    failed = tls_failed_record(-5.0, versions=["TLSv1.3"], ciphers=["TLS_AES_256_GCM_SHA384"])
    row = verdict(build(session(), records=[failed], tmp_path=tmp_path), "R1")
    assert row.verdict == "fail"
    item = next(e for e in row.evidence if e["state"] == "tls_failed")
    assert item["offered_versions"] == ["TLSv1.3"] and item["tls_failure"] == "protocol_version"


def test_r1_not_observed_for_an_imported_log() -> None:
    row = verdict(build(session(), header={**factory_header(), "proxy_mode": "import:ndjson"}), "R1")
    assert row.verdict == "not_observed"


# --- R2 clock --------------------------------------------------------------------------------------

def test_r2_passes_a_synchronised_clock() -> None:
    row = verdict(build(session()), "R2")
    assert row.verdict == "pass" and row.evidence[0]["max_offset_s"] <= 1.0  # Transaction.Begin values sent 1 s late


def test_r2_fails_a_clock_30_s_ahead_and_cites_frames() -> None:
    ahead = session(start=DEFAULT_START + dt.timedelta(seconds=30))
    row = verdict(build(ahead), "R2")
    assert row.verdict == "fail" and "30 s" in row.summary
    assert any(e.get("frame_seqs") for e in row.evidence[1:])


def test_r2_tolerance_is_a_parameter() -> None:
    ahead = session(start=DEFAULT_START + dt.timedelta(seconds=5))
    assert verdict(build(ahead), "R2").verdict == "pass"  # default 10 s
    assert verdict(build(ahead), "R2", tolerance_s=2.0).verdict == "fail"


def test_r2_not_observed_without_payload_timestamps() -> None:
    script = up(0, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"},
                {"status": "Accepted", "currentTime": "2025-01-06T08:00:00Z", "interval": 300})
    assert verdict(build(script), "R2").verdict == "not_observed"


# --- R3 Basic Auth --------------------------------------------------------------------------------

def test_r3_passes_basic_auth_with_the_charge_point_id() -> None:
    row = verdict(build(session()), "R3")
    assert row.verdict == "pass" and row.evidence[0]["auth_user"] == CP


def test_r3_fails_an_upgrade_without_basic_auth() -> None:
    row = verdict(build(session(), auth_password_present=False), "R3")
    assert row.verdict == "fail" and "without Basic Auth" in row.evidence[0]["note"]


def test_r3_fails_a_user_name_other_than_the_charge_point_id() -> None:
    row = verdict(build(session(), auth_user="admin"), "R3")
    assert row.verdict == "fail" and "'admin'" in row.evidence[0]["note"]


def test_r3_a_401_is_evidence(tmp_path) -> None:
    refused = verdict(build(session(), records=[rejected_record(-3.0)], tmp_path=tmp_path), "R3")
    assert refused.verdict == "pass" and any(e["http_status"] == 401 for e in refused.evidence)
    assert refused.warnings and "401" in refused.warnings[0]
    bare = verdict(build(session(), records=[rejected_record(-3.0, password=False)]), "R3")
    assert bare.verdict == "fail" and "answered 401" in bare.evidence[0]["note"]


def test_r3_not_observed_for_an_imported_log() -> None:
    assert verdict(build(session(), header={**factory_header(), "proxy_mode": "import:ndjson"}), "R3").verdict == "not_observed"


# --- R4 measurands --------------------------------------------------------------------------------

def _meters(measurands: list[str]) -> list:
    script = session(charge_s=0.0)[:14]  # boot, statuses, start, charging, Transaction.Begin values
    for i in range(3):
        t = BEGIN_S + 60 * (i + 1)
        script += meter(t, f"x{i}", 10000 + i, 7200.0, measurands=measurands)
    return script


def test_r4_passes_power() -> None:
    assert verdict(build(session()), "R4").verdict == "pass"


def test_r4_passes_current_and_voltage() -> None:
    script = _meters(["Energy.Active.Import.Register"])
    for t_s, direction, message in script:
        if isinstance(message, list) and message[0] == 2 and message[2] == "MeterValues":
            message[3]["meterValue"][0]["sampledValue"] = [
                {"value": "32.0", "measurand": "Current.Import", "unit": "A"},
                {"value": "230.0", "measurand": "Voltage", "unit": "V"}]
    row = verdict(build(script), "R4")
    assert row.verdict == "pass" and "Current.Import and Voltage" in row.summary


def test_r4_fails_energy_registers_only() -> None:
    script = [e for e in _meters(["Energy.Active.Import.Register"])
              if not (isinstance(e[2], list) and e[2][0] == 2 and e[2][2] == "MeterValues"
                      and e[2][3]["meterValue"][0]["sampledValue"][0].get("context") == "Transaction.Begin")]
    row = verdict(build(script), "R4")
    assert row.verdict == "fail" and "only Energy.Active.Import.Register" in row.summary


def test_r4_not_observed_without_meter_values() -> None:
    assert verdict(build(session()[:6]), "R4").verdict == "not_observed"


# --- R5 firmware ----------------------------------------------------------------------------------

def test_r5_not_applicable_without_firmware_management() -> None:
    assert verdict(build(session()), "R5").verdict == "not_applicable"


def test_r5_passes_update_firmware_with_status_reports() -> None:
    script = session() + down(3000, "f1", "UpdateFirmware", {"location": "https://x/fw.bin",
                                                             "retrieveDate": "2025-01-06T08:50:00Z"}, {})
    script += up(3001, "f2", "FirmwareStatusNotification", {"status": "Downloading"})
    script += up(3010, "f3", "FirmwareStatusNotification", {"status": "Downloaded"})
    row = verdict(build(script), "R5")
    assert row.verdict == "pass" and row.evidence[0]["firmware_statuses"] == ["Downloading", "Downloaded"]


def test_r5_fails_update_firmware_not_implemented() -> None:
    script = session() + down(3000, "f1", "UpdateFirmware", {"location": "https://x/fw.bin",
                                                             "retrieveDate": "2025-01-06T08:50:00Z"}, None,
                              error_code="NotImplemented")
    row = verdict(build(script), "R5")
    assert row.verdict == "fail" and row.evidence[0]["update_firmware"] == "CALLERROR NotImplemented"


# --- R6 smart charging ----------------------------------------------------------------------------

def _profile(limit: float, unit: str = "W", purpose: str = "TxProfile", connector: int = 1) -> dict:
    profile = {"chargingProfileId": 1, "stackLevel": 1, "chargingProfilePurpose": purpose,
               "chargingProfileKind": "Absolute",
               "chargingSchedule": {"chargingRateUnit": unit, "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}}
    if purpose == "TxProfile":
        profile["transactionId"] = 1001
    return {"connectorId": connector, "csChargingProfiles": profile}


SET_AT = BEGIN_S + 600 + 5  # between two MeterValues


def test_r6_passes_when_power_follows_a_zero_limit() -> None:
    script = replace_meter_values(session(), {SET_AT: 0.0})
    script += down(SET_AT, "s1", "SetChargingProfile", _profile(0.0), {"status": "Accepted"})
    row = verdict(build(script), "R6")
    assert row.verdict == "pass", row.summary
    assert row.evidence[0]["max_after"] == 0.0 and len(row.evidence[0]["frame_seqs"]) > 2


def test_r6_judges_each_profile_until_the_next_one() -> None:
    raise_at = SET_AT + 300  # the limit rises again: full power after it is obedience, not a failure
    script = replace_meter_values(session(), {SET_AT: 0.0, raise_at: 7200.0})
    script += down(SET_AT, "s1", "SetChargingProfile", _profile(0.0), {"status": "Accepted"})
    script += down(raise_at, "s2", "SetChargingProfile", _profile(11000.0), {"status": "Accepted"})
    row = verdict(build(script), "R6")
    assert row.verdict == "pass", row.evidence
    assert [(e["limit"], e["max_after"]) for e in row.evidence] == [(0.0, 0.0), (11000.0, 7200.0)]


def test_r6_fails_accepted_but_charging_on_at_full_power() -> None:
    script = session() + down(SET_AT, "s1", "SetChargingProfile", _profile(0.0), {"status": "Accepted"})
    row = verdict(build(script), "R6")
    assert row.verdict == "fail" and "7,200 W drawn" in row.evidence[0]["note"]


def test_r6_fails_a_rejected_profile() -> None:
    script = session() + down(SET_AT, "s1", "SetChargingProfile", _profile(0.0), {"status": "Rejected"})
    row = verdict(build(script), "R6")
    assert row.verdict == "fail" and row.evidence[0]["answer"] == "Rejected"


def test_r6_limit_in_amperes_judged_through_power() -> None:
    script = replace_meter_values(session(), {SET_AT: 4000.0})  # 6 A x 230 V x 3 = 4140 W
    script += down(SET_AT, "s1", "SetChargingProfile", _profile(6.0, "A", "ChargePointMaxProfile", 0),
                   {"status": "Accepted"})
    assert verdict(build(script), "R6").verdict == "pass"


def test_r6_not_observed_without_meter_values_after_the_profile() -> None:
    script = session() + down(3000, "s1", "SetChargingProfile", _profile(0.0, purpose="ChargePointMaxProfile",
                                                                         connector=0), {"status": "Accepted"})
    assert verdict(build(script), "R6").verdict == "not_observed"
    assert verdict(build(session()), "R6").verdict == "not_observed"


# --- R7 TriggerMessage ----------------------------------------------------------------------------

def _trigger(t_s: float, uid: str, message: str, answer: str, *, send: bool) -> list:
    entries = down(t_s, uid, "TriggerMessage", {"requestedMessage": message}, {"status": answer})
    if send and message == "BootNotification":
        entries += up(t_s + 1, uid + "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"},
                      {"status": "Accepted", "currentTime": "2025-01-06T08:50:01Z", "interval": 300})
    elif send:
        entries += status(t_s + 1, uid + "s", "Available", connector=0)
    return entries


def test_r7_passes_both_triggers_followed_by_their_message() -> None:
    script = session() + _trigger(3000, "t1", "BootNotification", "Accepted", send=True)
    script += _trigger(3010, "t2", "StatusNotification", "Accepted", send=True)
    row = verdict(build(script), "R7")
    assert row.verdict == "pass" and [e["delay_s"] for e in row.evidence] == [1.0, 1.0]


def test_r7_fails_accepted_without_the_message() -> None:
    script = session() + _trigger(3000, "t1", "BootNotification", "Accepted", send=True)
    script += _trigger(3010, "t2", "StatusNotification", "Accepted", send=False)
    row = verdict(build(script), "R7")
    assert row.verdict == "fail" and "StatusNotification" in row.summary


def test_r7_fails_a_rejected_trigger() -> None:
    script = session() + _trigger(3000, "t1", "BootNotification", "Rejected", send=False)
    assert verdict(build(script), "R7").verdict == "fail"


def test_r7_not_observed_when_one_message_was_never_triggered() -> None:
    script = session() + _trigger(3010, "t2", "StatusNotification", "Accepted", send=True)
    row = verdict(build(script), "R7")
    assert row.verdict == "not_observed" and "BootNotification" in row.summary


def test_r7_timeout_is_a_parameter() -> None:
    script = session() + _trigger(3000, "t1", "BootNotification", "Accepted", send=True)
    script += _trigger(3010, "t2", "StatusNotification", "Accepted", send=True)
    assert verdict(build(script), "R7", timeout_s=0.5).verdict == "fail"


# --- R8 configuration -----------------------------------------------------------------------------

MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import"


def _configure(standard: str = "Accepted", document: str = "NotSupported", interval: str = "Accepted") -> list:
    entries = down(5, "k1", "ChangeConfiguration", {"key": "MeterValuesSampledData", "value": MEASURANDS},
                   {"status": standard})
    entries += down(6, "k2", "ChangeConfiguration", {"key": "MeterValuesSampleData", "value": MEASURANDS},
                    {"status": document})
    entries += down(7, "k3", "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "60"},
                    {"status": interval})
    return entries


def test_r8_passes_and_reports_which_spelling_was_accepted() -> None:
    row = verdict(build(session() + _configure()), "R8")
    assert row.verdict == "pass", row.summary
    assert row.evidence[0]["sampled_data_key_spellings"] == {"MeterValuesSampledData": "accepted",
                                                             "MeterValuesSampleData": "not accepted / not sent"}
    assert row.warnings == ["CP1: sampled-data key accepted only as MeterValuesSampledData"]
    assert row.evidence[0]["MeterValueSampleInterval=60"] == "accepted"


def test_r8_fails_when_only_the_documents_spelling_is_accepted() -> None:
    """Refusing the standard OCPP key fails, even with the integrator document's spelling accepted."""
    row = verdict(build(session() + _configure(standard="NotSupported", document="Accepted")), "R8")
    assert row.verdict == "fail", row.summary
    assert "the OCPP key MeterValuesSampledData was answered NotSupported" in row.summary
    assert row.evidence[0]["sampled_data_key_spellings"] == {"MeterValuesSampledData": "not accepted / not sent",
                                                             "MeterValuesSampleData": "accepted"}


def test_r8_not_observed_when_the_interval_was_never_requested() -> None:
    row = verdict(build(session() + _configure()[:4]), "R8")
    assert row.verdict == "not_observed" and "not requested" in row.summary


def test_r8_fails_when_neither_spelling_is_accepted() -> None:
    row = verdict(build(session() + _configure(standard="Rejected")), "R8")
    assert row.verdict == "fail" and "neither" in row.summary


def test_r8_fails_an_ignored_interval() -> None:
    row = verdict(build(session(sample_interval_s=300.0) + _configure()), "R8")
    assert row.verdict == "fail" and "every 300 s" in row.summary


def test_r8_fails_a_rejected_interval() -> None:
    row = verdict(build(session() + _configure(interval="Rejected")), "R8")
    assert row.verdict == "fail" and "MeterValueSampleInterval" in row.summary


def test_r8_fails_meter_values_without_the_requested_measurands() -> None:
    script = _meters(["Energy.Active.Import.Register"]) + _configure()
    row = verdict(build(script), "R8")
    assert row.verdict == "fail" and "lack Power.Active.Import" in row.summary


def test_r8_not_observed_without_change_configuration() -> None:
    assert verdict(build(session()), "R8").verdict == "not_observed"


# --- R9 energy ------------------------------------------------------------------------------------

def test_r9_passes_three_agreeing_figures() -> None:
    row = verdict(build(session()), "R9")
    assert row.verdict == "pass"
    assert row.evidence[0]["energy_meter_wh"] == pytest.approx(3600.0, abs=1)
    assert row.evidence[0]["energy_integrated_wh"] == pytest.approx(3600.0, rel=0.02)


def test_r9_fails_power_that_does_not_integrate_to_the_energy() -> None:
    script = replace_meter_values(session(), {0.0: 3000.0})
    row = verdict(build(script), "R9")
    assert row.verdict == "fail" and row.evidence[0]["check"] == "energy_integrated_mismatch"


def test_r9_not_observed_without_a_complete_session() -> None:
    assert verdict(build(session()[:12]), "R9").verdict == "not_observed"


# --- R10 statuses vs power ------------------------------------------------------------------------

def test_r10_passes_and_lists_the_statuses_used() -> None:
    row = verdict(build(session()), "R10")
    assert row.verdict == "pass"
    assert row.evidence[0]["statuses_used"]["Charging"] == 1


def test_r10_fails_suspended_evse_while_drawing_power() -> None:
    script = session() + status(BEGIN_S + 300, "sus", "SuspendedEVSE") + status(BEGIN_S + 900, "chg", "Charging")
    row = verdict(build(script), "R10")
    assert row.verdict == "fail" and any(e.get("check") == "power_while_suspended" for e in row.evidence)


def test_r10_not_observed_without_status_notifications() -> None:
    script = up(0, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"},
                {"status": "Accepted", "currentTime": "2025-01-06T08:00:00Z", "interval": 300})
    assert verdict(build(script), "R10").verdict == "not_observed"


# --- the whole profile, generic profiles ------------------------------------------------------------

def test_recommended_items_are_never_failed() -> None:
    result = wb.check(build(session()), "ev-energy")
    assert [row.verdict for row in result.rows if row.requirement.level == "recommended"] == ["not_observed"] * 2


def test_core_profile_needs_no_code_and_fails_on_an_invalid_frame() -> None:
    clean = wb.check(build(session()), "ocpp16-core")
    assert not clean.failed and clean.counts()["pass"] == 6
    broken = wb.check(build(session() + [(3000, "up", "[2, not json")]), "ocpp16-core")
    assert [row.requirement.id for row in broken.rows if row.verdict == "fail"] == ["C1"]


def test_an_evaluator_that_crashes_is_a_failed_row_not_an_exception(monkeypatch) -> None:
    from workbench.conformance import requirements

    def boom(cap, req, ctx):
        raise RuntimeError("bug")

    monkeypatch.setitem(requirements.EVALUATORS, "measurands", boom)
    row = verdict(build(session()), "R4")
    assert row.verdict == "fail" and "RuntimeError: bug" in row.summary


def test_profiles_lists_both_with_their_requirements() -> None:
    found = {p["name"]: p for p in wb.profiles()}
    assert found["ev-energy"]["requirements"] == [f"R{i}" for i in range(1, 11)] + ["NF1", "NF2"]
    assert "ocpp16-core" in found


def test_hostile_payloads_give_verdicts_not_crashes() -> None:
    script = session()
    weird = [
        ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": "x"}, {"status": ["Accepted"]}),
        ("SetChargingProfile", {"connectorId": "1", "csChargingProfiles": {
            "chargingProfilePurpose": "TxProfile", "chargingSchedule": {"chargingSchedulePeriod": [{"limit": "0"}]}}},
         {"status": "Accepted"}),
        ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {
            "chargingProfilePurpose": ["TxProfile"], "chargingSchedule": []}}, None),
        ("TriggerMessage", {"requestedMessage": ["BootNotification"]}, {"status": "Accepted"}),
        ("TriggerMessage", {"requestedMessage": "StatusNotification"}, "not a dict"),
        ("ChangeConfiguration", {"key": 5, "value": None}, {"status": "Accepted"}),
        ("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "nan"}, {"status": "Accepted"}),
        ("ChangeConfiguration", {"key": "MeterValuesSampledData", "value": ["x"]}, {"status": "Accepted"}),
        ("UpdateFirmware", [], {}),
    ]
    for i, (action, request, response) in enumerate(weird):
        t = 2000 + i
        script.append((t, "down", [2, f"w{i}", action, request]))
        if response is not None:
            script.append((t + 0.05, "up", [3, f"w{i}", response]))
    script.append((2100, "up", "[2, \"bad\""))
    result = wb.check(build(script), "ev-energy")
    assert not [row.summary for row in result.rows if "could not be evaluated" in row.summary]
    import json

    json.dumps(result.to_dict(), allow_nan=False)
