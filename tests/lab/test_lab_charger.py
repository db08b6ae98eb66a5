"""The lab charger against the lab CSMS over real WSS (TLS 1.2, Basic Auth): a full scripted
scenario, what both peers recorded, and the truth of every session."""

from __future__ import annotations

import pytest
from lab_wire import CHARGER, CSMS, actions, parsed, requests, run, sampled, statuses, ts

from workbench.lab.certs import LabPKI
from workbench.lab.charger import ChargerConfig, LabCharger
from workbench.lab.csms import LabCSMS
from workbench.lab.truth import read_truth, truth_path
from workbench.ocppj import MessageKind

pytestmark = [pytest.mark.network, pytest.mark.timeout(60)]

PASSWORD = "Lab-0123456789abcdef"
MAX_POWER_W = 7200.0


@pytest.fixture(scope="module")
def scenario(lab_pki: LabPKI) -> tuple[LabCSMS, LabCharger, list]:
    """Two connectors, two sessions in parallel, meter every 0.5 s, heartbeat every 1 s."""

    async def go() -> tuple[LabCSMS, LabCharger, list]:
        async with LabCSMS(pki=lab_pki, passwords={"CP-1": PASSWORD}) as csms:
            config = ChargerConfig(
                "CP-1", PASSWORD, connectors=2, meter_interval_s=0.5, heartbeat_interval_s=1, max_power_w=MAX_POWER_W
            )
            charger = LabCharger(config, csms.url, lab_pki.client_ssl_context())
            truth = await charger.run_sessions(2, 2.5)
            await csms.wait_disconnected("CP-1", 5)
        return csms, charger, truth

    return run(go())


def test_connection_is_wss_tls12_with_ocpp16_and_closed_cleanly(scenario) -> None:
    csms, charger, _ = scenario
    assert charger.connections == 1 and charger.errors == []
    assert csms.connection_log == [
        {
            "charge_point_id": "CP-1",
            "subprotocol": "ocpp1.6",
            "tls_version": "TLSv1.2",
            "cipher": csms.connection_log[0]["cipher"],
            "close_code": 1000,
        }
    ]
    assert "GCM" in csms.connection_log[0]["cipher"]


def test_both_peers_recorded_the_same_frames(scenario) -> None:
    csms, charger, _ = scenario
    seen_by_csms = csms.frames_of("CP-1")
    assert len(charger.frames) == len(seen_by_csms) > 40
    for direction in (CHARGER, CSMS):
        sent = [text for d, text in charger.frames if d == direction]
        assert sent == [text for d, text in seen_by_csms if d == direction]
    # Every request got exactly one answer and none was an error.
    kinds = [frame.kind for _, frame in parsed(charger.frames)]
    assert MessageKind.CALLERROR not in kinds and MessageKind.INVALID not in kinds
    calls = {frame.unique_id for d, frame in parsed(charger.frames) if d == CHARGER and frame.kind == MessageKind.CALL}
    answers = [frame.unique_id for d, frame in parsed(charger.frames) if d == CSMS and frame.kind == MessageKind.CALLRESULT]
    assert sorted(answers) == sorted(calls)


def test_boot_statuses_heartbeats(scenario) -> None:
    _, charger, _ = scenario
    sent = actions(charger.frames)
    assert sent[:5] == ["BootNotification", "StatusNotification", "StatusNotification", "StatusNotification", "Heartbeat"]
    boot_statuses = requests(charger.frames, "StatusNotification")[:3]
    assert [(s["connectorId"], s["status"]) for s in boot_statuses] == [(0, "Available"), (1, "Available"), (2, "Available")]
    # One heartbeat after boot, then one per HeartbeatInterval (1 s) during the ~3 s of sessions.
    assert sent.count("Heartbeat") >= 3


def test_status_sequence_has_suspended_periods(scenario) -> None:
    _, charger, _ = scenario
    for connector_id in (1, 2):
        assert statuses(charger.frames, connector_id) == [
            "Available", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Charging", "Finishing", "Available",
        ]


