"""CSMS-initiated requests change the lab charger's behaviour: ChangeConfiguration,
GetConfiguration, TriggerMessage, SetChargingProfile (0 then raised), RemoteStart/Stop, Reset."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from lab_wire import CHARGER, CSMS, parsed, requests, run, sampled, statuses, ts
from ocpp.v16 import call

from workbench.lab.certs import LabPKI
from workbench.lab.charger import ChargerConfig, LabCharger
from workbench.lab.csms import LabCSMS
from workbench.ocppj import MessageKind

pytestmark = [pytest.mark.network, pytest.mark.timeout(60)]

PASSWORD = "Lab-0123456789abcdef"
CP = "CP-CTL"


def with_lab(
    lab_pki: LabPKI, body: Callable[[LabCSMS, LabCharger], Awaitable[Any]], **config: Any
) -> tuple[LabCSMS, LabCharger, Any]:
    """Run ``body(csms, charger)`` with a connected charger (manual mode)."""

    async def go() -> tuple[LabCSMS, LabCharger, Any]:
        async with LabCSMS(pki=lab_pki, passwords={CP: PASSWORD}) as csms:
            settings = {"connectors": 2, "meter_interval_s": 0.5, "max_power_w": 11040.0, **config}
            charger = LabCharger(ChargerConfig(CP, PASSWORD, **settings), csms.url, lab_pki.client_ssl_context())
            async with charger:
                await csms.wait_connected(CP, 5)
                result = await body(csms, charger)
        assert charger.errors == []
        return csms, charger, result

    return run(go())


async def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


def meter_values_after(charger: LabCharger, count: int) -> Callable[[], bool]:
    already = len(requests(charger.frames, "MeterValues"))
    return lambda: len(requests(charger.frames, "MeterValues")) >= already + count


def last_sample_ts(charger: LabCharger):
    return ts(requests(charger.frames, "MeterValues")[-1]["meterValue"][0]["timestamp"])


def last_power_w(charger: LabCharger) -> float:
    last = requests(charger.frames, "MeterValues")[-1]["meterValue"][0]
    return float(sampled(last, "Power.Active.Import")["value"])


def test_change_and_get_configuration(lab_pki: LabPKI) -> None:
    async def body(csms: LabCSMS, charger: LabCharger) -> dict[str, Any]:
        answers = {}
        keys = ["MeterValueSampleInterval", "NoSuchKey", "AuthorizationKey"]
        before = await csms.call(CP, call.GetConfiguration(key=keys))
        answers["before"] = before
        for key, value in [
            ("MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import"),
            ("MeterValueSampleInterval", "0.2"),
            ("MeterValuesSampleInterval", "60"),  # the common misspelling is not a key
            ("NumberOfConnectors", "5"),  # read-only
            ("MeterValuesSampledData", "Energy.Active.Import.Register,SoC"),  # SoC is not measured
        ]:
            answers[(key, value)] = (await csms.call(CP, call.ChangeConfiguration(key=key, value=value))).status
        answers["after"] = await csms.call(CP, call.GetConfiguration())
        await charger.start_transaction(1)
        await wait_until(meter_values_after(charger, 4))
        await charger.stop_transaction(1)
        return answers

    _, charger, answers = with_lab(lab_pki, body)
    before = answers["before"]
    assert before.configuration_key == [{"key": "MeterValueSampleInterval", "readonly": False, "value": "0.5"}]
    assert before.unknown_key == ["NoSuchKey", "AuthorizationKey"]  # write-only key is never revealed
    assert answers[("MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import")] == "Accepted"
    assert answers[("MeterValueSampleInterval", "0.2")] == "Accepted"
    assert answers[("MeterValuesSampleInterval", "60")] == "NotSupported"
    assert answers[("NumberOfConnectors", "5")] == "Rejected"
    assert answers[("MeterValuesSampledData", "Energy.Active.Import.Register,SoC")] == "Rejected"
    after = {entry["key"]: entry["value"] for entry in answers["after"].configuration_key}
    assert after["MeterValueSampleInterval"] == "0.2" and after["NumberOfConnectors"] == "2"
    assert after["MeterValuesSampledData"] == "Energy.Active.Import.Register,Power.Active.Import"
    assert "AuthorizationKey" not in after

    samples = [m["meterValue"][0] for m in requests(charger.frames, "MeterValues")]
    assert all(
        [v["measurand"] for v in sample["sampledValue"]] == ["Energy.Active.Import.Register", "Power.Active.Import"]
        for sample in samples
    )
    times = [ts(sample["timestamp"]) for sample in samples]
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
    assert all(0.15 <= gap <= 0.3 for gap in gaps), gaps


def test_set_charging_profile_zero_suspends_and_raising_resumes(lab_pki: LabPKI) -> None:
    def profile(transaction_id: int, unit: str, limit: float) -> dict[str, Any]:
        return {
            "chargingProfileId": 7,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "transactionId": transaction_id,
            "chargingSchedule": {"chargingRateUnit": unit, "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]},
        }

    async def body(csms: LabCSMS, charger: LabCharger) -> list[tuple[str, float, str]]:
        steps = []
        request = call.SetChargingProfile(connector_id=1, cs_charging_profiles=profile(1, "W", 0))
        early = await csms.call(CP, request)
        steps.append(("no transaction yet", early.status))
        transaction_id = await charger.start_transaction(1)
        await wait_until(meter_values_after(charger, 1))
        steps.append(("charging", last_power_w(charger), charger.status(1)))
        for unit, limit, status in [("W", 0, "SuspendedEVSE"), ("A", 10, "Charging")]:
            request = call.SetChargingProfile(connector_id=1, cs_charging_profiles=profile(transaction_id, unit, limit))
            answer = await csms.call(CP, request)
            await wait_until(lambda: csms.charge_points[CP].statuses[1] == status)
            status_ts = ts(requests(charger.frames, "StatusNotification")[-1]["timestamp"])
            # The first sample taken after the status change shows the new power.
            await wait_until(lambda: last_sample_ts(charger) > status_ts)
            steps.append((answer.status, last_power_w(charger), csms.charge_points[CP].statuses[1]))
        await charger.stop_transaction(1)
        return steps

    _, charger, steps = with_lab(lab_pki, body)
    assert steps == [
        ("no transaction yet", "Rejected"),  # a TxProfile needs a transaction
        ("charging", 11040.0, "Charging"),
        ("Accepted", 0.0, "SuspendedEVSE"),  # a 0 limit stops energy
        ("Accepted", 6900.0, "Charging"),  # 10 A x 230 V x 3 phases
    ]
    assert statuses(charger.frames, 1) == [
        "Available", "Preparing", "Charging", "SuspendedEVSE", "Charging", "Finishing", "Available",
    ]
    # The charger answers first, then reports the new status.
    frames = parsed(charger.frames)
    request_ids = [f.unique_id for d, f in frames if d == CSMS and f.action == "SetChargingProfile"]
    reply_at = next(i for i, (d, f) in enumerate(frames) if d == CHARGER and f.unique_id == request_ids[1])
    suspended_at = next(
        i for i, (_, f) in enumerate(frames) if f.action == "StatusNotification" and f.payload["status"] == "SuspendedEVSE"
    )
    assert frames[reply_at][1].kind == MessageKind.CALLRESULT and reply_at < suspended_at


def test_trigger_message_answers_then_sends_the_triggered_message(lab_pki: LabPKI) -> None:
    async def body(csms: LabCSMS, charger: LabCharger) -> list[str]:
        await charger.start_transaction(2)
        answers = []
        triggers = [("MeterValues", 2), ("StatusNotification", 1), ("Heartbeat", None), ("BootNotification", None)]
        for requested, connector in triggers:
            request = call.TriggerMessage(requested_message=requested, connector_id=connector)
            answers.append((await csms.call(CP, request)).status)
        await wait_until(lambda: len(requests(charger.frames, "BootNotification")) == 2)
        await charger.stop_transaction(2)
        return answers

    csms, charger, answers = with_lab(lab_pki, body)
    assert answers == ["Accepted"] * 4
    frames = parsed(charger.frames)
    for action in ("MeterValues", "Heartbeat"):
        trigger_index = next(
            i for i, (d, f) in enumerate(frames)
            if d == CSMS and f.action == "TriggerMessage" and f.payload["requestedMessage"] == action
        )
        trigger_id = frames[trigger_index][1].unique_id
        reply_index = next(i for i, (d, f) in enumerate(frames) if d == CHARGER and f.unique_id == trigger_id)
        sent_index = next(
            i for i, (d, f) in enumerate(frames) if i > trigger_index and d == CHARGER and f.action == action
        )
        assert trigger_index < reply_index < sent_index
    triggered = [
        m for m in requests(charger.frames, "MeterValues") if m["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
    ]
    assert len(triggered) == 1 and triggered[0]["connectorId"] == 2 and triggered[0]["transactionId"] == 1
    assert statuses(charger.frames, 1) == ["Available", "Available"]  # initial, then triggered
    assert csms.charge_points[CP].boots == 2


def test_remote_start_stop_and_reset(lab_pki: LabPKI) -> None:
    async def body(csms: LabCSMS, charger: LabCharger) -> list[str]:
        answers = [(await csms.call(CP, call.RemoteStartTransaction(id_tag="REMOTE01", connector_id=2))).status]
        await wait_until(lambda: charger.transaction_id(2) is not None)
        transaction_id = charger.transaction_id(2)
        busy = call.RemoteStartTransaction(id_tag="REMOTE02", connector_id=2)
        answers.append((await csms.call(CP, busy)).status)
        answers.append((await csms.call(CP, call.RemoteStopTransaction(transaction_id=999))).status)
        answers.append((await csms.call(CP, call.RemoteStopTransaction(transaction_id=transaction_id))).status)
        await wait_until(lambda: csms.transactions[transaction_id].stop_reason is not None)
        await wait_until(lambda: charger.status(2) == "Available")
        await charger.start_transaction(1)
        answers.append((await csms.call(CP, call.Reset(type="Soft"))).status)
        await wait_until(lambda: charger.connections == 2 and charger.connected)
        return answers

    csms, charger, answers = with_lab(lab_pki, body)
    assert answers == ["Accepted", "Rejected", "Rejected", "Accepted", "Accepted"]
    starts = requests(charger.frames, "StartTransaction")
    assert [(s["connectorId"], s["idTag"]) for s in starts] == [(2, "REMOTE01"), (1, "LABTAG02")]
    assert requests(charger.frames, "Authorize") == [{"idTag": "LABTAG02"}]  # AuthorizeRemoteTxRequests=false
    reasons = [stop.get("reason") for stop in requests(charger.frames, "StopTransaction")]
    assert reasons == ["Remote", "SoftReset"]
    assert [t.stop_reason for t in csms.transactions.values()] == ["Remote", "SoftReset"]
    assert csms.charge_points[CP].boots == 2
    assert csms.connection_log[0]["close_code"] == 1000
    assert [truth.energy_wh for truth in charger.truth] == [
        t.meter_stop_wh - t.meter_start_wh for t in csms.transactions.values()
    ]


def test_change_availability_now_or_after_the_session(lab_pki: LabPKI) -> None:
    async def body(csms: LabCSMS, charger: LabCharger) -> list[str]:
        await charger.start_transaction(1)
        answers = [
            (await csms.call(CP, call.ChangeAvailability(connector_id=2, type="Inoperative"))).status,
            (await csms.call(CP, call.ChangeAvailability(connector_id=1, type="Inoperative"))).status,
        ]
        seen = csms.charge_points[CP].statuses  # what the CSMS was told
        await wait_until(lambda: seen[2] == "Unavailable")
        await charger.stop_transaction(1)
        answers.append((await csms.call(CP, call.ChangeAvailability(connector_id=0, type="Operative"))).status)
        await wait_until(lambda: seen[1] == seen[2] == "Available")
        return answers

    csms, charger, answers = with_lab(lab_pki, body, meter_interval_s=5)
    assert answers == ["Accepted", "Scheduled", "Accepted"]
    assert statuses(charger.frames, 1) == ["Available", "Preparing", "Charging", "Finishing", "Unavailable", "Available"]
    assert statuses(charger.frames, 2) == ["Available", "Unavailable", "Available"]
    assert statuses(charger.frames, 0) == ["Available"]  # already Available: not repeated
