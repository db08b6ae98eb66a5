"""Charger scripts for the status/energy/timing/transaction tests: a clean, realistic day that every
check must leave silent, with knobs to inject one fault at a time.

Energy model: power is piecewise constant (``power_w`` while Charging, 0 while suspended); the
register is its exact integral, so meterStop - meterStart is the truth and the trapezoid over
60 s samples is within the documented tolerance.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from workbench.analysis import Capture
from workbench.testing import DEFAULT_START, charger_records, iso_at, merge_records

VOLTAGE_V = 230.0


@dataclass
class Script:
    """A charger's frames as (t_s, direction, message) entries, with OCPP builders."""

    charge_point_id: str = "CP1"
    start: dt.datetime = DEFAULT_START
    entries: list[tuple[float, str, Any]] = field(default_factory=list)
    counter: int = 0
    stamp_offset_s: float = 0.0
    """Added to every payload timestamp (clock skew)."""
    naive: bool = False
    """Write payload timestamps without the Z."""

    def iso(self, t: float) -> str:
        text = iso_at(t + self.stamp_offset_s, self.start)
        return text[:-1] if self.naive else text

    def uid(self) -> str:
        self.counter += 1
        return f"{self.charge_point_id}-{self.counter}"

    def call(self, t: float, action: str, payload: dict[str, Any], response: dict[str, Any] | None = None,
             *, from_charger: bool = True) -> str:
        uid = self.uid()
        there, back = ("up", "down") if from_charger else ("down", "up")
        self.entries.append((t, there, [2, uid, action, payload]))
        self.entries.append((t + 0.05, back, [3, uid, response or {}]))
        return uid

    def boot(self, t: float, interval: int = 300) -> None:
        self.call(t, "BootNotification", {"chargePointVendor": "Test", "chargePointModel": "T1"},
                  {"status": "Accepted", "currentTime": iso_at(t, self.start), "interval": interval})

    def status(self, t: float, connector: int, status: str, error_code: str = "NoError",
               timestamp: Any = "auto") -> None:
        payload: dict[str, Any] = {"connectorId": connector, "errorCode": error_code, "status": status}
        if timestamp == "auto":
            payload["timestamp"] = self.iso(t)
        elif timestamp is not None:
            payload["timestamp"] = timestamp
        self.call(t, "StatusNotification", payload)

    def heartbeat(self, t: float) -> None:
        self.call(t, "Heartbeat", {}, {"currentTime": iso_at(t, self.start)})

    def start_tx(self, t: float, connector: int, transaction_id: int, meter_start: int, id_tag: str = "TAG1") -> None:
        self.call(t, "Authorize", {"idTag": id_tag}, {"idTagInfo": {"status": "Accepted"}})
        self.call(t + 1, "StartTransaction", {"connectorId": connector, "idTag": id_tag, "meterStart": meter_start,
                                              "timestamp": self.iso(t + 1)},
                  {"transactionId": transaction_id, "idTagInfo": {"status": "Accepted"}})

    def meter(self, t: float, connector: int, transaction_id: int | None, samples: list[dict[str, Any]],
              sample_t: float | None = None, deliver_t: float | None = None) -> None:
        payload: dict[str, Any] = {"connectorId": connector,
                                   "meterValue": [{"timestamp": self.iso(t if sample_t is None else sample_t),
                                                   "sampledValue": samples}]}
        if transaction_id is not None:
            payload["transactionId"] = transaction_id
        self.call(t if deliver_t is None else deliver_t, "MeterValues", payload)

    def stop(self, t: float, transaction_id: int, meter_stop: int, transaction_data: list[dict[str, Any]] | None,
             reason: str = "Local", id_tag: str = "TAG1") -> None:
        payload: dict[str, Any] = {"transactionId": transaction_id, "idTag": id_tag, "meterStop": meter_stop,
                                   "timestamp": self.iso(t), "reason": reason}
        if transaction_data is not None:
            payload["transactionData"] = transaction_data
        self.call(t, "StopTransaction", payload, {"idTagInfo": {"status": "Accepted"}})

    def records(self, **options: Any) -> list[dict[str, Any]]:
        return charger_records(self.charge_point_id, sorted(self.entries, key=lambda e: e[0]),
                               start=self.start, **options)

    def capture(self, **options: Any) -> Capture:
        return Capture.from_records(self.records(**options))


def samples(register_wh: float, power_w: float, context: str = "Sample.Periodic", *,
            three_phase: bool = True, energy_unit: str = "Wh", energy_scale: float = 1.0,
            with_power: bool = True) -> list[dict[str, Any]]:
    """Sampled values of one reading: register, power, and per phase current and voltage."""
    out = [{"value": f"{register_wh * energy_scale:.3f}" if energy_scale != 1 else f"{register_wh:.0f}",
            "context": context, "measurand": "Energy.Active.Import.Register", "location": "Outlet",
            "unit": energy_unit}]
    if with_power:
        out.append({"value": f"{power_w:.1f}", "context": context, "measurand": "Power.Active.Import",
                    "location": "Outlet", "unit": "W"})
    if three_phase:
        for phase in ("L1", "L2", "L3"):
            out.append({"value": f"{power_w / 3 / VOLTAGE_V:.3f}", "context": context, "measurand": "Current.Import",
                        "phase": phase, "location": "Outlet", "unit": "A"})
            out.append({"value": f"{VOLTAGE_V:.1f}", "context": context, "measurand": "Voltage",
                        "phase": f"{phase}-N", "location": "Outlet", "unit": "V"})
    return out


@dataclass
class Session:
    """One charging session on a connector; times in seconds from the script start."""

    connector: int = 1
    transaction_id: int = 1
    plug_t: float = 100.0
    charge_s: float = 3600.0
    power_w: float = 7000.0
    suspend: tuple[float, float] | None = (1200.0, 1500.0)
    """(from, to) seconds after the start, SuspendedEV in between (power 0)."""
    interval_s: float = 60.0