def test_meter_values_carry_every_measurand_with_units_at_the_interval(scenario) -> None:
    _, charger, _ = scenario
    starts = {p["connectorId"]: p for p in requests(charger.frames, "StartTransaction")}
    for message in requests(charger.frames, "MeterValues"):
        assert message["transactionId"] is not None
        (meter_value,) = message["meterValue"]
        energy = sampled(meter_value, "Energy.Active.Import.Register")
        power = sampled(meter_value, "Power.Active.Import")
        assert energy["unit"] == "Wh" and energy["context"] == "Sample.Periodic"
        assert int(energy["value"]) >= starts[message["connectorId"]]["meterStart"]
        assert power["unit"] == "W" and float(power["value"]) in (0.0, MAX_POWER_W)
        for phase in ("L1", "L2", "L3"):
            current = sampled(meter_value, "Current.Import", phase)
            assert current["unit"] == "A"
            # P = 3 * V * I within rounding of I to 0.01 A
            assert abs(3 * 230.0 * float(current["value"]) - float(power["value"])) < 3 * 230.0 * 0.006
        for phase in ("L1-N", "L2-N", "L3-N"):
            assert sampled(meter_value, "Voltage", phase) == {
                "value": "230.0", "context": "Sample.Periodic", "measurand": "Voltage",
                "location": "Outlet", "phase": phase, "unit": "V",
            }
    for connector_id in (1, 2):
        samples = [m for m in requests(charger.frames, "MeterValues") if m["connectorId"] == connector_id]
        times = [ts(m["meterValue"][0]["timestamp"]) for m in samples]
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
        assert len(samples) >= 4
        assert all(0.45 <= gap <= 0.6 for gap in gaps), gaps
        registers = [int(sampled(m["meterValue"][0], "Energy.Active.Import.Register")["value"]) for m in samples]
        assert registers == sorted(registers)


def test_power_matches_status_at_every_sample(scenario) -> None:
    _, charger, _ = scenario
    status_now = {}
    for direction, frame in parsed(charger.frames):
        if direction != CHARGER or frame.kind != MessageKind.CALL:
            continue
        if frame.action == "StatusNotification":
            status_now[frame.payload["connectorId"]] = frame.payload["status"]
        elif frame.action == "MeterValues":
            power = float(sampled(frame.payload["meterValue"][0], "Power.Active.Import")["value"])
            expected = MAX_POWER_W if status_now[frame.payload["connectorId"]] == "Charging" else 0.0
            assert power == expected


def test_truth_equals_meter_stop_minus_start_and_stop_has_transaction_data(scenario, tmp_path) -> None:
    csms, charger, truth = scenario
    starts = {p["connectorId"]: p for p in requests(charger.frames, "StartTransaction")}
    stops = {p["transactionId"]: p for p in requests(charger.frames, "StopTransaction")}
    assert len(truth) == 2 and {s.connector_id for s in truth} == {1, 2}
    assert {s.transaction_id for s in truth} == set(csms.transactions) == set(stops)
    for session in truth:
        start, stop = starts[session.connector_id], stops[session.transaction_id]
        assert session.energy_wh == stop["meterStop"] - start["meterStart"] > 0
        assert (session.meter_start_wh, session.meter_stop_wh) == (start["meterStart"], stop["meterStop"])
        assert ts(start["timestamp"]) == session.start_ts and ts(stop["timestamp"]) == session.stop_ts
        # Energy ~ power x charging time (two charging stretches); the register counts whole Wh.
        begin, end = stop["transactionData"]
        assert sampled(begin, "Energy.Active.Import.Register")["context"] == "Transaction.Begin"
        assert sampled(begin, "Energy.Active.Import.Register")["value"] == str(start["meterStart"])
        assert sampled(end, "Energy.Active.Import.Register")["context"] == "Transaction.End"
        assert sampled(end, "Energy.Active.Import.Register")["value"] == str(stop["meterStop"])
        assert "reason" not in stop and stop["idTag"] == session.id_tag  # Local: the default reason
    path = charger.write_truth(truth_path(tmp_path / "lab.ocpp.jsonl"))
    assert read_truth(path).sessions == tuple(truth)


def test_energy_is_the_integral_of_the_reported_power(scenario) -> None:
    """The register advances by power x time: compare with a left Riemann sum over the samples."""
    _, charger, truth = scenario
    for session in truth:
        samples = [
            m["meterValue"][0] for m in requests(charger.frames, "MeterValues") if m["transactionId"] == session.transaction_id
        ]
        points = [(session.start_ts, MAX_POWER_W)]  # power is on from the start (Charging)
        points += [(ts(s["timestamp"]), float(sampled(s, "Power.Active.Import")["value"])) for s in samples]
        points.append((session.stop_ts, 0.0))
        integrated_wh = sum(p * (t2 - t1).total_seconds() / 3600 for (t1, p), (t2, _) in zip(points, points[1:]))
        # Whole-Wh register: at most 1 Wh behind; power changes land a few ms after the tick.
        assert abs(integrated_wh - session.energy_wh) < 1.5, (integrated_wh, session.energy_wh)
