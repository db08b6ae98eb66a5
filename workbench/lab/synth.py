"""Synthetic captures with known truth: a fleet of chargers simulated without a network.

:func:`generate` writes a capture (format v1, the same bytes :class:`~workbench.capture.CaptureWriter`
would write) and its ground-truth sidecar (``<capture>.truth.json``, :mod:`workbench.lab.truth`):
the true energy of every session and every fault injected, with its time.

Each charger boots (BootNotification Accepted), reports connector 0 and every connector, gets
``MeterValueSampleInterval=60`` and the sampled measurands by ChangeConfiguration, sends a
Heartbeat after every ``heartbeat_interval_s`` without a request of its own, runs sessions
(Preparing, Authorize or RemoteStartTransaction, StartTransaction, Charging, SuspendedEVSE and
SuspendedEV periods, StopTransaction with Transaction.Begin/End transactionData, Finishing,
Available), samples its meter every 60 s during a transaction and sometimes reconnects (a new
connection, status re-sent; half of the reconnects are reboots with a BootNotification). Every
CALL is answered by a schema-valid CALLRESULT; each side waits for the reply before its next
CALL; payload timestamps equal capture time.

Energy model: true power is a step function (0 until Charging is reported, a level the meter
re-reads at every sample, 0 while suspended and after the stop) and the register is its exact
integral rounded to whole Wh. So the true energy of a session is exactly ``meterStop - meterStart``;
integrating the sampled power (holding each reading until the next sample) matches it except
around status changes, where power switches between two samples: at most one sample interval
at full power per status change.

Fast by construction: every frame is rendered once as text (f-strings for MeterValues, else
``json.dumps`` of a small dict), all lines are sorted by time once and written through one
buffered file.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocpp.v16.enums import (
    ChargePointErrorCode,
    ChargePointStatus,
    Measurand,
    Phase,
    ReadingContext,
    Reason,
)

from .. import __version__
from ..capture import records
from ..capture.records import ClosedBy
from .truth import truth_path, write_truth

SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US
DEFAULT_START = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
NOMINAL_VOLTAGE_V = 230.0
UNANSWERED_WAIT_US = 60 * SECOND_US  # how long a charger waits for a reply that never comes
SKEW_US = 300 * SECOND_US  # clock_skew: the charger's clock runs this far ahead
OFFLINE_US = 15 * MINUTE_US  # offline_queue: how long the connection is down

# Faults injected into one session (on connector 1 of the charger that gets the fault).
SESSION_FAULTS: dict[str, str] = {
    "kwh_as_wh": "a session's Energy.Active.Import.Register samples are kWh values labelled Wh",
    "register_reset": "the register restarts at 0 for every session from the second session on",
    "register_glitch": "one periodic register sample 500 Wh below the one before",
    "meter_gap": "10 periodic MeterValues of a session missing",
    "power_while_suspended": "power keeps flowing during a SuspendedEVSE period",
    "power_zero_while_charging": "5 readings of 0 W while the connector says Charging",
    "power_kw_as_w": "Power.Active.Import values in kW labelled W for a session",
    "register_stuck": "the register stays at meterStart through a session while power flows",
    "begin_in_periodic": "every periodic MeterValues of a session repeats the Transaction.Begin reading",
    "unreadable_value": "one sampled value that is not a number ('n/a')",
    "offline_queue": "connection lost for 15 min in a session; queued MeterValues delivered late",
    "naive_timestamp": "a StatusNotification timestamp without a timezone",
    "meter_start_mismatch": "StartTransaction meterStart 2000 Wh below the register",
    "meter_stop_below_start": "a StopTransaction whose meterStop is below meterStart",
    "transaction_id_reused": "the CSMS assigns one transactionId to two sessions of a charger",
    "open_at_end": "a session still running when the capture ends (no StopTransaction)",
}
# Faults injected at a time when every connector of the charger is idle.
IDLE_FAULTS: dict[str, str] = {
    "invalid_transition": "StatusNotification Available -> Finishing (not in the transition table)",
    "connector0_status": "connector 0 reports Preparing",
    "error_code_status": "Available reported with errorCode EVCommunicationError",
    "unreadable_timestamp": "a StatusNotification whose timestamp is not a date",
    "charging_without_transaction": "Charging reported on a connector with no transaction",
    "stop_without_start": "a StopTransaction for a transactionId that was never started",
    "unknown_transaction_meter_values": "MeterValues for a transactionId that was never started",
    "unanswered_call": "a Heartbeat the CSMS never answers",
    "slow_reply": "the CSMS answers a Heartbeat after 15 s",
    "duplicate_id": "a Heartbeat reusing the uniqueId of the charger's previous CALL",
    "long_unique_id": "a Heartbeat whose uniqueId has 40 characters",
    "concurrent_requests": "a StatusNotification sent before the Heartbeat before it was answered",
    "reply_without_request": "a CALLRESULT from the charger answering no request",
    "callerror": "a DataTransfer answered with CALLERROR NotImplemented",
    "bad_error_code": "a CALLERROR whose error code is not an OCPP 1.6 code",
    "unknown_action": "a CALL with an action OCPP 1.6 does not define",
    "wrong_direction": "the CSMS sends a Heartbeat request to the charger",
    "invalid_frame": "a frame that is not valid JSON (cut in the middle)",
    "schema_violation": "a StatusNotification whose info is longer than 50 characters",
    "request_before_boot": "after a reboot BootNotification is Pending and the charger sends a status anyway",
    "heartbeat_gap": "the charger stays silent for 25 min on an open connection",
}
# Faults that change a whole charger.
CHARGER_FAULTS: dict[str, str] = {
    "clock_skew": "one charger's clock runs 300 s ahead: every payload timestamp is late",
}
FAULTS: dict[str, str] = {**SESSION_FAULTS, **IDLE_FAULTS, **CHARGER_FAULTS}
"""Fault name -> what it looks like in the capture. Each fault asked for is injected once."""

SAMPLED_DATA = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage"
_PHASES = (Phase.l1.value, Phase.l2.value, Phase.l3.value)
_VOLTAGE_PHASES = (Phase.l1_n.value, Phase.l2_n.value, Phase.l3_n.value)
_DUMPS_RECORD = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_DUMPS_PAYLOAD = json.JSONEncoder(separators=(",", ":")).encode
_QUOTE = json.encoder.encode_basestring  # a JSON string literal, as json.dumps(ensure_ascii=False)

# Spec spellings, from the ocpp package's enums.
AVAILABLE = ChargePointStatus.available.value
PREPARING = ChargePointStatus.preparing.value
CHARGING = ChargePointStatus.charging.value
SUSPENDED_EV = ChargePointStatus.suspended_ev.value
SUSPENDED_EVSE = ChargePointStatus.suspended_evse.value
FINISHING = ChargePointStatus.finishing.value
NO_ERROR = ChargePointErrorCode.no_error.value
EV_COMMUNICATION_ERROR = ChargePointErrorCode.ev_communication_error.value
ENERGY_REGISTER = Measurand.energy_active_import_register.value
POWER = Measurand.power_active_import.value
CURRENT = Measurand.current_import.value
VOLTAGE = Measurand.voltage.value
PERIODIC = ReadingContext.sample_periodic.value
TX_BEGIN = ReadingContext.transaction_begin.value
TX_END = ReadingContext.transaction_end.value


def _payload_text(payload: Any) -> str:
    """Payload JSON text; pre-rendered text (hot paths build it with f-strings) passes through."""
    return payload if isinstance(payload, str) else _DUMPS_PAYLOAD(payload)


def _uuid(rng: random.Random) -> str:
    text = f"{rng.getrandbits(128):032x}"
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{text[16:20]}-{text[20:]}"


@dataclass
class SynthResult:
    """What :func:`generate` wrote: file paths, counts and the truth it put in the sidecar."""

    path: Path
    truth_path: Path
    frames: int
    connections: int
    sessions: list[dict[str, Any]]
    faults: list[dict[str, Any]]


class _Clock:
    """Microseconds since the Unix epoch -> timestamp text, caching the date and second parts."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}
        self._seconds = [
            f"{hours:02d}:{minutes:02d}:{seconds:02d}"
            for hours in range(24) for minutes in range(60) for seconds in range(60)
        ]

    def _day(self, day: int) -> str:
        text = self._days.get(day)
        if text is None:
            text = (dt.datetime(1970, 1, 1) + dt.timedelta(days=day)).strftime("%Y-%m-%dT")
            self._days[day] = text
        return text

    def capture(self, t_us: int) -> str:
        """Capture-record time: six fractional digits and ``Z``."""
        day, rest = divmod(t_us, DAY_US)
        seconds, micros = divmod(rest, SECOND_US)
        return f"{self._day(day)}{self._seconds[seconds]}.{micros:06d}Z"

    def payload(self, t_us: int, *, naive: bool = False) -> str:
        """OCPP dateTime as chargers send it: milliseconds and ``Z`` (no zone when ``naive``)."""
        day, rest = divmod(t_us, DAY_US)
        seconds, micros = divmod(rest, SECOND_US)
        zone = "" if naive else "Z"
        return f"{self._day(day)}{self._seconds[seconds]}.{micros // 1000:03d}{zone}"


