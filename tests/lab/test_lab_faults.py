"""Every fault the lab charger can be told to show appears on the wire as described, the truth
stays right, and a clean charger next to them shows none. One lab run serves every test."""

from __future__ import annotations

import pytest
from lab_wire import CHARGER, CSMS, parsed, requests, run, sampled, statuses, ts

from workbench.lab.certs import LabPKI
from workbench.lab.charger import FAULT_NAMES, ChargerConfig, LabCharger, run_lab_chargers, write_chargers_truth
from workbench.lab.csms import LabCSMS
from workbench.lab.truth import read_truth, truth_path, write_truth
from workbench.ocppj import MessageKind

pytestmark = [pytest.mark.network, pytest.mark.timeout(90)]

PASSWORD = "Lab-0123456789abcdef"
CLEAN = "CLEAN"


@pytest.fixture(scope="module")
def lab(lab_pki: LabPKI) -> tuple[LabCSMS, dict[str, LabCharger]]:
    """One charger per fault plus a clean one, 2 sessions each on one connector, all at once."""
    names = sorted(FAULT_NAMES) + [CLEAN]

    async def go() -> tuple[LabCSMS, dict[str, LabCharger]]:
        passwords = {name: PASSWORD for name in names}
        async with LabCSMS(pki=lab_pki, passwords=passwords, get_configuration_on_boot=True) as csms:
            configs = [
                ChargerConfig(
                    name, PASSWORD, connectors=1, meter_interval_s=0.5, offline_s=1.0,
                    faults=frozenset() if name == CLEAN else frozenset({name}),
                )
                for name in names
            ]
            chargers = await run_lab_chargers(csms.url, lab_pki.client_ssl_context(), configs, 2, 2.0)
            for name in names:
                await csms.wait_disconnected(name, 5)
        return csms, {charger.charge_point_id: charger for charger in chargers}

    return run(go(), timeout_s=80)


def stop_of(charger: LabCharger, transaction_id: int) -> dict:
    stops = requests(charger.frames, "StopTransaction")
    return next(stop for stop in stops if stop["transactionId"] == transaction_id)


def calls_sent(charger: LabCharger) -> list[tuple[str, dict]]:
    """(action, payload) of every CALL the charger sent, in order."""
    return [
        (frame.action, frame.payload)
        for direction, frame in parsed(charger.frames)
        if direction == CHARGER and frame.kind == MessageKind.CALL
    ]


def test_both_peers_saw_the_same_frames_even_across_reconnects(lab) -> None:
    csms, chargers = lab
    for name, charger in chargers.items():
        seen = csms.frames_of(name)
        for direction in (CHARGER, CSMS):
            assert [t for d, t in charger.frames if d == direction] == [t for d, t in seen if d == direction], name
        assert charger.errors == []


def test_clean_charger_truth_is_exact_and_shows_no_fault(lab) -> None:
    _, chargers = lab
    charger = chargers[CLEAN]
    assert charger.faults_injected == [] and charger.connections == 1
    assert len(charger.truth) == 2
    for session in charger.truth:
        starts = requests(charger.frames, "StartTransaction")
        start = next(s for s in starts if ts(s["timestamp"]) == session.start_ts)
        stop = stop_of(charger, session.transaction_id)
        assert session.energy_wh == stop["meterStop"] - start["meterStart"] > 0
    kinds = {frame.kind for _, frame in parsed(charger.frames)}
    assert MessageKind.CALLERROR not in kinds


def test_every_fault_is_recorded_once_in_the_first_session(lab, tmp_path) -> None:
    _, chargers = lab
    for name in FAULT_NAMES:
        charger = chargers[name]
        assert [fault.fault for fault in charger.faults_injected] == [name]
        fault = charger.faults_injected[0]
        first = charger.truth[0]
        assert fault.charge_point_id == name
        if name == "invalid_transition":
            assert first.stop_ts <= fault.ts < charger.truth[1].start_ts  # right after the stop
        elif fault.connector_id is not None:
            assert first.start_ts <= fault.ts <= first.stop_ts
        path = write_truth(tmp_path / f"{name}.truth.json", charger.truth, charger.faults_injected)
        assert read_truth(path).faults == tuple(charger.faults_injected)


def test_reboot_during_transaction_queues_a_power_loss_stop_after_the_new_boot(lab) -> None:
    csms, chargers = lab
    charger = chargers["reboot_during_transaction"]
    assert charger.connections == 2
    log = [entry for entry in csms.connection_log if entry["charge_point_id"] == charger.charge_point_id]
    assert [entry["close_code"] for entry in log] == [1006, 1000]
    sent = calls_sent(charger)
    second_boot = [i for i, (action, _) in enumerate(sent) if action == "BootNotification"][1]
    stop_index = next(
        i for i, (action, p) in enumerate(sent) if action == "StopTransaction" and p.get("reason") == "PowerLoss"
    )
    assert stop_index > second_boot
    # After the boot: connector 0 and 1 statuses first, then the queued stop, carrying the old time.
    after_boot = [action for action, _ in sent[second_boot + 1 : second_boot + 3]]
    assert after_boot == ["StatusNotification", "StatusNotification"]
    stop = sent[stop_index][1]
    boot_status_time = ts(sent[second_boot + 1][1]["timestamp"])
    assert ts(stop["timestamp"]) < boot_status_time
    first = charger.truth[0]
    assert ts(stop["timestamp"]) == first.stop_ts == charger.faults_injected[0].ts
    assert first.energy_wh == stop["meterStop"] - first.meter_start_wh
    assert charger.truth[1].meter_start_wh == stop["meterStop"]  # the meter survived the reboot