@dataclass
class Faults:
    """Knobs: each one injects a single fault."""

    kwh_as_wh_from: int | None = None          # from this sample on, the register is sent in kWh labelled Wh
    register_drop_at: int | None = None        # at this sample the register reads 0
    skip_samples: tuple[int, ...] = ()         # samples not sent (a MeterValues gap)
    power_while_suspended_w: float = 0.0       # power reported while SuspendedEV
    meter_stop_offset_wh: int = 0              # added to meterStop
    unknown_tx_in_meter: bool = False          # MeterValues carry transactionId 0
    begin_in_periodic: bool = False            # every periodic reading repeats the Transaction.Begin value
    invalid_transition: bool = False           # Charging -> Reserved mid-session


def add_session(script: Script, s: Session, meter_start: int, faults: Faults | None = None) -> int:
    """Add the frames of one session; returns meterStop (the true register at the end)."""
    faults = faults or Faults()
    c, tx = s.connector, s.transaction_id
    script.status(s.plug_t, c, "Preparing")
    script.start_tx(s.plug_t + 2, c, tx, meter_start)
    t0 = s.plug_t + 3  # StartTransaction time
    script.status(t0 + 0.5, c, "Charging")

    def power_at(elapsed: float) -> float:
        if s.suspend and s.suspend[0] <= elapsed < s.suspend[1]:
            return faults.power_while_suspended_w
        return s.power_w

    def energy_until(elapsed: float) -> float:
        charged = elapsed
        if s.suspend:
            charged -= max(0.0, min(elapsed, s.suspend[1]) - s.suspend[0])
            during = max(0.0, min(elapsed, s.suspend[1]) - s.suspend[0])
            return meter_start + s.power_w * charged / 3600.0 + faults.power_while_suspended_w * during / 3600.0
        return meter_start + s.power_w * charged / 3600.0

    if s.suspend:
        script.status(t0 + s.suspend[0] + 0.2, c, "SuspendedEV")
        script.status(t0 + s.suspend[1] + 0.2, c, "Charging")
        if faults.invalid_transition:
            script.status(t0 + s.suspend[1] + 30.3, c, "Reserved")
            script.status(t0 + s.suspend[1] + 50.3, c, "Charging")
    begin = samples(meter_start, 0.0, "Transaction.Begin", three_phase=False)
    k = 0
    elapsed = s.interval_s
    while elapsed < s.charge_s:
        k += 1
        register = energy_until(elapsed)
        if k not in faults.skip_samples:
            scale, unit = 1.0, "Wh"
            if faults.kwh_as_wh_from is not None and k >= faults.kwh_as_wh_from:
                scale = 0.001
            if faults.register_drop_at == k:
                register = 0.0
            values = samples(register, power_at(elapsed), energy_scale=scale, energy_unit=unit)
            if faults.begin_in_periodic:
                values = begin + values
            script.meter(t0 + elapsed, c, 0 if faults.unknown_tx_in_meter else tx, values)
        elapsed += s.interval_s
    meter_stop = int(round(energy_until(s.charge_s)))
    end_t = t0 + s.charge_s
    script.status(end_t, c, "Finishing")
    script.stop(end_t + 0.2, tx, meter_stop + faults.meter_stop_offset_wh,
                [{"timestamp": script.iso(t0), "sampledValue": begin},
                 {"timestamp": script.iso(end_t), "sampledValue": samples(meter_stop, 0.0, "Transaction.End",
                                                                          three_phase=False)}])
    script.status(end_t + 30, c, "Available")
    return meter_stop


def clean_day(cp: str = "CP1", *, sessions: int = 3, connectors: int = 2, faults: dict[int, Faults] | None = None,
              heartbeat_s: int = 300, meter_start: int = 1_000_000) -> tuple[Script, list[dict[str, Any]]]:
    """A boot, statuses, ``sessions`` sessions spread over the connectors, heartbeats when idle.
    Returns the script and the truth per session (transaction_id, energy_wh, meter_start, meter_stop)."""
    script = Script(cp)
    script.boot(0.0, heartbeat_s)
    for connector in range(connectors + 1):
        script.status(1.0 + connector, connector, "Available")
    truth = []
    register = {c: meter_start * c for c in range(1, connectors + 1)}
    busy_until = 10.0
    for i in range(sessions):
        connector = 1 + i % connectors
        session = Session(connector=connector, transaction_id=100 + i, plug_t=busy_until + 100.0,
                          charge_s=3000.0 + 600 * i, power_w=7000.0 + 1000 * i)
        stop = add_session(script, session, register[connector], (faults or {}).get(i))
        truth.append({"transaction_id": session.transaction_id, "meter_start": register[connector],
                      "meter_stop": stop, "energy_wh": stop - register[connector]})
        register[connector] = stop
        busy_until = session.plug_t + session.charge_s + 100.0
    # Heartbeats while nothing else is said: every heartbeat_s after the last charger message.
    times = sorted(t for t, direction, _ in script.entries if direction == "up")
    hb_times = []
    for a, b in zip(times, times[1:] + [times[-1] + 2 * heartbeat_s]):
        t = a + heartbeat_s * 0.9
        while t < b:
            hb_times.append(t)
            t += heartbeat_s * 0.9
    for t in hb_times:
        script.heartbeat(t)
    return script, truth


def fleet_records(n: int = 3, **options: Any) -> list[dict[str, Any]]:
    """Several clean chargers in one capture (records interleaved by time)."""
    return merge_records(*[clean_day(f"CP{i}", **options)[0].records() for i in range(n)])