@dataclass
class _Session:
    """One planned charging session; times in µs since the epoch, energy in Wh."""

    connector_id: int
    transaction_id: int
    id_tag: str
    t_plug: int
    t_start: int
    t_charging: int
    t_stop: int
    t_unplug: int
    statuses: list[tuple[int, str]]  # (time, status) changes after Charging, before the stop
    remote_start: bool
    remote_stop: bool
    stop_reason: str | None
    fault: str | None = None
    ticks: list[int] = field(default_factory=list)
    power_w: list[float] = field(default_factory=list)
    volts: list[tuple[float, ...]] = field(default_factory=list)
    amps: list[tuple[float, ...]] = field(default_factory=list)
    register_wh: list[int] = field(default_factory=list)  # true register at each tick
    meter_start_wh: int = 0  # true register at the start
    meter_stop_wh: int = 0  # true register at the stop
    meter_start_sent_wh: int | None = None  # when the charger reports something else
    meter_stop_sent_wh: int | None = None
    skipped_ticks: frozenset[int] = frozenset()
    offline: tuple[int, int] | None = None  # offline_queue: (disconnect, reconnect) times

    def status_at(self, t_us: int) -> str:
        current = CHARGING
        for when, status in self.statuses:
            if when <= t_us:
                current = status
        return current

    @property
    def reported_start_wh(self) -> int:
        return self.meter_start_wh if self.meter_start_sent_wh is None else self.meter_start_sent_wh

    @property
    def reported_stop_wh(self) -> int:
        return self.meter_stop_wh if self.meter_stop_sent_wh is None else self.meter_stop_sent_wh


@dataclass
class _Charger:
    """Static description of one simulated charger."""

    index: int
    charge_point_id: str
    connectors: int
    phases: int
    max_current_a: float
    registers_wh: list[int]

    @property
    def power_w(self) -> float:
        return self.phases * NOMINAL_VOLTAGE_V * self.max_current_a


Intent = tuple[int, int, str, Any]  # (planned time µs, order, kind, data)