def test_reconnect_delivers_meter_values_sampled_offline_late(lab) -> None:
    csms, chargers = lab
    charger = chargers["reconnect"]
    assert charger.connections == 2
    sent = calls_sent(charger)
    assert [action for action, _ in sent].count("BootNotification") == 1  # a plain reconnect, no boot
    drop = charger.faults_injected[0].ts
    # The first message after the reconnect is a status (current status of connector 0, then 1).
    late = [
        p for action, p in sent if action == "MeterValues" and ts(p["meterValue"][0]["timestamp"]) > drop
    ]
    resent_statuses = [
        (i, p) for i, (action, p) in enumerate(sent) if action == "StatusNotification" and p["connectorId"] == 0
    ]
    reconnect_index, reconnect_status = resent_statuses[1]
    back = ts(reconnect_status["timestamp"])
    queued = [p for p in late if ts(p["meterValue"][0]["timestamp"]) < back]
    assert len(queued) >= 1  # sampled while offline (1 s at 0.5 s interval) ...
    first_queued_index = next(i for i, (action, p) in enumerate(sent) if p is queued[0])
    assert first_queued_index > reconnect_index  # ... and delivered after the reconnect
    stop = stop_of(charger, charger.truth[0].transaction_id)
    assert charger.truth[0].energy_wh == stop["meterStop"] - charger.truth[0].meter_start_wh


def test_invalid_transition_finishing_to_charging(lab) -> None:
    _, chargers = lab
    sequence = statuses(chargers["invalid_transition"].frames, 1)
    finishing = sequence.index("Finishing")
    assert sequence[finishing : finishing + 3] == ["Finishing", "Charging", "Available"]
    clean = statuses(chargers[CLEAN].frames, 1)
    assert clean.count("Finishing") == 2
    assert [after for before, after in zip(clean, clean[1:]) if before == "Finishing"] == ["Available", "Available"]


def test_kwh_as_wh_first_session_registers_are_a_thousand_times_too_small(lab) -> None:
    _, chargers = lab
    charger = chargers["kwh_as_wh"]
    first, second = charger.truth
    by_tx = {}
    for message in requests(charger.frames, "MeterValues"):
        value = sampled(message["meterValue"][0], "Energy.Active.Import.Register")
        assert value["unit"] == "Wh"
        by_tx.setdefault(message["transactionId"], []).append(float(value["value"]))
    assert all(abs(v * 1000 - first.meter_start_wh) < 100 for v in by_tx[first.transaction_id])
    assert all(v >= second.meter_start_wh for v in by_tx[second.transaction_id])
    # meterStart/meterStop stay in Wh, so the truth still equals stop - start.
    assert first.energy_wh == first.meter_stop_wh - first.meter_start_wh > 0
    end = stop_of(charger, first.transaction_id)["transactionData"][-1]
    assert sampled(end, "Energy.Active.Import.Register")["value"] == f"{first.meter_stop_wh / 1000:.3f}"


def test_register_reset_makes_meter_stop_below_meter_start_but_truth_counts_everything(lab) -> None:
    _, chargers = lab
    charger = chargers["register_reset"]
    first = charger.truth[0]
    assert first.meter_stop_wh < first.meter_start_wh
    before_reset = float(charger.faults_injected[0].detail.split("from ")[1].split(" Wh")[0])
    assert first.energy_wh == (before_reset - first.meter_start_wh) + first.meter_stop_wh
    assert first.energy_wh > first.meter_stop_wh  # energy before and after the reset
    registers = [
        int(sampled(m["meterValue"][0], "Energy.Active.Import.Register")["value"])
        for m in requests(charger.frames, "MeterValues")
        if m["transactionId"] == first.transaction_id
    ]
    assert registers[0] >= first.meter_start_wh and registers[-1] < first.meter_start_wh


def test_callerror_unsupported_answers_get_configuration_with_not_supported(lab) -> None:
    csms, chargers = lab
    assert [type(error).__name__ for error in csms.background_errors] == ["NotSupportedError"]
    frames = parsed(chargers["callerror_unsupported"].frames)
    request = next(f for d, f in frames if d == CSMS and f.action == "GetConfiguration")
    reply = next(f for d, f in frames if d == CHARGER and f.unique_id == request.unique_id)
    assert reply.kind == MessageKind.CALLERROR and reply.error_code == "NotSupported"
    clean = parsed(chargers[CLEAN].frames)
    clean_request = next(f for d, f in clean if d == CSMS and f.action == "GetConfiguration")
    clean_reply = next(f for d, f in clean if d == CHARGER and f.unique_id == clean_request.unique_id)
    assert clean_reply.kind == MessageKind.CALLRESULT


def test_one_sidecar_for_all_chargers(lab, tmp_path) -> None:
    _, chargers = lab
    path = write_chargers_truth(truth_path(tmp_path / "lab.ocpp.jsonl"), list(chargers.values()))
    truth = read_truth(path)
    assert path.name == "lab.ocpp.jsonl.truth.json"
    assert len(truth.sessions) == 2 * len(chargers)
    assert sorted(fault.fault for fault in truth.faults) == sorted(FAULT_NAMES)
    # The CSMS numbers transactions across chargers, so (charge point, id) and id alone are unique.
    assert len({session.transaction_id for session in truth.sessions}) == len(truth.sessions)
