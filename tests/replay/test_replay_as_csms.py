"""Replay as the CSMS: the replayer listens, a real charger dials in. Against the lab charger
(ChangeConfiguration, TriggerMessage, RemoteStart, a TxProfile, RemoteStop) and against the
third-party ``test-ocpp`` tool (BootNotification, Heartbeat)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from replay_lab_helpers import run

import workbench as wb
from workbench.lab import ChargerConfig, LabCharger
from workbench.lab.certs import LabPKI
from workbench.replay import Plan, ReplayOptions, Step
from workbench.replay.run import make_connector, password_source, replay_async
from workbench.testing import exchange, make_capture

pytestmark = pytest.mark.network
TEST_OCPP = Path(sys.executable).with_name("test-ocpp")
CP = "LAB-EV1"
PROFILE = {"chargingProfileId": 7, "transactionId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
           "chargingProfileKind": "Absolute",
           "chargingSchedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 3000.0}]}}


def _integrator_plan() -> Plan:
    """What an integrator's CSMS sends one charger, by hand: the first run records the charger's answers."""
    sends = [
        (0.3, "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "30"}),
        (0.6, "TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}),
        (0.9, "RemoteStartTransaction", {"connectorId": 1, "idTag": "REMOTE01"}),
        (2.0, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": PROFILE}),
        (2.6, "RemoteStopTransaction", {"transactionId": 1}),
    ]
    steps = [Step(CP, "connect")]
    steps += [Step(CP, "send", t_s=t, action=a, payload=p, reply_kind="CALLRESULT", reply={}) for t, a, p in sends]
    steps.append(Step(CP, "close", t_s=3.6, close_code=1000))
    return Plan(role="csms", steps=steps, recorded_start="2026-01-01T00:00:00.000000Z")


def _against_lab_charger(plan: Plan, out: Path | None, options: ReplayOptions, faults: frozenset[str] = frozenset()):
    async def scenario():
        connector = make_connector(plan, listen=("127.0.0.1", 0))
        await connector.start()
        # 100 W: the session's energy stays under 1 Wh whatever the pace, so a replay at reply pace
        # (milliseconds) reports the same meterStop as the recording at real time (seconds).
        config = ChargerConfig(CP, meter_interval_s=60, max_power_w=100, faults=faults)
        charger = LabCharger(config, connector.url, None)
        dial = asyncio.create_task(charger.connect())
        try:
            result = await replay_async(plan, connector, out=out, options=options)
        finally:
            await charger.close()
            dial.cancel()
        return result, charger

    return run(scenario(), timeout_s=60)


def test_csms_replay_against_the_lab_charger_is_clean_the_second_time(tmp_path: Path) -> None:
    recording = tmp_path / "recorded.ocpp.jsonl"
    first, charger = _against_lab_charger(_integrator_plan(), recording, ReplayOptions(speed=1.0, reply_timeout_s=5))
    sent = {r.action: r for r in first.verdict.rows if r.kind == "send"}
    assert all(sent[a].replayed_seq is not None for a in sent)  # each request got its answer
    truth = charger.truth
    assert len(truth) == 1 and truth[0].connector_id == 1 and truth[0].id_tag == "REMOTE01"
    assert charger.configuration_value("MeterValueSampleInterval") == "30"

    # Replay the recording (which now holds the charger's real answers and requests) as the CSMS.
    plan = Plan.from_capture(recording, role="csms")
    assert [plan.steps[i].action for i in plan.select(kind="send")] == [
        "ChangeConfiguration", "TriggerMessage", "RemoteStartTransaction", "SetChargingProfile", "RemoteStopTransaction"]
    assert {"BootNotification", "StartTransaction", "StopTransaction"} <= {
        plan.steps[i].action for i in plan.select(kind="expect")}
    out = tmp_path / "replayed.ocpp.jsonl"
    second, charger = _against_lab_charger(plan, out, ReplayOptions(reply_timeout_s=5, peer_timeout_s=5))
    assert second.verdict.clean, second.verdict.to_text()
    assert [s.status for s in second.verdict.rows if s.action == "SetChargingProfile"] == ["matched"]
    stop = next(r for r in wb.load(out).transactions.itertuples())
    assert stop.stop_reason == "Remote" and stop.transaction_id == 1


def test_csms_replay_sees_a_charger_that_refuses(tmp_path: Path) -> None:
    """The lab charger rejects a TxProfile without a transaction: a differs row, field by field."""
    plan = _integrator_plan().drop(action="RemoteStartTransaction")
    for index in plan.select(kind="send"):
        plan.steps[index].reply = {"status": "Accepted"}
    plan = plan.drop(action="RemoteStopTransaction")
    result, _ = _against_lab_charger(plan, None, ReplayOptions(reply_timeout_s=5, peer_timeout_s=1))
    rows = {r.action: r for r in result.verdict.rows if r.kind == "send"}
    assert rows["ChangeConfiguration"].status == "matched"
    assert rows["SetChargingProfile"].status == "differs"
    assert [(d.pointer, d.recorded, d.replayed) for d in rows["SetChargingProfile"].diffs] == [
        ("/status", "Accepted", "Rejected")]


def test_csms_replay_against_a_misbehaving_lab_charger(tmp_path: Path) -> None:
    """A charger told to refuse GetConfiguration (fault callerror_unsupported): a differs row that
    names the CALLERROR, and the rest of the plan goes on."""
    steps = [Step(CP, "connect"),
             Step(CP, "send", t_s=0.1, action="GetConfiguration", payload={"key": ["MeterValueSampleInterval"]},
                  reply_kind="CALLRESULT", reply={"configurationKey": [
                      {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"}]}),
             Step(CP, "send", t_s=0.2, action="ChangeConfiguration", payload={"key": "HeartbeatInterval", "value": "600"},
                  reply_kind="CALLRESULT", reply={"status": "Accepted"}),
             Step(CP, "close", t_s=0.3, close_code=1000)]
    plan = Plan(role="csms", steps=steps, recorded_start="2026-01-01T00:00:00.000000Z")
    result, _ = _against_lab_charger(plan, None, ReplayOptions(reply_timeout_s=5),
                                     faults=frozenset({"callerror_unsupported"}))
    rows = {r.action: r for r in result.verdict.rows if r.kind == "send"}
    assert rows["GetConfiguration"].status == "differs"
    assert rows["GetConfiguration"].detail.startswith("CALLERROR NotSupported")
    assert rows["ChangeConfiguration"].status == "matched"
    clean, _ = _against_lab_charger(plan, None, ReplayOptions(reply_timeout_s=5))
    assert [(r.status, r.diffs) for r in clean.verdict.rows if r.kind == "send"] == [("matched", [])] * 2


def _boot_heartbeat_capture(tmp_path: Path) -> Path:
    script = exchange(0.0, "b1", "BootNotification", {"chargePointVendor": "TestVendor", "chargePointModel": "TestModel"},
                      {"status": "Accepted", "currentTime": "2025-01-06T08:00:00.000Z", "interval": 300})
    script += exchange(0.2, "h1", "Heartbeat", {}, {"currentTime": "2025-01-06T08:00:00.200Z"})
    return make_capture(tmp_path / "tp.ocpp.jsonl", "TP-1", script, close_at_s=0.5)


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss+basic-auth"])
def test_csms_replay_against_test_ocpp(tmp_path: Path, lab_pki: LabPKI, secure: bool) -> None:
    plan = Plan.from_capture(_boot_heartbeat_capture(tmp_path), role="csms")
    out = tmp_path / "replayed.ocpp.jsonl"

    async def scenario():
        if secure:
            connector = make_connector(plan, listen=("127.0.0.1", 0), cert=lab_pki.server_cert, key=lab_pki.server_key,
                                       passwords=password_source(passwords={"TP-1": "tp-secret"}))
        else:
            connector = make_connector(plan, listen=("127.0.0.1", 0))
        await connector.start()
        extra = ["--password", "tp-secret", "--ca", str(lab_pki.ca_cert)] if secure else []
        tool = await asyncio.create_subprocess_exec(
            str(TEST_OCPP), connector.url, "TP-1", "--timeout", "10", *extra,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env={**os.environ})
        result = await replay_async(plan, connector, out=out, options=ReplayOptions(peer_timeout_s=10))
        output, _ = await asyncio.wait_for(tool.communicate(), 30)
        return result, tool.returncode, output.decode()

    result, returncode, output = run(scenario(), timeout_s=60)
    assert returncode == 0, output
    assert "BootNotification status: Accepted" in output
    assert result.verdict.clean, result.verdict.to_text()
    assert [r.action for r in result.verdict.rows] == ["BootNotification", "Heartbeat"]
    opened = next(r for r in wb.read_capture(out)[1] if r["type"] == "connection_open")
    assert opened["auth_password_present"] is secure
    # test-ocpp leaves by itself, as the recorded charger did: the replayer waited for it, did not close first
    closed = next(r for r in wb.read_capture(out)[1] if r["type"] == "connection_close")
    assert closed["closed_by"] == "charger" and closed["close_code"] == 1000
    assert b"tp-secret" not in out.read_bytes()


def test_csms_replay_refuses_a_wrong_password(tmp_path: Path, lab_pki: LabPKI) -> None:
    plan = Plan.from_capture(_boot_heartbeat_capture(tmp_path), role="csms")

    async def scenario():
        connector = make_connector(plan, listen=("127.0.0.1", 0), cert=lab_pki.server_cert, key=lab_pki.server_key,
                                   passwords=password_source(passwords={"TP-1": "right"}))
        await connector.start()
        tool = await asyncio.create_subprocess_exec(
            str(TEST_OCPP), connector.url, "TP-1", "--timeout", "5", "--password", "wrong", "--ca", str(lab_pki.ca_cert),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        result = await replay_async(plan, connector, options=ReplayOptions(connect_timeout_s=3))
        await asyncio.wait_for(tool.communicate(), 30)
        return result, tool.returncode, connector.rejections

    result, returncode, rejections = run(scenario(), timeout_s=60)
    assert returncode != 0 and rejections == [("TP-1", 401)]
    assert result.verdict.exit_code == 2