class _ChargerSim:
    """Plans and renders the traffic of one charger into ``lines``: (time µs, record text)."""

    def __init__(self, index: int, *, seed: int, t0: int, t_end: int, heartbeat_interval_s: int,
                 sample_interval_s: int, faults: list[str], clock: _Clock) -> None:
        # A string seed is hashed with SHA-512 by random: stable across runs and Python processes.
        self.rng = random.Random(f"ocpp-workbench-synth:{seed}:{index}")
        rng = self.rng
        phases, amps = rng.choice([(1, 16.0), (1, 32.0), (3, 16.0), (3, 32.0), (3, 16.0)])
        connectors = 2 if rng.random() < 0.3 else 1
        self.charger = _Charger(
            index=index, charge_point_id=f"SYNTH{index + 1:05d}", connectors=connectors, phases=phases,
            max_current_a=amps, registers_wh=[rng.randint(100_000, 20_000_000) for _ in range(connectors)],
        )
        self.t0 = t0
        self.t_end = t_end
        self.heartbeat_interval_s = heartbeat_interval_s
        self.sample_us = sample_interval_s * SECOND_US
        self.heartbeat_us = heartbeat_interval_s * SECOND_US
        self.fault_names = faults
        self.clock = clock
        self.lines: list[tuple[int, str]] = []
        self.sessions: list[_Session] = []
        self.truth_faults: list[dict[str, Any]] = []
        self.unplaced: list[str] = []
        self.skew_us = 0
        self.connections = 0
        self._tx_counter = 0
        self._rebased_connectors: set[int] = set()

    # ------------------------------------------------------------------ planning
    def _new_tx_id(self) -> int:
        # A block of ids per charger keeps them unique across the fleet without shared state.
        self._tx_counter += 1
        return (self.charger.index + 1) * 100_000 + self._tx_counter

    def _fault(self, name: str, connector_id: int | None, t_us: int, detail: str) -> None:
        self.truth_faults.append({"fault": name, "charge_point_id": self.charger.charge_point_id,
                                  "connector_id": connector_id, "ts": self.clock.capture(t_us), "detail": detail})

    def _off_tick(self, t_start: int, t_us: int) -> int:
        """Move a status change at least 5 s away from a meter sample instant."""
        phase = (t_us - t_start) % self.sample_us
        if phase < 5 * SECOND_US:
            return t_us + 5 * SECOND_US - phase + self.rng.randint(0, 5 * SECOND_US)
        if phase > self.sample_us - 5 * SECOND_US:
            return t_us + (self.sample_us - phase) + 5 * SECOND_US + self.rng.randint(0, 5 * SECOND_US)
        return t_us

    def _plan_session(self, connector_id: int, t_plug: int, latest_unplug: int,
                      force: dict[str, Any]) -> _Session | None:
        """A session plugged in at ``t_plug``, or None if it would not end by ``latest_unplug``."""
        rng = self.rng
        remote_start = rng.random() < 0.2 and not force.get("local_start")
        t_start = t_plug + rng.randint(8, 45) * SECOND_US
        t_charging = t_start + rng.randint(1_000_000, 3_000_000)
        target_wh = force.get("target_wh") or rng.uniform(4_000, 40_000)
        charge_us = max(int(target_wh / self.charger.power_w * HOUR_US), force.get("min_charge_us", 0))
        pause = force.get("pause")
        if pause is None:
            pause = rng.random() < 0.25
        statuses: list[tuple[int, str]] = []
        if pause:
            # A smart-charging pause (SuspendedEVSE) somewhere in the first half.
            t_pause = self._off_tick(t_start, t_charging + int(charge_us * rng.uniform(0.2, 0.5)))
            t_resume = self._off_tick(t_start, t_pause + rng.randint(10, 45) * MINUTE_US)
            statuses += [(t_pause, SUSPENDED_EVSE), (t_resume, CHARGING)]
            charge_us += t_resume - t_pause
        if rng.random() < 0.15 and force.get("pause") is not False:
            # The car pauses on its own (SuspendedEV), e.g. battery conditioning, then resumes.
            t_ev_pause = self._off_tick(t_start, t_charging + int(charge_us * rng.uniform(0.6, 0.8)))
            if not statuses or t_ev_pause > statuses[-1][0] + 5 * MINUTE_US:
                t_ev_resume = self._off_tick(t_start, t_ev_pause + rng.randint(3, 20) * MINUTE_US)
                statuses += [(t_ev_pause, SUSPENDED_EV), (t_ev_resume, CHARGING)]
                charge_us += t_ev_resume - t_ev_pause
        if rng.random() < 0.3 and not force.get("dwell"):
            # The user stops while the car still charges.
            t_stop = self._off_tick(t_start, t_charging + int(charge_us * rng.uniform(0.6, 0.95)))
            statuses = [(when, status) for when, status in statuses if when < t_stop]
        else:
            # The car is full (SuspendedEV) and stays plugged in for a while.
            t_full = self._off_tick(t_start, t_charging + charge_us)
            statuses.append((t_full, SUSPENDED_EV))
            t_stop = self._off_tick(t_start, t_full + rng.randint(5, 180) * MINUTE_US)
        t_unplug = t_stop + rng.randint(10, 600) * SECOND_US
        if t_unplug > latest_unplug:
            return None
        remote_stop = rng.random() < 0.2
        return _Session(
            connector_id=connector_id, transaction_id=self._new_tx_id(), id_tag=f"{rng.getrandbits(56):014X}",
            t_plug=t_plug, t_start=t_start, t_charging=t_charging, t_stop=t_stop, t_unplug=t_unplug,
            statuses=statuses, remote_start=remote_start, remote_stop=remote_stop,
            stop_reason=Reason.remote.value if remote_stop else rng.choice([None, Reason.local.value]),
        )

    def _meter(self, session: _Session) -> None:
        """Fill the ticks, per-phase readings and the exact register of a planned session.

        True power is a step function: 0 until the connector reports Charging, then a level that
        the meter re-reads at every sample (the sample reports the level that holds until the
        next sample or status change), 0 while suspended, 0 after the stop. The register is its
        exact integral, rounded to whole Wh when reported.
        """
        rng = self.rng
        charger = self.charger
        keep_power_suspended = session.fault == "power_while_suspended"
        zero_ticks = range(3, 8) if session.fault == "power_zero_while_charging" else range(0)
        if session.connector_id in self._rebased_connectors:
            charger.registers_wh[session.connector_id - 1] = 0
        register = charger.registers_wh[session.connector_id - 1]
        session.meter_start_wh = register

        def flowing(status: str) -> bool:
            return status == CHARGING or (keep_power_suspended and status == SUSPENDED_EVSE)

        def draw_level() -> float:
            return charger.power_w * rng.uniform(0.93, 1.0)

        events: list[tuple[int, bool, str | None]] = [(session.t_charging, False, CHARGING)]
        events += [(when, False, status) for when, status in session.statuses]
        tick = session.t_start + self.sample_us
        while tick < session.t_stop - 2 * SECOND_US:
            events.append((tick, True, None))
            tick += self.sample_us
        events.sort(key=lambda event: event[0])
        energy_wh = 0.0
        level_w = 0.0
        state = PREPARING
        last_t = session.t_start
        for when, is_tick, status in events:
            energy_wh += level_w * (when - last_t) / HOUR_US
            last_t = when
            if not is_tick:
                assert status is not None
                state = status
                if not flowing(state):
                    level_w = 0.0
                elif not (keep_power_suspended and level_w > 0):
                    level_w = draw_level()
                continue
            volts = tuple(round(rng.uniform(226.0, 236.0), 1) for _ in range(charger.phases))
            if flowing(state) and len(session.ticks) not in zero_ticks:
                amps_each = round(draw_level() / sum(volts), 2)
                amps = tuple(amps_each for _ in range(charger.phases))
            else:
                amps = tuple(0.0 for _ in range(charger.phases))
            # Power is what the meter computes from its own V and I, so V x I agrees with it.
            level_w = round(sum(v * a for v, a in zip(volts, amps)), 1)
            session.ticks.append(when)
            session.power_w.append(level_w)
            session.volts.append(volts)
            session.amps.append(amps)
            session.register_wh.append(register + round(energy_wh))
        energy_wh += level_w * (session.t_stop - last_t) / HOUR_US
        session.meter_stop_wh = register + round(energy_wh)
        charger.registers_wh[session.connector_id - 1] = session.meter_stop_wh

    def _session_force(self, fault: str | None) -> dict[str, Any]:
        """Session shape a fault needs (long enough, with or without a pause, ...)."""
        if fault is None:
            return {}
        force: dict[str, Any] = {"target_wh": self.rng.uniform(5_000, 12_000)}
        if fault == "offline_queue":
            force.update(pause=False, min_charge_us=80 * MINUTE_US, dwell=True)
        elif fault == "power_while_suspended":
            force.update(pause=True, min_charge_us=40 * MINUTE_US)
        elif fault in ("meter_gap", "power_zero_while_charging", "unreadable_value", "register_glitch",
                       "register_stuck"):
            force.update(pause=False, min_charge_us=30 * MINUTE_US)
        elif fault == "naive_timestamp":
            force.update(local_start=True)
        return force

    def _mark_session_fault(self, session: _Session) -> None:
        """Apply a session fault after metering and record it in the truth."""
        fault, cid, tx = session.fault, session.connector_id, session.transaction_id
        if fault is None:
            return
        rng = self.rng
        t_first_tick = session.ticks[0] if session.ticks else session.t_start
        if fault == "kwh_as_wh":
            self._fault(fault, cid, t_first_tick, f"transactionId {tx}: register samples in kWh labelled Wh")
        elif fault == "register_reset":
            self._fault(fault, cid, session.t_start, f"transactionId {tx}: register restarts at 0 every session")
        elif fault == "register_glitch":
            self._fault(fault, cid, session.ticks[4], f"transactionId {tx}: register sample 500 Wh too low")
        elif fault == "meter_gap":
            self._fault(fault, cid, session.ticks[5], f"transactionId {tx}: 10 periodic MeterValues missing")
        elif fault == "power_while_suspended":
            t_pause = next(when for when, status in session.statuses if status == SUSPENDED_EVSE)
            self._fault(fault, cid, t_pause, f"transactionId {tx}: power flows while SuspendedEVSE")
        elif fault == "power_zero_while_charging":
            self._fault(fault, cid, session.ticks[3], f"transactionId {tx}: 0 W in 5 readings while Charging")
        elif fault == "register_stuck":
            session.meter_stop_sent_wh = session.meter_start_wh
            self._fault(fault, cid, t_first_tick, f"transactionId {tx}: register stuck at {session.meter_start_wh}")
        elif fault == "power_kw_as_w":
            self._fault(fault, cid, t_first_tick, f"transactionId {tx}: power in kW labelled W")
        elif fault == "begin_in_periodic":
            self._fault(fault, cid, t_first_tick, f"transactionId {tx}: Transaction.Begin in periodic readings")
        elif fault == "unreadable_value":
            self._fault(fault, cid, session.ticks[3], f"transactionId {tx}: Power.Active.Import value 'n/a'")
        elif fault == "offline_queue":
            t_off = session.t_start + 20 * MINUTE_US + rng.randint(5, 50) * SECOND_US
            session.offline = (t_off, t_off + OFFLINE_US)
            self._fault(fault, cid, session.offline[1], f"transactionId {tx}: MeterValues queued from "
                        f"{self.clock.capture(t_off)} delivered after the reconnect")
        elif fault == "naive_timestamp":
            self._fault(fault, cid, session.t_plug, "StatusNotification Preparing without a timezone")
        elif fault == "meter_start_mismatch":
            session.meter_start_sent_wh = session.meter_start_wh - 2_000
            self._fault(fault, cid, session.t_start, f"transactionId {tx}: meterStart "
                        f"{session.meter_start_sent_wh}, register {session.meter_start_wh}")
        elif fault == "meter_stop_below_start":
            session.meter_stop_sent_wh = session.meter_start_wh - rng.randint(100, 5_000)
            self._fault(fault, cid, session.t_stop, f"transactionId {tx}: meterStop "
                        f"{session.meter_stop_sent_wh} < meterStart {session.meter_start_wh}")
        elif fault == "transaction_id_reused":
            self._fault(fault, cid, session.t_start, f"transactionId {tx} assigned to a second session")
        elif fault == "open_at_end":
            self._fault(fault, cid, session.t_start, f"transactionId {tx}: still running at the end")

    def _plan_sessions(self, t_boot: int, session_faults: list[str]) -> None:
        """Sessions on every connector; the session faults go on connector 1, one per session."""
        rng = self.rng
        latest_unplug = self.t_end - 15 * MINUTE_US
        open_at_end = "open_at_end" in session_faults
        if open_at_end:
            session_faults.remove("open_at_end")
            latest_unplug = self.t_end - 150 * MINUTE_US  # room for the last session to start
        for connector_id in range(1, self.charger.connectors + 1):
            # A charger with session faults starts early so that every fault finds its session.
            t = t_boot + rng.randint(10, 60 if session_faults else 240) * MINUTE_US
            planned = 0
            while True:
                fault = session_faults[0] if connector_id == 1 and session_faults else None
                if fault in ("transaction_id_reused", "register_reset") and planned == 0:
                    fault = None  # needs an earlier session on this connector: a short one
                    force = {"target_wh": 3_000.0, "pause": False}
                else:
                    force = self._session_force(fault)
                session = self._plan_session(connector_id, t, latest_unplug, force)
                if session is None and planned == 0:
                    # Every connector gets a session when the capture is long enough.
                    force["target_wh"] = 3_000.0
                    session = self._plan_session(connector_id, t_boot + 5 * MINUTE_US, latest_unplug, force)
                if session is None:
                    break
                overlap = [s.offline for s in self.sessions if s.offline
                           and s.offline[0] - 5 * MINUTE_US < session.t_unplug
                           and session.t_plug < s.offline[1] + 5 * MINUTE_US]
                if overlap:
                    # Keep other connectors idle while the charger is offline (offline_queue).
                    t = overlap[0][1] + 10 * MINUTE_US
                    continue
                if fault is not None:
                    session_faults.pop(0)
                    session.fault = fault
                    if fault == "transaction_id_reused":
                        session.transaction_id = self.sessions[-1].transaction_id
                    elif fault == "register_reset":
                        self._rebased_connectors.add(connector_id)  # from this session on
                self._meter(session)
                self._mark_session_fault(session)
                self.sessions.append(session)
                planned += 1
                t = session.t_unplug + max(15 * MINUTE_US, int(rng.expovariate(1 / (3 * HOUR_US))))
            if connector_id == 1 and open_at_end:
                last_unplug = max((s.t_unplug for s in self.sessions if s.connector_id == 1), default=t_boot)
                t_plug = max(last_unplug + 15 * MINUTE_US, self.t_end - 100 * MINUTE_US)
                # Charging for 3 h from at most 100 min before the end: still running at the end.
                session = self._plan_session(1, t_plug, self.t_end + DAY_US, {
                    "target_wh": self.charger.power_w * 3, "pause": False, "dwell": True})
                if session is None or t_plug > self.t_end - 30 * MINUTE_US:
                    self.unplaced.append("open_at_end")
                else:
                    session.fault = "open_at_end"
                    self._meter(session)
                    self._mark_session_fault(session)
                    self.sessions.append(session)
        self.unplaced.extend(session_faults)

    def _session_intents(self, session: _Session, add: Callable[[int, str, Any], None]) -> None:
        cid = session.connector_id
        rng = self.rng
        add(session.t_plug, "status", (cid, PREPARING, {"naive": session.fault == "naive_timestamp"}))
        if session.remote_start:
            add(session.t_start - rng.randint(3, 6) * SECOND_US, "csms_call",
                ("RemoteStartTransaction", {"connectorId": cid, "idTag": session.id_tag}, {"status": "Accepted"}))
        else:
            add(session.t_start - rng.randint(2, 5) * SECOND_US, "call",
                ("Authorize", {"idTag": session.id_tag}, {"idTagInfo": {"status": "Accepted"}}))
        add(session.t_start, "start", session)
        add(session.t_charging, "status", (cid, CHARGING, {}))
        for when, status in session.statuses:
            add(when, "status", (cid, status, {}))
        for k, tick in enumerate(session.ticks):
            if k not in session.skipped_ticks:
                add(tick, "meter", (session, k))
        if session.remote_stop:
            add(session.t_stop - rng.randint(2, 5) * SECOND_US, "csms_call",
                ("RemoteStopTransaction", {"transactionId": session.transaction_id}, {"status": "Accepted"}))
        add(session.t_stop, "stop", session)
        add(session.t_stop + rng.randint(1_000_000, 3_000_000), "status", (cid, FINISHING, {}))
        add(session.t_unplug, "status", (cid, AVAILABLE, {}))

    def plan(self) -> list[Intent]:
        """Sessions, reconnects and faults as intents, sorted by planned time."""
        rng = self.rng
        intents: list[Intent] = []

        def add(t_us: int, kind: str, data: Any = None) -> None:
            intents.append((t_us, len(intents), kind, data))

        t_boot = self.t0 + rng.randint(1, 120) * SECOND_US
        add(t_boot, "connect", {"boot": True})
        self._plan_sessions(t_boot, [name for name in self.fault_names if name in SESSION_FAULTS])
        busy = []
        for session in self.sessions:
            if session.fault == "meter_gap":
                session.skipped_ticks = frozenset(range(5, 15))
            self._session_intents(session, add)
            if session.offline:
                add(session.offline[0], "disconnect", {"code": 1006})
                add(session.offline[1], "connect", {"boot": False})
            busy.append((session.t_plug, min(session.t_unplug, self.t_end)))

        # Idle windows (every connector idle, 5 min margin) take reconnects and idle faults.
        busy.sort()
        windows = []
        cursor = t_boot + 10 * MINUTE_US
        for start, stop in busy:
            if start - 5 * MINUTE_US - cursor > 15 * MINUTE_US:
                windows.append((cursor, start - 5 * MINUTE_US))
            cursor = max(cursor, stop + 5 * MINUTE_US)
        if self.t_end - 10 * MINUTE_US - cursor > 15 * MINUTE_US:
            windows.append((cursor, self.t_end - 10 * MINUTE_US))

        def idle_slot(need_us: int = 10 * MINUTE_US) -> int | None:
            """A time with ``need_us`` of idle time after it; the rest of the window stays free."""
            fitting = [i for i, (start, stop) in enumerate(windows) if stop - start >= need_us + 3 * MINUTE_US]
            if not fitting:
                return None
            start, stop = windows.pop(rng.choice(fitting))
            when = rng.randint(start + 2 * MINUTE_US, stop - need_us)
            if stop - (when + need_us) > 15 * MINUTE_US:
                windows.append((when + need_us, stop))
            if when - 10 * MINUTE_US - start > 15 * MINUTE_US:
                windows.append((start, when - 10 * MINUTE_US))
            return when

        for fault in self.fault_names:
            if fault in IDLE_FAULTS:
                when = idle_slot(40 * MINUTE_US if fault == "heartbeat_gap" else 10 * MINUTE_US)
                if when is None:
                    self.unplaced.append(fault)
                else:
                    add(when, "fault", fault)
        if "clock_skew" in self.fault_names:
            self.skew_us = SKEW_US
            self._fault("clock_skew", None, t_boot, f"payload timestamps {SKEW_US // SECOND_US} s ahead")

        # Reconnects: on average one every two days, half of them reboots.
        for _ in range(max(1, round((self.t_end - self.t0) / DAY_US))):
            if rng.random() < 0.5:
                when = idle_slot()
                if when is None:
                    break
                add(when, "disconnect", {"code": 1006})
                add(when + rng.randint(5, 90) * SECOND_US, "connect", {"boot": rng.random() < 0.5})
        intents.sort(key=lambda item: (item[0], item[1]))
        return intents

    # ------------------------------------------------------------------ rendering
    def run(self) -> None:
        """Turn the plan into capture lines, serialising each side's CALLs as OCPP-J requires."""
        intents = self.plan()
        rng = self.rng
        clock = self.clock
        charger = self.charger
        cp_id = charger.charge_point_id
        lines = self.lines
        status_now = {connector: AVAILABLE for connector in range(0, charger.connectors + 1)}
        queue: list[tuple[str, Any, Any]] = []  # transaction messages held while offline
        connection: str | None = None
        charger_free = 0  # when the charger may send its next CALL (its previous one answered)
        csms_free = 0
        last_call = 0

        def frame(t_us: int, direction: str, text: str) -> None:
            assert connection is not None, "a frame needs an open connection"
            lines.append((t_us, (
                f'{{"type":"frame","ts":"{clock.capture(t_us)}","connection_id":"{connection}",'
                f'"direction":"{direction}","text":{_QUOTE(text)}}}'
            )))

        def charger_call(t_us: int, action: str, payload: Any, reply: Any = None, *,
                         unique_id: str | None = None, latency_us: int | None = None,
                         error: tuple[str, str] | None = None, answered: bool = True) -> int:
            """Send a charger CALL no earlier than ``t_us`` (and its reply); returns the send time.

            ``payload``/``reply``: dict, pre-rendered JSON text, or a function of the time (µs).
            """
            nonlocal charger_free, last_call
            t = max(t_us, charger_free)
            unique_id = unique_id or _uuid(rng)
            payload = payload(t) if callable(payload) else payload
            frame(t, "charger_to_csms", f'[2,"{unique_id}","{action}",{_payload_text(payload)}]')
            if not answered:
                charger_free = t + UNANSWERED_WAIT_US
            else:
                t_reply = t + (latency_us or rng.randint(20_000, 400_000))
                if error:
                    text = _DUMPS_PAYLOAD([4, unique_id, error[0], error[1], {}])
                else:
                    reply = reply(t_reply) if callable(reply) else ({} if reply is None else reply)
                    text = f'[3,"{unique_id}",{_payload_text(reply)}]'
                frame(t_reply, "csms_to_charger", text)
                charger_free = t_reply + 1_000
            last_call = t
            return t

        def csms_call(t_us: int, action: str, payload: Any, reply: Any,
                      error: tuple[str, str] | None = None) -> int:
            nonlocal csms_free
            t = max(t_us, csms_free)
            unique_id = _uuid(rng)
            frame(t, "csms_to_charger", f'[2,"{unique_id}","{action}",{_payload_text(payload)}]')
            t_reply = t + rng.randint(50_000, 600_000)
            if error:
                frame(t_reply, "charger_to_csms", _DUMPS_PAYLOAD([4, unique_id, error[0], error[1], {}]))
            else:
                frame(t_reply, "charger_to_csms", f'[3,"{unique_id}",{_payload_text(reply)}]')
            csms_free = t_reply + 1_000
            return t

        def stamp(t_us: int, naive: bool = False) -> str:
            return clock.payload(t_us + self.skew_us, naive=naive)

        def status_payload(connector_id: int, status: str, *, naive: bool = False,
                           error_code: str = NO_ERROR, info: str | None = None,
                           timestamp: str | None = None) -> Callable[[int], dict[str, Any]]:
            def build(t: int) -> dict[str, Any]:
                payload = {"connectorId": connector_id, "errorCode": error_code, "status": status,
                           "timestamp": timestamp or stamp(t, naive)}
                if info is not None:
                    payload["info"] = info
                return payload
            return build

        def heartbeat_reply(t: int) -> dict[str, Any]:
            return {"currentTime": clock.payload(t)}

        def heartbeats_until(t_us: int) -> None:
            # HeartbeatInterval counts inactivity: the charger's own requests reset it (§4.6).
            while connection is not None and max(last_call, charger_free) + self.heartbeat_us <= t_us:
                charger_call(max(last_call, charger_free) + self.heartbeat_us, "Heartbeat", {}, heartbeat_reply)

        # MeterValues are most of the frames: rendered from constant pieces, not json.dumps.
        def tail(measurand: str, unit: str, phase: str | None = None, context: str = PERIODIC) -> str:
            phase_part = f'"phase":"{phase}",' if phase else ""
            return (f'","context":"{context}","measurand":"{measurand}",{phase_part}'
                    f'"location":"Outlet","unit":"{unit}"}}')

        register_tail = tail(ENERGY_REGISTER, "Wh")
        begin_tail = tail(ENERGY_REGISTER, "Wh", context=TX_BEGIN)
        power_tail = tail(POWER, "W")
        current_tails = [tail(CURRENT, "A", phase) for phase in _PHASES]
        voltage_tails = [tail(VOLTAGE, "V", phase) for phase in _VOLTAGE_PHASES]

        def meter_payload(session: _Session, k: int) -> str:
            fault = session.fault
            register = session.register_wh[k]
            if fault == "register_glitch" and k == 4:
                register = session.register_wh[3] - 500
            elif fault == "register_stuck":
                register = session.meter_start_wh
            register_text = f"{register / 1000:.3f}" if fault == "kwh_as_wh" else str(register)
            power = session.power_w[k]
            power_text = f"{power / 1000:.3f}" if fault == "power_kw_as_w" else f"{power:.1f}"
            if fault == "unreadable_value" and k == 3:
                power_text = "n/a"
            parts = [f'{{"value":"{register_text}{register_tail}', f'{{"value":"{power_text}{power_tail}']
            if fault == "begin_in_periodic":
                parts.append(f'{{"value":"{session.reported_start_wh}{begin_tail}')
            for current_tail, amps in zip(current_tails, session.amps[k]):
                parts.append(f'{{"value":"{amps:.2f}{current_tail}')
            for voltage_tail, volts in zip(voltage_tails, session.volts[k]):
                parts.append(f'{{"value":"{volts:.1f}{voltage_tail}')
            return (f'{{"connectorId":{session.connector_id},"transactionId":{session.transaction_id},'
                    f'"meterValue":[{{"timestamp":"{stamp(session.ticks[k])}","sampledValue":['
                    f'{",".join(parts)}]}}]}}')

        def boot_notification(t_us: int, status: str = "Accepted", interval_s: int | None = None) -> int:
            return charger_call(t_us, "BootNotification", {
                "chargePointVendor": "SynthVendor",
                "chargePointModel": f"SV-{charger.phases}P{int(charger.max_current_a)}A",
                "chargePointSerialNumber": f"SN{charger.index + 1:08d}",
                "firmwareVersion": "1.4.2",
                "meterType": "SynthMeter",
            }, lambda t: {"status": status, "currentTime": clock.payload(t),
                          "interval": interval_s or self.heartbeat_interval_s})

        def open_connection(t_us: int, boot: bool, pending_fault: bool = False) -> None:
            nonlocal connection, charger_free, csms_free, last_call
            self.connections += 1
            connection = f"c{(charger.index + 1) * 1000 + self.connections}"
            lines.append((t_us, _DUMPS_RECORD(records.connection_open(
                ts=clock.capture(t_us), connection_id=connection, charge_point_id=cp_id,
                url_path=f"/ocpp/{cp_id}",
                client_address=f"10.{charger.index // 250 % 250}.{charger.index % 250}.2:{40000 + self.connections}",
                subprotocols_offered=["ocpp1.6"], subprotocol="ocpp1.6",
                charger_tls=records.tls_facts("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "csms.example.net"),
                csms_tls=records.tls_facts("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "csms.example.net"),
                auth_scheme="Basic", auth_user=cp_id, auth_password_present=True,
            ))))
            t = t_us + rng.randint(5_000, 200_000)
            charger_free = max(charger_free, t)
            csms_free = max(csms_free, t)
            last_call = t
            if pending_fault:
                boot_notification(t, "Pending", 30)
                sent = charger_call(charger_free, "StatusNotification", status_payload(0, status_now[0]))
                self._fault("request_before_boot", None, sent, "StatusNotification while BootNotification Pending")
                boot_notification(t + 30 * SECOND_US)
            elif boot:
                boot_notification(t)
            # Queued transaction messages go first, oldest first (§3.7); then the charger reports
            # connector 0 and every connector.
            for action, payload, reply in queue:
                charger_call(charger_free, action, payload, reply)
            queue.clear()
            for connector_id in range(0, charger.connectors + 1):
                charger_call(charger_free, "StatusNotification", status_payload(connector_id, status_now[connector_id]))
            if boot:
                for key, value in (("MeterValueSampleInterval", str(self.sample_us // SECOND_US)),
                                   ("MeterValuesSampledData", SAMPLED_DATA)):
                    csms_call(charger_free, "ChangeConfiguration", {"key": key, "value": value},
                              {"status": "Accepted"})

        def close_connection(t_us: int, code: int, closed_by: str) -> None:
            nonlocal connection
            lines.append((t_us, _DUMPS_RECORD(records.connection_close(
                ts=clock.capture(t_us), connection_id=connection, close_code=code,
                close_reason="", closed_by=closed_by))))
            connection = None

        def start_payload(session: _Session) -> Callable[[int], dict[str, Any]]:
            return lambda t: {"connectorId": session.connector_id, "idTag": session.id_tag,
                              "meterStart": session.reported_start_wh, "timestamp": stamp(t)}

        def stop_payload(session: _Session) -> Callable[[int], dict[str, Any]]:
            # transactionData carries the register; it differs from meterStop only when the
            # charger's meterStop is wrong, not when its register is.
            end_wh = session.reported_stop_wh if session.fault == "register_stuck" else session.meter_stop_wh

            def build(t: int) -> dict[str, Any]:
                payload: dict[str, Any] = {
                    "transactionId": session.transaction_id, "idTag": session.id_tag,
                    "meterStop": session.reported_stop_wh, "timestamp": stamp(t),
                    "transactionData": [
                        {"timestamp": stamp(session.t_start), "sampledValue": [{
                            "value": str(session.meter_start_wh), "context": TX_BEGIN,
                            "measurand": ENERGY_REGISTER, "location": "Outlet", "unit": "Wh"}]},
                        {"timestamp": stamp(t), "sampledValue": [{
                            "value": str(end_wh), "context": TX_END,
                            "measurand": ENERGY_REGISTER, "location": "Outlet", "unit": "Wh"}]},
                    ],
                }
                if session.stop_reason:
                    payload["reason"] = session.stop_reason
                return payload
            return build

        def idle_fault(name: str, t_us: int) -> None:
            """Render one idle-time fault at ``t_us`` and record it in the truth."""
            nonlocal charger_free
            connector = 1
            now = status_now[connector]
            record = self._fault
            if name == "invalid_transition":
                sent = charger_call(t_us, "StatusNotification", status_payload(connector, FINISHING))
                charger_call(t_us + 30 * SECOND_US, "StatusNotification", status_payload(connector, now))
                record(name, connector, sent, f"{now} -> {FINISHING}")
            elif name == "connector0_status":
                sent = charger_call(t_us, "StatusNotification", status_payload(0, PREPARING))
                charger_call(t_us + 30 * SECOND_US, "StatusNotification", status_payload(0, status_now[0]))
                record(name, 0, sent, "connector 0 reports Preparing")
            elif name == "error_code_status":
                sent = charger_call(t_us, "StatusNotification",
                                    status_payload(connector, now, error_code=EV_COMMUNICATION_ERROR))
                charger_call(t_us + 30 * SECOND_US, "StatusNotification", status_payload(connector, now))
                record(name, connector, sent, f"{now} with {EV_COMMUNICATION_ERROR}")
            elif name == "unreadable_timestamp":
                sent = charger_call(t_us, "StatusNotification",
                                    status_payload(connector, now, timestamp="2026-13-45T25:61:00Z"))
                record(name, connector, sent, "timestamp 2026-13-45T25:61:00Z")
            elif name == "charging_without_transaction":
                sent = charger_call(t_us, "StatusNotification", status_payload(connector, CHARGING))
                charger_call(t_us + 90 * SECOND_US, "StatusNotification", status_payload(connector, now))
                record(name, connector, sent, "Charging without a transaction")
            elif name == "stop_without_start":
                tx_id = self._new_tx_id()
                register = charger.registers_wh[0]
                sent = charger_call(t_us, "StopTransaction", lambda t: {
                    "transactionId": tx_id, "meterStop": register, "timestamp": stamp(t),
                    "reason": Reason.power_loss.value})
                record(name, connector, sent, f"StopTransaction for transactionId {tx_id}, never started")
            elif name == "unknown_transaction_meter_values":
                tx_id = self._new_tx_id()
                register = charger.registers_wh[0]
                sent = charger_call(t_us, "MeterValues", lambda t: {
                    "connectorId": connector, "transactionId": tx_id,
                    "meterValue": [{"timestamp": stamp(t), "sampledValue": [
                        {"value": str(register), "context": PERIODIC, "measurand": ENERGY_REGISTER,
                         "location": "Outlet", "unit": "Wh"}]}]})
                record(name, connector, sent, f"MeterValues for transactionId {tx_id}, never started")
            elif name == "unanswered_call":
                sent = charger_call(t_us, "Heartbeat", {}, answered=False)
                record(name, None, sent, "Heartbeat never answered")
            elif name == "slow_reply":
                sent = charger_call(t_us, "Heartbeat", {}, heartbeat_reply, latency_us=15 * SECOND_US)
                record(name, None, sent, "Heartbeat answered after 15 s")
            elif name == "duplicate_id":
                first_id = _uuid(rng)
                charger_call(t_us, "Heartbeat", {}, heartbeat_reply, unique_id=first_id)
                sent = charger_call(t_us + 5 * SECOND_US, "Heartbeat", {}, heartbeat_reply, unique_id=first_id)
                record(name, None, sent, f"uniqueId {first_id} used twice")
            elif name == "long_unique_id":
                long_id = _uuid(rng) + "-ext"
                sent = charger_call(t_us, "Heartbeat", {}, heartbeat_reply, unique_id=long_id)
                record(name, None, sent, f"uniqueId of {len(long_id)} characters")
            elif name == "concurrent_requests":
                sent = max(t_us, charger_free)
                first_id, second_id = _uuid(rng), _uuid(rng)
                frame(sent, "charger_to_csms", f'[2,"{first_id}","Heartbeat",{{}}]')
                frame(sent + 50_000, "charger_to_csms", _DUMPS_PAYLOAD(
                    [2, second_id, "StatusNotification", status_payload(0, status_now[0])(sent + 50_000)]))
                frame(sent + 300_000, "csms_to_charger", _DUMPS_PAYLOAD([3, first_id, heartbeat_reply(sent + 300_000)]))
                frame(sent + 400_000, "csms_to_charger", f'[3,"{second_id}",{{}}]')
                charger_free = sent + 401_000
                record(name, None, sent + 50_000, "StatusNotification sent while a Heartbeat was unanswered")
            elif name == "reply_without_request":
                sent = max(t_us, charger_free)
                frame(sent, "charger_to_csms", f'[3,"{_uuid(rng)}",{{}}]')
                record(name, None, sent, "CALLRESULT with an id no request had")
            elif name == "callerror":
                sent = charger_call(t_us, "DataTransfer", {"vendorId": "SynthVendor", "messageId": "Diagnostics"},
                                    error=("NotImplemented", "DataTransfer not implemented"))
                record(name, None, sent, "DataTransfer answered with CALLERROR NotImplemented")
            elif name == "bad_error_code":
                sent = charger_call(t_us, "DataTransfer", {"vendorId": "SynthVendor", "messageId": "Stats"},
                                    error=("UnknownVendor", "no such vendor"))
                record(name, None, sent, "CALLERROR with code UnknownVendor")
            elif name == "unknown_action":
                sent = charger_call(t_us, "FirmwareReport", {"version": "1.4.2"},
                                    error=("NotImplemented", "Unknown action"))
                record(name, None, sent, "CALL FirmwareReport (not an OCPP 1.6 action)")
            elif name == "wrong_direction":
                sent = csms_call(t_us, "Heartbeat", {}, None,
                                 error=("NotSupported", "Heartbeat is sent by the charger"))
                record(name, None, sent, "the CSMS sent Heartbeat")
            elif name == "invalid_frame":
                sent = max(t_us, charger_free)
                frame(sent, "charger_to_csms", f'[2,"{_uuid(rng)}","Heartbeat",{{')
                charger_free = sent + 1_000
                record(name, None, sent, "frame cut after 50 characters")
            elif name == "schema_violation":
                info = "Connector self-test passed; firmware 1.4.2 (build 7731)"
                sent = charger_call(t_us, "StatusNotification", status_payload(connector, now, info=info))
                record(name, connector, sent, f"info of {len(info)} characters (at most 50)")
            elif name == "request_before_boot":
                t_close = max(t_us, charger_free)
                close_connection(t_close, 1006, ClosedBy.CHARGER.value)
                open_connection(t_close + 20 * SECOND_US, boot=True, pending_fault=True)
            elif name == "heartbeat_gap":
                sent = max(t_us, charger_free)
                charger_free = sent + 20 * MINUTE_US  # the charger hangs: no request at all
                record(name, None, sent, "no message for 25 min")

        for t_us, _order, kind, data in intents:
            if t_us >= self.t_end:
                continue  # a session running at the end: the capture stops here
            heartbeats_until(t_us)
            if kind == "connect":
                open_connection(max(t_us, charger_free), data["boot"])
            elif kind == "disconnect":
                close_connection(max(t_us, charger_free), data["code"], ClosedBy.CHARGER.value)
            elif kind == "status":
                connector_id, status, options = data
                status_now[connector_id] = status
                if connection is not None:  # else re-sent as the current status on reconnect
                    charger_call(t_us, "StatusNotification", status_payload(connector_id, status, **options))
            elif kind == "call":
                action, payload, reply = data
                if connection is not None:  # offline, the charger authorises locally
                    charger_call(t_us, action, payload, reply)
            elif kind == "csms_call":
                if connection is not None:
                    csms_call(t_us, *data)
            elif kind == "start":
                reply = {"idTagInfo": {"status": "Accepted"}, "transactionId": data.transaction_id}
                if connection is None:
                    queue.append(("StartTransaction", start_payload(data)(t_us), reply))
                else:
                    charger_call(t_us, "StartTransaction", start_payload(data), reply)
            elif kind == "meter":
                session, k = data
                if connection is None:
                    queue.append(("MeterValues", meter_payload(session, k), None))
                else:
                    charger_call(t_us, "MeterValues", meter_payload(session, k))
            elif kind == "stop":
                if connection is None:
                    queue.append(("StopTransaction", stop_payload(data)(t_us), None))
                else:
                    charger_call(t_us, "StopTransaction", stop_payload(data))
            elif kind == "fault":
                idle_fault(data, t_us)
        heartbeats_until(self.t_end)
        if connection is not None:
            close_connection(max(self.t_end, charger_free), 1001, ClosedBy.PROXY.value)

    def session_truth(self) -> list[dict[str, Any]]:
        """The sidecar's sessions: true energy, and the meter readings as reported."""
        truth = []
        for session in self.sessions:
            running = session.fault == "open_at_end"
            if running:
                seen = [register for tick, register in zip(session.ticks, session.register_wh) if tick < self.t_end]
                energy_wh = (seen[-1] if seen else session.meter_start_wh) - session.meter_start_wh
            else:
                energy_wh = session.meter_stop_wh - session.meter_start_wh
            truth.append({
                "charge_point_id": self.charger.charge_point_id,
                "connector_id": session.connector_id,
                "transaction_id": session.transaction_id,
                "id_tag": session.id_tag,
                "start_ts": self.clock.capture(session.t_start),
                "stop_ts": None if running else self.clock.capture(session.t_stop),
                "energy_wh": float(energy_wh),
                "meter_start_wh": float(session.reported_start_wh),
                "meter_stop_wh": None if running else float(session.reported_stop_wh),
            })
        return truth


def _split_faults(faults: list[str], chargers: int) -> list[list[str]]:
    """Assign each fault to a charger, spread out so they do not interfere where the fleet allows."""
    per_charger: list[list[str]] = [[] for _ in range(chargers)]
    stride = max(1, chargers // max(1, len(faults)))
    for position, name in enumerate(faults):
        per_charger[(position * stride) % chargers].append(name)
    return per_charger


def parse_faults(text: str | Iterable[str] | None) -> list[str]:
    """``"kwh_as_wh,meter_gap"`` / ``"all"`` / a list -> fault names; ValueError on unknown or repeated ones."""
    if text is None:
        return []
    names = [part.strip() for part in text.split(",")] if isinstance(text, str) else list(text)
    names = [name for name in names if name]
    if names == ["all"]:
        return list(FAULTS)
    unknown = [name for name in names if name not in FAULTS]
    if unknown:
        raise ValueError(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(FAULTS)}")
    if len(set(names)) != len(names):
        raise ValueError("each fault can be injected once per capture")
    return names


def generate(
    path: str | os.PathLike[str],
    *,
    chargers: int = 10,
    days: float = 1.0,
    faults: Iterable[str] | str | None = (),
    seed: int = 0,
    start: dt.datetime = DEFAULT_START,
    heartbeat_interval_s: int = 300,
    sample_interval_s: int = 60,
    write_sidecar: bool = True,
) -> SynthResult:
    """Write a synthetic capture of ``chargers`` chargers over ``days`` days to ``path``.

    Deterministic for a ``seed`` (same arguments, same bytes). ``faults``: names from
    :data:`FAULTS` (or ``"all"``), each injected once, on its own charger when there are at least
    as many chargers as faults. Writes the sidecar ``<path>.truth.json`` unless ``write_sidecar``
    is false; ``.gz`` paths are gzip-compressed. Raises ValueError on bad arguments or when a
    fault finds no place (too short a capture). Returns the paths, counts and the truth.
    """
    if chargers < 1:
        raise ValueError("chargers must be at least 1")
    if days <= 0:
        raise ValueError("days must be positive")
    if heartbeat_interval_s < 10 or sample_interval_s < 10:
        raise ValueError("heartbeat and sample intervals must be at least 10 s")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    fault_names = parse_faults(faults)
    path = Path(path)
    clock = _Clock()
    t0 = int(start.timestamp() * SECOND_US)
    t_end = t0 + int(days * DAY_US)
    lines: list[tuple[int, str]] = []
    sessions: list[dict[str, Any]] = []
    injected: list[dict[str, Any]] = []
    connections = 0
    for index, charger_faults in enumerate(_split_faults(fault_names, chargers)):
        sim = _ChargerSim(index, seed=seed, t0=t0, t_end=t_end, heartbeat_interval_s=heartbeat_interval_s,
                          sample_interval_s=sample_interval_s, faults=charger_faults, clock=clock)
        sim.run()
        if sim.unplaced:
            raise ValueError(f"fault(s) {', '.join(sim.unplaced)} found no place on "
                             f"{sim.charger.charge_point_id}: use more days or more chargers")
        lines.extend(sim.lines)
        connections += sim.connections
        injected.extend(sim.truth_faults)
        sessions.extend(sim.session_truth())
    # One sort of the whole fleet: time order, ties in charger then generation order (stable).
    lines.sort(key=lambda item: item[0])
    header = records.header(
        tool="ocpp-workbench synth", tool_version=__version__, started_at=clock.capture(t0),
        proxy_mode="synthetic", upstream_url=None,
        synth={"chargers": chargers, "days": days, "seed": seed, "faults": fault_names,
               "heartbeat_interval_s": heartbeat_interval_s, "sample_interval_s": sample_interval_s},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    frames = 0
    with opener(path, "wb") as out:
        out.write(_DUMPS_RECORD(header).encode("utf-8") + b"\n")
        for begin in range(0, len(lines), 20_000):
            chunk = [line for _t, line in lines[begin:begin + 20_000]]
            frames += sum(1 for line in chunk if line.startswith('{"type":"frame"'))
            out.write(("\n".join(chunk) + "\n").encode("utf-8"))
    sidecar = truth_path(path)
    if write_sidecar:
        write_truth(sidecar, sessions, injected)
    return SynthResult(path=path, truth_path=sidecar, frames=frames, connections=connections,
                       sessions=sessions, faults=injected)
