"""The lab charger: a simulated OCPP 1.6J charge point with several connectors.

It connects over WSS (Basic Auth, subprotocol ``ocpp1.6``) through the ``ocpp`` library, boots,
reports every connector's status (connector 0 too), sends heartbeats, and runs charging sessions:
Authorize, StartTransaction, MeterValues at ``MeterValueSampleInterval`` with
Energy.Active.Import.Register (Wh), Power.Active.Import (W), Current.Import and Voltage per
phase, SuspendedEV and SuspendedEVSE periods, StopTransaction with transactionData. It honours
ChangeConfiguration, GetConfiguration, TriggerMessage, SetChargingProfile/ClearChargingProfile
(a 0 limit stops energy: SuspendedEVSE; raising it resumes Charging), GetCompositeSchedule,
RemoteStart/StopTransaction, Reset and ChangeAvailability.

Time is the wall clock (so payload timestamps agree with capture time); a demo session lasts a few
seconds with a meter interval of about 1 s. Energy is integrated exactly (see
:mod:`workbench.lab.meter`), so the truth of every session (:attr:`LabCharger.truth`) is exactly
what the register advanced by, unless a fault was injected to make the report wrong.

Faults it can be told to show (``ChargerConfig.faults``), all in its first session:

- ``reboot_during_transaction``: power loss mid-session; the connection dies (no close frame),
  the charger boots again and delivers the queued StopTransaction (reason PowerLoss) late.
- ``reconnect``: the connection dies mid-session and comes back after ``offline_s``; MeterValues
  sampled meanwhile are queued and delivered late; current statuses are re-sent.
- ``invalid_transition``: after Finishing it reports Charging (F3, not in the table), then Available.
- ``kwh_as_wh``: the session's register samples are kWh numbers labelled Wh.
- ``register_reset``: the register restarts at 0 mid-session (meterStop < meterStart).
- ``callerror_unsupported``: it answers requests in ``unsupported_actions`` (default
  GetConfiguration, which LabCSMS sends after every boot) with a CALLERROR NotSupported.

Misbehaviours (``ChargerConfig.misbehaviours``) answer the CSMS wrongly for the whole run, for the
conformance probe's tests (they fail one ev.energy requirement each):

- ``ignore_charging_limit``: accepts SetChargingProfile but keeps charging at full power (R6).
- ``trigger_without_message``: answers TriggerMessage Accepted but never sends the message (R7).
- ``reject_charging_profile``: answers every SetChargingProfile Rejected (R6).
- ``ignore_meter_interval``: accepts MeterValueSampleInterval but keeps sampling at its initial
  interval (R8).
- ``energy_only``: MeterValues carry only Energy.Active.Import.Register, whatever is configured
  (R4; R8 too, as the measurands it accepted are missing).
- ``document_spelling_only``: knows the sampled-data key only as ``MeterValuesSampleData`` (the
  integrator document's spelling), not the standard ``MeterValuesSampledData`` (R8 reports which
  spelling was accepted, as a warning).
- ``wrong_clock``: payload timestamps are ``WRONG_CLOCK_S`` ahead of the wall clock (R2).
- ``plain_ws``: connects with ``ws://`` (no TLS) whatever the URL says (R1).
- ``tls13_only``: offers only TLS 1.3 (restricts the ssl context it was given) (R1).
- ``no_basic_auth``: sends no Authorization header even with a password (R3).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
import math
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from ocpp.exceptions import NotSupportedError, OCPPError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import (
    Action,
    AuthorizationStatus,
    AvailabilityStatus,
    AvailabilityType,
    ChargePointErrorCode,
    ChargePointStatus,
    ChargingProfilePurposeType,
    ChargingProfileStatus,
    ChargingRateUnitType,
    ClearCacheStatus,
    ClearChargingProfileStatus,
    ConfigurationStatus,
    DataTransferStatus,
    DiagnosticsStatus,
    FirmwareStatus,
    GetCompositeScheduleStatus,
    Measurand,
    MessageTrigger,
    ReadingContext,
    Reason,
    RegistrationStatus,
    RemoteStartStopStatus,
    ResetStatus,
    ResetType,
    TriggerMessageStatus,
    UnlockStatus,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.headers import build_authorization_basic
from websockets.typing import Subprotocol

from ..capture.records import Direction
from ..errors import WorkbenchError
from .clock import ocpp_timestamp, utc_now
from .dispatch import FastDispatch
from .meter import SUPPORTED_MEASURANDS, Meter, sampled_values
from .recording import RecordingConnection
from .truth import InjectedFault, SessionTruth, write_truth

LOGGER = logging.getLogger(__name__)
OCPP16 = Subprotocol("ocpp1.6")


class Fault(StrEnum):
    """Faulty behaviours the simulator can be told to show (see the module docstring)."""

    REBOOT_DURING_TRANSACTION = "reboot_during_transaction"
    RECONNECT = "reconnect"
    INVALID_TRANSITION = "invalid_transition"
    KWH_AS_WH = "kwh_as_wh"
    REGISTER_RESET = "register_reset"
    CALLERROR_UNSUPPORTED = "callerror_unsupported"


FAULT_NAMES = frozenset(fault.value for fault in Fault)


class Misbehaviour(StrEnum):
    """Wrong answers to the CSMS for the whole run (see the module docstring); not session faults,
    so they leave the truth sidecar alone."""

    IGNORE_CHARGING_LIMIT = "ignore_charging_limit"
    TRIGGER_WITHOUT_MESSAGE = "trigger_without_message"
    REJECT_CHARGING_PROFILE = "reject_charging_profile"
    IGNORE_METER_INTERVAL = "ignore_meter_interval"
    ENERGY_ONLY = "energy_only"
    DOCUMENT_SPELLING_ONLY = "document_spelling_only"
    WRONG_CLOCK = "wrong_clock"
    PLAIN_WS = "plain_ws"
    TLS13_ONLY = "tls13_only"
    NO_BASIC_AUTH = "no_basic_auth"


MISBEHAVIOUR_NAMES = frozenset(item.value for item in Misbehaviour)

WRONG_CLOCK_S = 120.0
"""How far ahead (s) the ``wrong_clock`` misbehaviour's payload timestamps are."""
STANDARD_SAMPLED_DATA_KEY, DOCUMENT_SAMPLED_DATA_KEY = "MeterValuesSampledData", "MeterValuesSampleData"

# When, as a fraction of the session length, the scripted events of a run_sessions session
# happen. SuspendedEV first, then the EVSE suspends too (SuspendedEVSE takes precedence), the EV
# is ready again while the EVSE still holds, then charging resumes: C4, D5, E3.
_EV_SUSPEND_AT, _EVSE_SUSPEND_AT, _EV_RESUME_AT, _EVSE_RESUME_AT = 0.35, 0.5, 0.6, 0.7
_RECONNECT_AT, _REBOOT_AT, _REGISTER_RESET_AT = 0.25, 0.5, 0.6


@dataclass(frozen=True)
class ChargerConfig:
    """How one simulated charger is built and behaves. Units in the names (s, W, V, Wh)."""

    charge_point_id: str
    password: str | None = field(default=None, repr=False)
    """Basic Auth password; None sends no Authorization header. Kept out of repr (and logs)."""
    connectors: int = 2
    meter_interval_s: float = 1.0
    """Initial MeterValueSampleInterval (s); fractional values are allowed for fast tests."""
    heartbeat_interval_s: float | None = None
    """Initial HeartbeatInterval (s); None takes the interval of BootNotification.conf."""
    max_power_w: float = 11000.0
    """What the EV draws when nothing limits it (W, all phases together)."""
    phases: int = 3
    voltage_v: float = 230.0
    initial_register_wh: int = 1_000_000
    """Connector c's register starts at this + (c - 1) * 100000 Wh."""
    id_tags: tuple[str, ...] = ("LABTAG01", "LABTAG02", "LABTAG03")
    vendor: str = "ocpp-workbench"
    model: str = "LabCharger"
    suspend_periods: bool = True
    """Scripted SuspendedEV and SuspendedEVSE periods in every run_sessions session."""
    faults: frozenset[str] = frozenset()
    misbehaviours: frozenset[str] = frozenset()
    """Names of :class:`Misbehaviour` to show for the whole run."""
    offline_s: float = 2.0
    """How long the charger stays away for the reconnect and reboot faults (s)."""
    unsupported_actions: frozenset[str] = frozenset({Action.get_configuration.value})
    """Requests answered with CALLERROR NotSupported when ``callerror_unsupported`` is on."""
    response_timeout_s: float = 10.0
    heartbeat_after_boot: bool = True
    """Send one Heartbeat right after the boot statuses (to sync the clock, as chargers do)."""
    reconnect_attempts: int = 5

    def __post_init__(self) -> None:
        unknown = set(self.faults) - FAULT_NAMES
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {sorted(FAULT_NAMES)}")
        if set(self.misbehaviours) - MISBEHAVIOUR_NAMES:
            raise ValueError(f"unknown misbehaviour(s) {sorted(set(self.misbehaviours) - MISBEHAVIOUR_NAMES)}; "
                             f"known: {sorted(MISBEHAVIOUR_NAMES)}")
        object.__setattr__(self, "misbehaviours", frozenset(self.misbehaviours))
        if self.connectors < 1:
            raise ValueError("a charger needs at least one connector")
        if not 1 <= self.phases <= 3:
            raise ValueError("phases must be 1, 2 or 3")
        if self.meter_interval_s < 0:
            raise ValueError("meter_interval_s must be >= 0")
        object.__setattr__(self, "faults", frozenset(self.faults))


class ChargerConnectError(WorkbenchError):
    """The charger could not open its WebSocket (``status_code`` is the HTTP status, if any)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass
class _Session:
    connector_id: int
    id_tag: str
    start: dt.datetime
    start_mono: float
    meter_start_wh: int
    counted_start_wh: int
    kwh_as_wh: bool
    invalid_transition: bool = False
    transaction_id: int | None = None
    script: list[tuple[float, str]] = field(default_factory=list)
    ev_suspended: bool = False
    evse_suspended: bool = False
    active: bool = True
    started: bool = False
    """True once the StartTransaction was answered: only then does energy flow."""
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when energy stops (the stop messages may still be on their way)."""
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the stop sequence is done (or queued, after a power loss)."""
    begin_sample: dict[str, Any] | None = None


@dataclass
class _Connector:
    connector_id: int
    meter: Meter
    status: str = ChargePointStatus.available.value
    session: _Session | None = None
    operative: bool = True
    unavailable_after_session: bool = False
    """ChangeAvailability Inoperative arrived during a session (answered Scheduled)."""


@dataclass
class _ConfigKey:
    value: str
    readonly: bool = False
    readable: bool = True


class _ChargerChargePoint(FastDispatch, ChargePoint):
    """The charger side of one connection: answers the CSMS's requests.

    Handlers only decide the answer; effects that send messages run afterwards as background
    tasks of the :class:`LabCharger` (a handler that awaited a call of its own would deadlock the
    reader that must deliver that call's reply).
    """

    def __init__(self, charger: LabCharger, connection: RecordingConnection) -> None:
        super().__init__(
            charger.config.charge_point_id, connection, response_timeout=charger.config.response_timeout_s
        )
        self._charger = charger

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str, **_: Any):
        self._charger.refuse_if_unsupported(Action.change_configuration)
        return call_result.ChangeConfiguration(status=self._charger.change_configuration(key, value))

    @after(Action.change_configuration)
    def after_change_configuration(self, key: str, value: str, **_: Any) -> None:
        self._charger.configuration_changed(key)

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list | None = None, **_: Any):
        self._charger.refuse_if_unsupported(Action.get_configuration)
        known, unknown = self._charger.get_configuration(key)
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, connector_id: int | None = None, **_: Any):
        self._charger.refuse_if_unsupported(Action.trigger_message)
        return call_result.TriggerMessage(status=self._charger.trigger_status(requested_message, connector_id))

    @after(Action.trigger_message)
    def after_trigger_message(self, requested_message: str, connector_id: int | None = None, **_: Any) -> None:
        self._charger.run_trigger(requested_message, connector_id)

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict, **_: Any):
        self._charger.refuse_if_unsupported(Action.set_charging_profile)
        status = self._charger.set_charging_profile(connector_id, cs_charging_profiles)
        self._charger.apply_limits()
        return call_result.SetChargingProfile(status=status)

    @after(Action.set_charging_profile)
    def after_set_charging_profile(self, **_: Any) -> None:
        self._charger.limits_changed()

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id: int, duration: int, charging_rate_unit: str | None = None,
                                  **_: Any):
        self._charger.refuse_if_unsupported(Action.get_composite_schedule)
        return self._charger.composite_schedule(connector_id, duration, charging_rate_unit)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, **criteria: Any):
        self._charger.refuse_if_unsupported(Action.clear_charging_profile)
        status = self._charger.clear_charging_profile(**criteria)
        self._charger.apply_limits()
        return call_result.ClearChargingProfile(status=status)

    @after(Action.clear_charging_profile)
    def after_clear_charging_profile(self, **_: Any) -> None:
        self._charger.limits_changed()

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(self, id_tag: str, connector_id: int | None = None, **_: Any):
        self._charger.refuse_if_unsupported(Action.remote_start_transaction)
        return call_result.RemoteStartTransaction(status=self._charger.remote_start(id_tag, connector_id))

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id: int, **_: Any):
        self._charger.refuse_if_unsupported(Action.remote_stop_transaction)
        return call_result.RemoteStopTransaction(status=self._charger.remote_stop(transaction_id))

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any):
        self._charger.refuse_if_unsupported(Action.reset)
        self._charger.schedule_reset(type)
        return call_result.Reset(status=ResetStatus.accepted)

    @on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str, **_: Any):
        self._charger.refuse_if_unsupported(Action.change_availability)
        return call_result.ChangeAvailability(status=self._charger.change_availability(connector_id, type))

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any):
        self._charger.refuse_if_unsupported(Action.clear_cache)
        return call_result.ClearCache(status=ClearCacheStatus.accepted)

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int, **_: Any):
        self._charger.refuse_if_unsupported(Action.unlock_connector)
        return call_result.UnlockConnector(status=UnlockStatus.not_supported)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any):
        self._charger.refuse_if_unsupported(Action.data_transfer)
        return call_result.DataTransfer(status=DataTransferStatus.unknown_vendor_id)


class LabCharger:
    """A simulated charge point. ``url`` is the CSMS endpoint without the identity
    (``LabCSMS.url`` or a proxy's); the charger appends ``/<charge_point_id>``.

    Use :meth:`run_sessions` for a scripted scenario, or ``async with`` plus
    :meth:`start_transaction` / :meth:`stop_transaction` to drive it by hand.
    """

    def __init__(self, config: ChargerConfig, url: str, ssl_context: Any | None) -> None:
        self.config = config
        self.url = f"{url.rstrip('/')}/{quote(config.charge_point_id, safe='')}"
        self.ssl_context = ssl_context
        misbehaviours = config.misbehaviours
        if Misbehaviour.PLAIN_WS in misbehaviours:
            self.url, self.ssl_context = "ws://" + self.url.split("://", 1)[-1], None
        elif Misbehaviour.TLS13_ONLY in misbehaviours and ssl_context is not None:
            import ssl

            ssl_context.minimum_version = ssl.TLSVersion.TLSv1_3
        self._sampled_data_key = (DOCUMENT_SAMPLED_DATA_KEY if Misbehaviour.DOCUMENT_SPELLING_ONLY in misbehaviours
                                  else STANDARD_SAMPLED_DATA_KEY)
        self.frames: list[tuple[str, str | bytes]] = []
        """(direction, exact message) of every message sent or received, all connections."""
        self.truth: list[SessionTruth] = []
        """Every finished session, in stop order."""
        self.faults_injected: list[InjectedFault] = []
        self.errors: list[BaseException] = []
        """Exceptions raised in background work (each also logged); run_sessions raises if any."""
        self.connections = 0
        """WebSocket connections opened so far."""
        self.boot_response: Any = None

        start = utc_now()
        self._connectors = {
            number: _Connector(number, Meter(config.initial_register_wh + (number - 1) * 100_000, start))
            for number in range(1, config.connectors + 1)
        }
        self._station_status = ChargePointStatus.available.value
        self._configuration = self._initial_configuration()
        # Charging limits in W by (purpose, connector id); TxProfile entries die with their session.
        self._limits_w: dict[tuple[str, int], float] = {}
        self._profile_ids: dict[int, tuple[str, int]] = {}
        self._deferred_status_changes: list[tuple[list[tuple[int, str]], dt.datetime]] = []
        self._ws: ClientConnection | None = None
        self._cp: _ChargerChargePoint | None = None
        self._reader: asyncio.Task[None] | None = None
        self._online = asyncio.Event()
        self._io_lock = asyncio.Lock()
        self._tx_queue: collections.deque[tuple[Any, asyncio.Future[Any] | None]] = collections.deque()
        self._tx_wakeup = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._expect_disconnect = False
        self._closing = False
        self._sessions_started = 0
        self._reconnecting: asyncio.Task[Any] | None = None

    # -- public API ----------------------------------------------------------------------------

    @property
    def charge_point_id(self) -> str:
        return self.config.charge_point_id

    @property
    def connected(self) -> bool:
        """True while registered with the CSMS (booted, statuses sent, link up)."""
        return self._online.is_set()

    def status(self, connector_id: int) -> str:
        """The status this connector last reported (or would report when offline)."""
        if connector_id == 0:
            return self._station_status
        return self._connectors[connector_id].status

    def power_w(self, connector_id: int) -> float:
        """The power (W) the connector delivers now."""
        return self._connectors[connector_id].meter.power_w

    def register_wh(self, connector_id: int) -> int:
        """The connector's energy register as it would be reported now (Wh)."""
        connector = self._connectors[connector_id]
        connector.meter.advance(utc_now())
        return connector.meter.register_wh

    def transaction_id(self, connector_id: int) -> int | None:
        session = self._connectors[connector_id].session
        return None if session is None else session.transaction_id

    def configuration_value(self, key: str) -> str | None:
        entry = self._configuration.get(key)
        return None if entry is None else entry.value

    def frames_sent(self) -> list[str | bytes]:
        return [text for direction, text in self.frames if direction == Direction.CHARGER_TO_CSMS]

    def frames_received(self) -> list[str | bytes]:
        return [text for direction, text in self.frames if direction == Direction.CSMS_TO_CHARGER]

    def write_truth(self, path: Any) -> Any:
        """Write this charger's truth sidecar (see :mod:`workbench.lab.truth`); returns the path."""
        return write_truth(path, self.truth, self.faults_injected)

    async def __aenter__(self) -> LabCharger:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the WebSocket, boot, report statuses; raises :class:`ChargerConnectError`."""
        if self._ws is not None:
            raise WorkbenchError(f"{self.charge_point_id}: already connected")
        self._closing = False
        self._start_background()
        try:
            await self._open(boot=True)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Leave: running sessions stay open on the wire (no StopTransaction), queued messages
        not yet delivered are dropped, the WebSocket is closed with 1000. Bounded in time."""
        self._closing = True
        self._online.clear()
        for connector in self._connectors.values():
            if connector.session is not None:
                connector.session.active = False
                connector.session.stopped.set()
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=5)
            if pending:
                names = [task.get_name() for task in pending]
                LOGGER.warning("%s: tasks still running after close: %s", self.charge_point_id, names)
        await self._close_websocket()

    async def wait_idle(self, timeout_s: float = 30.0) -> None:
        """Wait until registered and every queued transaction message was delivered."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not (self._online.is_set() and not self._tx_queue):
            if loop.time() >= deadline:
                raise TimeoutError(
                    f"{self.charge_point_id}: not idle after {timeout_s} s "
                    f"(online={self._online.is_set()}, queued={len(self._tx_queue)})"
                )
            await asyncio.sleep(0.01)

    async def start_transaction(
        self,
        connector_id: int,
        id_tag: str | None = None,
        *,
        authorize: bool = True,
        script: Sequence[tuple[float, str]] = (),
    ) -> int | None:
        """Plug in and start charging: Preparing, Authorize, StartTransaction, Charging.

        Returns the transaction id the CSMS assigned (``TimeoutError`` if it never answers,
        bounded by ``offline_s`` and ``response_timeout_s``). The session runs, with
        MeterValues every MeterValueSampleInterval, until :meth:`stop_transaction`, a
        RemoteStopTransaction or a scripted ``"stop"``. ``script``: (seconds after start,
        action) pairs, run on the meter ticks; actions are ``ev_suspend``, ``ev_resume``,
        ``evse_suspend``, ``evse_resume``, ``register_reset``, ``reconnect``, ``reboot``, ``stop``.
        """
        connector = self._connectors[connector_id]
        if connector.session is not None:
            raise WorkbenchError(f"{self.charge_point_id}: connector {connector_id} already has a session")
        index = self._sessions_started
        self._sessions_started += 1
        id_tag = id_tag or self.config.id_tags[index % len(self.config.id_tags)]
        first = index == 0
        await self._set_status(connector, ChargePointStatus.preparing)
        if authorize:
            await self._call(call.Authorize(id_tag=id_tag))
        now = utc_now()
        connector.meter.advance(now)
        kwh_as_wh = first and Fault.KWH_AS_WH in self.config.faults
        session = _Session(
            connector_id=connector_id,
            id_tag=id_tag,
            start=now,
            start_mono=asyncio.get_running_loop().time(),
            meter_start_wh=connector.meter.register_wh,
            counted_start_wh=connector.meter.counted_wh,
            kwh_as_wh=kwh_as_wh,
            invalid_transition=first and Fault.INVALID_TRANSITION in self.config.faults,
            script=sorted(script),
        )
        session.begin_sample = self._meter_value(connector, session, now, ReadingContext.transaction_begin)
        connector.session = session
        if kwh_as_wh:
            detail = "Energy.Active.Import.Register sent in kWh labelled Wh"
            self._fault(Fault.KWH_AS_WH, connector_id, now, detail)
        response = await self._transaction_call(
            call.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=session.meter_start_wh,
                timestamp=self._stamp(now),
            )
        )
        if response is not None:
            session.transaction_id = response.transaction_id
        session.started = True
        await self._apply_power(utc_now())
        self._spawn(self._session_loop(connector, session), f"session {connector_id}")
        if response is not None and response.id_tag_info.get("status") != AuthorizationStatus.accepted:
            await self.stop_transaction(connector_id, Reason.de_authorized)
        return session.transaction_id

    async def stop_transaction(
        self, connector_id: int, reason: str = Reason.local, *, at: dt.datetime | None = None
    ) -> SessionTruth:
        """Stop the session on ``connector_id``: Finishing, StopTransaction (with
        transactionData), Available. ``at``: the stop instant (default now). Returns the truth."""
        connector = self._connectors[connector_id]
        session = connector.session
        if session is None:
            raise WorkbenchError(f"{self.charge_point_id}: no session on connector {connector_id}")
        now = at if at is not None and at >= connector.meter.updated_at else utc_now()
        request, truth = await self._end_session(connector, now, reason)
        await self._set_status(connector, ChargePointStatus.finishing, now)
        await self._transaction_call(request)
        if session.invalid_transition:
            # F3 is not in the transition table: Charging after Finishing without a new transaction.
            at = utc_now()
            self._fault(Fault.INVALID_TRANSITION, connector_id, at, "Finishing -> Charging (F3) after the stop")
            await self._set_status(connector, ChargePointStatus.charging, at)
        if connector.unavailable_after_session:
            connector.unavailable_after_session, connector.operative = False, False
            await self._set_status(connector, ChargePointStatus.unavailable)  # F8
        else:
            await self._set_status(connector, ChargePointStatus.available)
        session.finished.set()
        return truth

    async def run_sessions(self, sessions: int, session_s: float, *, gap_s: float = 0.3) -> list[SessionTruth]:
        """The scripted scenario: ``sessions`` charging sessions of ``session_s`` seconds each,
        spread over the connectors (connector c takes sessions c-1, c-1+connectors, ...; the
        connectors run in parallel, each one's sessions back to back with ``gap_s`` between).

        Connects first (and closes afterwards) unless already connected. Faults apply to the
        first session. Returns the truth of every session; raises :class:`WorkbenchError` if
        background work failed.
        """
        if sessions < 0 or session_s <= 0:
            raise ValueError("sessions must be >= 0 and session_s > 0")
        owns_connection = self._ws is None
        if owns_connection:
            await self.connect()
        try:
            plans: dict[int, list[int]] = collections.defaultdict(list)
            for index in range(sessions):
                plans[index % self.config.connectors + 1].append(index)
            # return_exceptions: a failing connector must not leave the others running orphaned.
            outcomes = await asyncio.gather(
                *(self._run_connector_plan(number, plan, session_s, gap_s) for number, plan in plans.items()),
                return_exceptions=True,
            )
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome
            await self.wait_idle(timeout_s=self.config.offline_s + self.config.response_timeout_s + 10)
        finally:
            if owns_connection:
                await self.close()
        if self.errors:
            raise WorkbenchError(f"{self.charge_point_id}: background errors: {self.errors!r}")
        return list(self.truth)

    # -- configuration -------------------------------------------------------------------------

    def _initial_configuration(self) -> dict[str, _ConfigKey]:
        config = self.config
        measurands = ",".join(measurand.value for measurand in SUPPORTED_MEASURANDS)
        return {
            "AuthorizeRemoteTxRequests": _ConfigKey("false"),
            "ClockAlignedDataInterval": _ConfigKey("0"),
            "ConnectionTimeOut": _ConfigKey("60"),
            "HeartbeatInterval": _ConfigKey(
                _number_text(config.heartbeat_interval_s) if config.heartbeat_interval_s is not None else "0"
            ),
            "MeterValueSampleInterval": _ConfigKey(_number_text(config.meter_interval_s)),
            self._sampled_data_key: _ConfigKey(measurands),
            "MeterValuesSampledDataMaxLength": _ConfigKey(str(len(SUPPORTED_MEASURANDS)), readonly=True),
            "MeterValuesAlignedData": _ConfigKey(""),
            "StopTxnSampledData": _ConfigKey(Measurand.energy_active_import_register.value),
            "StopTxnAlignedData": _ConfigKey(""),
            "NumberOfConnectors": _ConfigKey(str(config.connectors), readonly=True),
            "SupportedFeatureProfiles": _ConfigKey("Core,SmartCharging,RemoteTrigger", readonly=True),
            "ChargeProfileMaxStackLevel": _ConfigKey("8", readonly=True),
            "ChargingScheduleAllowedChargingRateUnit": _ConfigKey("Current,Power", readonly=True),
            "ChargingScheduleMaxPeriods": _ConfigKey("1", readonly=True),
            "MaxChargingProfilesInstalled": _ConfigKey("8", readonly=True),
            "AuthorizationKey": _ConfigKey("", readable=False),
        }

    def change_configuration(self, key: str, value: str) -> ConfigurationStatus:
        """ChangeConfiguration.conf status for ``key`` = ``value`` (applies it when Accepted)."""
        entry = self._configuration.get(key)
        if entry is None:
            return ConfigurationStatus.not_supported
        if entry.readonly or not _valid_configuration_value(key, value):
            return ConfigurationStatus.rejected
        if key == "MeterValueSampleInterval" and Misbehaviour.IGNORE_METER_INTERVAL in self.config.misbehaviours:
            return ConfigurationStatus.accepted  # and never applied
        entry.value = value.strip() if key.endswith("Data") else value
        return ConfigurationStatus.accepted

    def configuration_changed(self, key: str) -> None:
        # The meter and heartbeat loops read their intervals on every step: nothing to restart.
        LOGGER.debug("%s: configuration %s changed", self.charge_point_id, key)

    def get_configuration(self, keys: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
        """(configurationKey entries, unknownKey names) for GetConfiguration.conf."""
        wanted = list(self._configuration) if not keys else keys
        known, unknown = [], []
        for key in wanted:
            entry = self._configuration.get(key)
            if entry is None or not entry.readable:
                # A write-only key (AuthorizationKey) is not revealed ([J] §6).
                if keys:
                    unknown.append(key)
                continue
            known.append({"key": key, "readonly": entry.readonly, "value": entry.value})
        return known, unknown

    def _stamp(self, when: dt.datetime) -> str:
        """The payload timestamp of ``when`` (ahead by WRONG_CLOCK_S under ``wrong_clock``)."""
        if Misbehaviour.WRONG_CLOCK in self.config.misbehaviours:
            when = when + dt.timedelta(seconds=WRONG_CLOCK_S)
        return ocpp_timestamp(when)

    def _interval_s(self, key: str) -> float:
        try:
            return max(0.0, float(self._configuration[key].value))
        except ValueError:
            return 0.0

    def _measurands(self, key: str) -> list[str]:
        return [item.strip() for item in self._configuration[key].value.split(",") if item.strip()]

    def refuse_if_unsupported(self, action: Action) -> None:
        """Raise NotSupported (-> CALLERROR) for ``action`` when the fault says so."""
        if Fault.CALLERROR_UNSUPPORTED in self.config.faults and action.value in self.config.unsupported_actions:
            detail = f"answered {action.value} with CALLERROR NotSupported"
            self._fault(Fault.CALLERROR_UNSUPPORTED, None, utc_now(), detail)
            raise NotSupportedError(description=f"{action.value} is not supported by this charger")

    # -- smart charging ------------------------------------------------------------------------

    def set_charging_profile(self, connector_id: int, profile: dict[str, Any]) -> ChargingProfileStatus:
        """Install a charging profile's first period as a limit (W); the status for the .conf."""
        if Misbehaviour.REJECT_CHARGING_PROFILE in self.config.misbehaviours:
            return ChargingProfileStatus.rejected
        purpose = profile.get("charging_profile_purpose")
        schedule = profile.get("charging_schedule") or {}
        periods = schedule.get("charging_schedule_period") or []
        if connector_id != 0 and connector_id not in self._connectors:
            return ChargingProfileStatus.rejected
        if len(periods) != 1 or periods[0].get("start_period", 0) != 0:
            return ChargingProfileStatus.rejected  # ChargingScheduleMaxPeriods is 1
        if purpose == ChargingProfilePurposeType.tx_profile:
            session = self._connectors.get(connector_id) and self._connectors[connector_id].session
            if connector_id == 0 or session is None:
                return ChargingProfileStatus.rejected  # no transaction to apply it to
            wanted_tx = profile.get("transaction_id")
            if wanted_tx is not None and wanted_tx != session.transaction_id:
                return ChargingProfileStatus.rejected
        elif purpose == ChargingProfilePurposeType.charge_point_max_profile and connector_id != 0:
            return ChargingProfileStatus.rejected
        limit = float(periods[0]["limit"])
        if schedule.get("charging_rate_unit") == ChargingRateUnitType.amps:
            phases = int(periods[0].get("number_phases") or self.config.phases)
            limit = limit * self.config.voltage_v * phases
        key = (str(purpose), connector_id)
        self._limits_w[key] = max(0.0, limit)
        self._profile_ids[int(profile["charging_profile_id"])] = key
        return ChargingProfileStatus.accepted

    def composite_schedule(self, connector_id: int, duration_s: int, unit: str | None) -> Any:
        """GetCompositeSchedule.conf: the limit in force now on ``connector_id`` (0: the station) for
        ``duration_s``, in W or A (A = W / (voltage x phases)); no limit reads as the charger's maximum.
        It reports what it accepted, also under ``ignore_charging_limit``."""
        if connector_id != 0 and connector_id not in self._connectors:
            return call_result.GetCompositeSchedule(status=GetCompositeScheduleStatus.rejected)
        limit_w = self._limits_w.get((ChargingProfilePurposeType.charge_point_max_profile.value, 0), math.inf)
        if connector_id != 0:
            limit_w = min(limit_w, self._connector_limit_w(connector_id))
        limit_w = min(limit_w, self.config.max_power_w)
        amps = unit == ChargingRateUnitType.amps
        limit = limit_w / (self.config.voltage_v * self.config.phases) if amps else limit_w
        schedule = {"duration": int(duration_s), "chargingRateUnit": "A" if amps else "W",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": round(limit, 1)}]}
        return call_result.GetCompositeSchedule(status=GetCompositeScheduleStatus.accepted, connector_id=connector_id,
                                                schedule_start=self._stamp(utc_now()), charging_schedule=schedule)

    def clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        **_: Any,
    ) -> ClearChargingProfileStatus:
        if id is not None:
            key = self._profile_ids.pop(id, None)
            if key is None:
                return ClearChargingProfileStatus.unknown
            self._limits_w.pop(key, None)
            return ClearChargingProfileStatus.accepted
        matching = [
            key
            for key in self._limits_w
            if (connector_id is None or key[1] == connector_id)
            and (charging_profile_purpose is None or key[0] == charging_profile_purpose)
        ]
        for key in matching:
            del self._limits_w[key]
        return ClearChargingProfileStatus.accepted if matching else ClearChargingProfileStatus.unknown

    def apply_limits(self) -> None:
        """Apply changed limits at once (called before the .conf is sent, so no sample taken
        after the answer shows the old power); the status changes are reported by
        :meth:`limits_changed`, after the .conf."""
        now = utc_now()
        self._deferred_status_changes.append((self._recompute_power(now), now))

    def limits_changed(self) -> None:
        pending, self._deferred_status_changes = self._deferred_status_changes, []
        for changes, now in pending:
            self._spawn(self._send_status_changes(changes, now), "report limits")

    def _connector_limit_w(self, connector_id: int) -> float:
        for key in (
            (ChargingProfilePurposeType.tx_profile.value, connector_id),
            (ChargingProfilePurposeType.tx_default_profile.value, connector_id),
            (ChargingProfilePurposeType.tx_default_profile.value, 0),
        ):
            if key in self._limits_w:
                return self._limits_w[key]
        return math.inf

    # -- remote control ------------------------------------------------------------------------

    def remote_start(self, id_tag: str, connector_id: int | None) -> RemoteStartStopStatus:
        if connector_id is None:
            free = [c for c in self._connectors.values() if c.session is None and c.operative]
            if not free:
                return RemoteStartStopStatus.rejected
            connector_id = free[0].connector_id
        connector = self._connectors.get(connector_id)
        if connector is None or connector.session is not None or not connector.operative:
            return RemoteStartStopStatus.rejected
        authorize = self._configuration["AuthorizeRemoteTxRequests"].value == "true"
        self._spawn(self.start_transaction(connector_id, id_tag, authorize=authorize), "remote start")
        return RemoteStartStopStatus.accepted

    def remote_stop(self, transaction_id: int) -> RemoteStartStopStatus:
        for connector in self._connectors.values():
            if connector.session is not None and connector.session.transaction_id == transaction_id:
                self._spawn(self.stop_transaction(connector.connector_id, Reason.remote), "remote stop")
                return RemoteStartStopStatus.accepted
        return RemoteStartStopStatus.rejected

    def schedule_reset(self, reset_type: str) -> None:
        self._spawn(self._reset(reset_type), "reset")

    def change_availability(self, connector_id: int, availability: str) -> AvailabilityStatus:
        """Connectors without a session change now; Inoperative for a connector in a session is
        Scheduled and applied when the session ends (F8: Finishing -> Unavailable)."""
        if connector_id != 0 and connector_id not in self._connectors:
            return AvailabilityStatus.rejected
        operative = availability == AvailabilityType.operative
        targets = list(self._connectors.values()) if connector_id == 0 else [self._connectors[connector_id]]
        idle = [target for target in targets if target.session is None]
        busy = [target for target in targets if target.session is not None]
        for target in busy:
            target.unavailable_after_session = not operative
        station = connector_id == 0 and not (busy and not operative)
        self._spawn(self._set_availability(station, idle, operative), "availability")
        return AvailabilityStatus.scheduled if busy and not operative else AvailabilityStatus.accepted

    async def _set_availability(self, station: bool, targets: list[_Connector], operative: bool) -> None:
        status = (ChargePointStatus.available if operative else ChargePointStatus.unavailable).value
        now = utc_now()
        if station and self._station_status != status:
            self._station_status = status
            await self._send_status(0, status, now)
        for target in targets:
            target.operative = operative
            if target.status != status:
                await self._set_status(target, status, now)

    # -- trigger -------------------------------------------------------------------------------

    def trigger_status(self, requested: str, connector_id: int | None) -> TriggerMessageStatus:
        if connector_id is not None and connector_id != 0 and connector_id not in self._connectors:
            return TriggerMessageStatus.rejected
        if requested in (
            MessageTrigger.boot_notification,
            MessageTrigger.heartbeat,
            MessageTrigger.status_notification,
            MessageTrigger.meter_values,
            MessageTrigger.diagnostics_status_notification,
            MessageTrigger.firmware_status_notification,
        ):
            return TriggerMessageStatus.accepted
        return TriggerMessageStatus.not_implemented

    def run_trigger(self, requested: str, connector_id: int | None) -> None:
        if Misbehaviour.TRIGGER_WITHOUT_MESSAGE in self.config.misbehaviours:
            return  # said Accepted, sends nothing
        if self.trigger_status(requested, connector_id) == TriggerMessageStatus.accepted:
            self._spawn(self._send_triggered(requested, connector_id), f"trigger {requested}")

    async def _send_triggered(self, requested: str, connector_id: int | None) -> None:
        now = utc_now()
        if requested == MessageTrigger.boot_notification:
            await self._call(self._boot_request())
        elif requested == MessageTrigger.heartbeat:
            await self._call(call.Heartbeat())
        elif requested == MessageTrigger.status_notification:
            numbers = [connector_id] if connector_id is not None else [0, *self._connectors]
            for number in numbers:
                await self._send_status(number, self.status(number), now)
        elif requested == MessageTrigger.meter_values:
            numbers = [connector_id] if connector_id else list(self._connectors)
            for number in numbers:
                connector = self._connectors[number]
                connector.meter.advance(now)
                session = connector.session
                # Triggered values are current values, context Trigger, not transaction-queued.
                await self._call(
                    call.MeterValues(
                        connector_id=number,
                        meter_value=[self._meter_value(connector, session, now, ReadingContext.trigger)],
                        transaction_id=None if session is None else session.transaction_id,
                    )
                )
        elif requested == MessageTrigger.diagnostics_status_notification:
            await self._call(call.DiagnosticsStatusNotification(status=DiagnosticsStatus.idle))
        elif requested == MessageTrigger.firmware_status_notification:
            await self._call(call.FirmwareStatusNotification(status=FirmwareStatus.idle))

    # -- sessions ------------------------------------------------------------------------------

    async def _run_connector_plan(
        self, connector_id: int, indexes: list[int], session_s: float, gap_s: float
    ) -> None:
        for position, index in enumerate(indexes):
            if position:
                await asyncio.sleep(gap_s)
            await self.wait_idle_link()
            script = self._script(index, session_s)
            await self.start_transaction(connector_id, script=script)
            session = self._connectors[connector_id].session
            if session is not None:
                await asyncio.wait_for(session.finished.wait(), session_s + self._offline_budget_s() + 30)

    async def wait_idle_link(self) -> None:
        """Wait (bounded) until the link is registered again after a fault."""
        if not self._online.is_set():
            await asyncio.wait_for(self._online.wait(), self._offline_budget_s())

    def _script(self, index: int, session_s: float) -> list[tuple[float, str]]:
        script: list[tuple[float, str]] = [(session_s, "stop")]
        if self.config.suspend_periods:
            script += [
                (_EV_SUSPEND_AT * session_s, "ev_suspend"),
                (_EVSE_SUSPEND_AT * session_s, "evse_suspend"),
                (_EV_RESUME_AT * session_s, "ev_resume"),
                (_EVSE_RESUME_AT * session_s, "evse_resume"),
            ]
        if index == 0:
            faults = self.config.faults
            if Fault.RECONNECT in faults:
                script.append((_RECONNECT_AT * session_s, "reconnect"))
            if Fault.REBOOT_DURING_TRANSACTION in faults:
                script.append((_REBOOT_AT * session_s, "reboot"))
            if Fault.REGISTER_RESET in faults:
                script.append((_REGISTER_RESET_AT * session_s, "register_reset"))
        return sorted(script)

    async def _session_loop(self, connector: _Connector, session: _Session) -> None:
        """Meter ticks every MeterValueSampleInterval from the start; scripted actions run on ticks."""
        loop = asyncio.get_running_loop()
        tick = session.start
        while session.active:
            interval_s = self._interval_s("MeterValueSampleInterval")
            # Ticks sit on an exact grid from the start (ms precision, like the timestamps), so
            # a late wake-up delays the message, never the sample time it reports.
            tick += dt.timedelta(milliseconds=round((interval_s if interval_s > 0 else 1.0) * 1000))
            due_s = session.start_mono + (tick - session.start).total_seconds()
            try:
                await asyncio.wait_for(session.stopped.wait(), max(0.0, due_s - loop.time()))
            except TimeoutError:
                pass
            if not session.active:
                break
            # Something else (a charging profile, another connector) may have moved the meter
            # past the tick while we slept: then sample now rather than in the meter's past.
            now = tick if tick >= connector.meter.updated_at else utc_now()
            connector.meter.advance(now)
            elapsed_s = (now - session.start).total_seconds()
            # At most one scripted action per tick, so every scripted state lasts at least one
            # sample (a crowded script runs late rather than collapsing states).
            if session.script and session.script[0][0] <= elapsed_s + 1e-3:
                _, action = session.script.pop(0)
                await self._run_action(connector, session, action, now)
            if session.active and interval_s > 0:
                self._enqueue(
                    call.MeterValues(
                        connector_id=connector.connector_id,
                        meter_value=[self._meter_value(connector, session, now, ReadingContext.sample_periodic)],
                        transaction_id=session.transaction_id,
                    )
                )

    async def _run_action(self, connector: _Connector, session: _Session, action: str, now: dt.datetime) -> None:
        number = connector.connector_id
        if action == "stop":
            await self.stop_transaction(number, Reason.local, at=now)
        elif action in ("ev_suspend", "ev_resume"):
            session.ev_suspended = action == "ev_suspend"
            await self._apply_power(now)
        elif action in ("evse_suspend", "evse_resume"):
            session.evse_suspended = action == "evse_suspend"
            await self._apply_power(now)
        elif action == "register_reset":
            before = connector.meter.register_wh
            connector.meter.reset_register()
            self._fault(Fault.REGISTER_RESET, number, now, f"register reset from {before} Wh to 0")
        elif action == "reconnect":
            await self._network_drop(now, number)
        elif action == "reboot":
            await self._power_loss(now, number)
        else:
            raise WorkbenchError(f"unknown script action {action!r}")

    async def _end_session(self, connector: _Connector, now: dt.datetime, reason: str) -> tuple[Any, SessionTruth]:
        """Stop energy and bookkeeping; returns the StopTransaction request and the truth."""
        session = connector.session
        assert session is not None
        session.active = False
        session.stopped.set()
        connector.meter.advance(now)
        connector.session = None
        # A TxProfile dies with its transaction.
        self._limits_w.pop((ChargingProfilePurposeType.tx_profile.value, connector.connector_id), None)
        await self._apply_power(now)
        meter_stop = connector.meter.register_wh
        truth = SessionTruth(
            charge_point_id=self.charge_point_id,
            connector_id=connector.connector_id,
            transaction_id=session.transaction_id,
            id_tag=session.id_tag,
            start_ts=session.start,
            stop_ts=now,
            energy_wh=float(connector.meter.counted_wh - session.counted_start_wh),
            meter_start_wh=float(session.meter_start_wh),
            meter_stop_wh=float(meter_stop),
        )
        self.truth.append(truth)
        transaction_data = [
            session.begin_sample,
            self._meter_value(connector, session, now, ReadingContext.transaction_end),
        ]
        request = call.StopTransaction(
            meter_stop=meter_stop,
            timestamp=self._stamp(now),
            # Errata v4.0 §3.18: -1 when the StartTransaction was never answered.
            transaction_id=session.transaction_id if session.transaction_id is not None else -1,
            reason=None if reason == Reason.local else Reason(reason),
            id_tag=session.id_tag,
            transaction_data=[sample for sample in transaction_data if sample is not None],
        )
        return request, truth

    def _meter_value(
        self, connector: _Connector, session: _Session | None, now: dt.datetime, context: ReadingContext
    ) -> dict[str, Any]:
        if context in (ReadingContext.transaction_begin, ReadingContext.transaction_end):
            measurands = self._measurands("StopTxnSampledData")
        else:
            measurands = self._measurands(self._sampled_data_key)
        if Misbehaviour.ENERGY_ONLY in self.config.misbehaviours:
            measurands = [Measurand.energy_active_import_register.value]
        return {
            "timestamp": self._stamp(now),
            "sampledValue": sampled_values(
                measurands,
                register_wh=connector.meter.register_wh,
                power_w=connector.meter.power_w,
                phases=self.config.phases,
                voltage_v=self.config.voltage_v,
                context=context,
                kwh_as_wh=session is not None and session.kwh_as_wh,
            ),
        }

    async def _apply_power(self, now: dt.datetime) -> None:
        """Recompute power and status now, and report the status changes."""
        await self._send_status_changes(self._recompute_power(now), now)

    def _recompute_power(self, now: dt.datetime) -> list[tuple[int, str]]:
        """Set every connector's power and status from sessions and limits, at once (no await);
        returns the (connector id, status) changes to report. The station limit is shared
        equally by the connectors that draw."""
        station_w = self._limits_w.get((ChargingProfilePurposeType.charge_point_max_profile.value, 0), math.inf)
        ignore_limits = Misbehaviour.IGNORE_CHARGING_LIMIT in self.config.misbehaviours
        if ignore_limits:
            station_w = math.inf  # accepted the profiles, applies none
        wanting = [
            c
            for c in self._connectors.values()
            if c.session is not None
            and c.session.started
            and not c.session.ev_suspended
            and not c.session.evse_suspended
            and (ignore_limits or self._connector_limit_w(c.connector_id) > 0)
        ]
        share_w = station_w / len(wanting) if wanting else station_w
        changes: list[tuple[int, str]] = []
        for connector in self._connectors.values():
            session = connector.session
            if session is None or not session.started:
                connector.meter.set_power(now, 0.0)
                continue
            limit_w = math.inf if ignore_limits else min(self._connector_limit_w(connector.connector_id), share_w)
            if session.evse_suspended or limit_w <= 0:
                status, power_w = ChargePointStatus.suspended_evse.value, 0.0
            elif session.ev_suspended:
                status, power_w = ChargePointStatus.suspended_ev.value, 0.0
            else:
                status, power_w = ChargePointStatus.charging.value, min(self.config.max_power_w, limit_w)
            connector.meter.set_power(now, power_w)
            if status != connector.status:
                # Claimed now, before any await, so a concurrent recomputation does not report it twice.
                connector.status = status
                changes.append((connector.connector_id, status))
        return changes

    async def _send_status_changes(self, changes: list[tuple[int, str]], now: dt.datetime) -> None:
        for connector_id, status in changes:
            await self._send_status(connector_id, status, now)

    # -- faults --------------------------------------------------------------------------------

    def _fault(self, fault: Fault, connector_id: int | None, when: dt.datetime, detail: str) -> None:
        self.faults_injected.append(InjectedFault(fault.value, self.charge_point_id, connector_id, when, detail))

    def _offline_budget_s(self) -> float:
        return self.config.offline_s + 2 * self.config.response_timeout_s + 10

    async def _network_drop(self, now: dt.datetime, connector_id: int) -> None:
        offline_s = max(self.config.offline_s, 1.5 * self._interval_s("MeterValueSampleInterval"))
        self._fault(Fault.RECONNECT, connector_id, now, f"connection lost, back after {offline_s:g} s")
        await self._drop_connection()
        self._reconnecting = self._spawn(self._reconnect_later(offline_s, boot=False), "reconnect")

    async def _power_loss(self, now: dt.datetime, connector_id: int) -> None:
        self._fault(
            Fault.REBOOT_DURING_TRANSACTION,
            connector_id,
            now,
            f"power lost during the transaction, reboot after {self.config.offline_s:g} s",
        )
        # Offline first, so the queued StopTransactions wait for the new connection.
        self._online.clear()
        for connector in self._connectors.values():
            if connector.session is not None:
                session = connector.session
                request, _ = await self._end_session(connector, now, Reason.power_loss)
                self._enqueue(request)
                session.finished.set()
            connector.status = ChargePointStatus.available.value
        await self._drop_connection()
        self._reconnecting = self._spawn(self._reconnect_later(self.config.offline_s, boot=True), "reboot")

    async def _reset(self, reset_type: str) -> None:
        reason = Reason.hard_reset if reset_type == ResetType.hard else Reason.soft_reset
        for connector in self._connectors.values():
            if connector.session is not None:
                await self.stop_transaction(connector.connector_id, reason)
        self._online.clear()
        self._expect_disconnect = True
        async with self._io_lock:
            await self._close_websocket()
        self._reconnecting = self._spawn(self._reconnect_later(0.2, boot=True), "reset reboot")

    # -- the link ------------------------------------------------------------------------------

    def _start_background(self) -> None:
        if not any(task.get_name() == "tx sender" for task in self._tasks):
            self._spawn(self._tx_sender(), "tx sender")
            self._spawn(self._heartbeat_loop(), "heartbeat")

    def _boot_request(self) -> Any:
        return call.BootNotification(
            charge_point_model=self.config.model,
            charge_point_vendor=self.config.vendor,
            charge_point_serial_number=self.charge_point_id[:25],
            firmware_version="lab-1.0",
        )

    async def _open(self, *, boot: bool) -> None:
        """Connect, then (boot and) report statuses; sets the link online."""
        headers = {}
        if self.config.password is not None and Misbehaviour.NO_BASIC_AUTH not in self.config.misbehaviours:
            headers["Authorization"] = build_authorization_basic(self.config.charge_point_id, self.config.password)
        try:
            websocket = await connect(
                self.url,
                ssl=self.ssl_context,
                subprotocols=[OCPP16],
                additional_headers=headers,
                open_timeout=10,
                close_timeout=2,
                ping_interval=None,
                compression=None,
            )
        except InvalidStatus as error:
            status = error.response.status_code
            message = f"{self.charge_point_id}: CSMS refused the upgrade with HTTP {status}"
            raise ChargerConnectError(message, status) from error
        except (OSError, InvalidHandshake, TimeoutError) as error:
            raise ChargerConnectError(f"{self.charge_point_id}: cannot connect to {self.url}: {error}") from error
        if websocket.subprotocol != OCPP16:
            await websocket.close()
            raise ChargerConnectError(f"{self.charge_point_id}: the CSMS did not select ocpp1.6")
        self.connections += 1

        def record(direction: Direction, message: str | bytes) -> None:
            self.frames.append((direction.value, message))

        self._ws = websocket
        self._cp = _ChargerChargePoint(self, RecordingConnection(websocket, Direction.CHARGER_TO_CSMS, record))
        self._expect_disconnect = False
        self._reader = self._spawn(self._read(self._cp), "reader")
        now = utc_now()
        if boot:
            response = await self._raw_call(self._boot_request())
            self.boot_response = response
            if response.status != RegistrationStatus.accepted:
                message = f"{self.charge_point_id}: BootNotification {response.status}, not Accepted"
                raise ChargerConnectError(message)
            if self.config.heartbeat_interval_s is None and self._configuration["HeartbeatInterval"].value == "0":
                self._configuration["HeartbeatInterval"].value = str(response.interval)
        # After a boot every connector's status; after a reconnect the current ones ([SPEC] §4.9).
        await self._raw_call(self._status_request(0, self._station_status, now))
        for connector in self._connectors.values():
            await self._raw_call(self._status_request(connector.connector_id, connector.status, now))
        if boot and self.config.heartbeat_after_boot:
            await self._raw_call(call.Heartbeat())
        self._online.set()
        self._tx_wakeup.set()

    async def _read(self, charge_point: _ChargerChargePoint) -> None:
        try:
            await charge_point.start()
        except ConnectionClosed:
            pass
        if self._cp is charge_point:
            self._online.clear()
            if not self._expect_disconnect and not self._closing:
                LOGGER.warning("%s: connection lost unexpectedly; reconnecting", self.charge_point_id)
                self._reconnecting = self._spawn(self._reconnect_later(0.5, boot=False), "reconnect after loss")

    async def _reconnect_later(self, delay_s: float, *, boot: bool) -> None:
        await asyncio.sleep(delay_s)
        last_error: Exception | None = None
        for _ in range(self.config.reconnect_attempts):
            try:
                await self._open(boot=boot)
                return
            except (ChargerConnectError, ConnectionClosed, TimeoutError) as error:
                last_error = error
                await self._close_websocket()
                await asyncio.sleep(0.5)
        raise ChargerConnectError(f"{self.charge_point_id}: could not reconnect: {last_error}")

    async def _drop_connection(self) -> None:
        """Kill the link without a close frame (power loss, network loss)."""
        self._online.clear()
        self._expect_disconnect = True
        async with self._io_lock:
            websocket = self._ws
            if websocket is None:
                return
            # Let what websockets already accepted reach the wire, so both peers record the
            # same frames; then abort: no close frame, the CSMS sees 1006.
            for _ in range(100):
                if websocket.transport.get_write_buffer_size() == 0:
                    break
                await asyncio.sleep(0.01)
            websocket.transport.abort()
        if self._reader is not None:
            await asyncio.wait({self._reader}, timeout=5)

    async def _close_websocket(self) -> None:
        websocket, self._ws = self._ws, None
        if websocket is not None:
            try:
                await asyncio.wait_for(websocket.close(), timeout=5)
            except (TimeoutError, OSError):
                websocket.transport.abort()
        reader = self._reader
        if reader is not None and reader is not asyncio.current_task():
            await asyncio.wait({reader}, timeout=5)
            if not reader.done():
                reader.cancel()
                await asyncio.wait({reader}, timeout=2)

    async def _raw_call(self, request: Any) -> Any:
        """Call on the current connection, online or not (registration)."""
        async with self._io_lock:
            assert self._cp is not None
            return await self._cp.call(request, suppress=False)

    async def _call(self, request: Any, *, when_offline: str = "wait") -> Any:
        """Call once registered; offline: wait (bounded) or, with ``"skip"``, return None."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._offline_budget_s()
        while True:
            if not self._online.is_set():
                if when_offline == "skip":
                    return None
                remaining = deadline - loop.time()
                if remaining <= 0:
                    action = type(request).__name__
                    raise TimeoutError(f"{self.charge_point_id}: offline for too long to send {action}")
                try:
                    await asyncio.wait_for(self._online.wait(), remaining)
                except TimeoutError:
                    continue
            async with self._io_lock:
                if not self._online.is_set() or self._cp is None:
                    continue
                return await self._cp.call(request, suppress=False)

    def _enqueue(self, request: Any) -> asyncio.Future[Any]:
        """Queue a transaction message; delivered in order, after reconnects (spec §3.7)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._tx_queue.append((request, future))
        self._tx_wakeup.set()
        return future

    async def _transaction_call(self, request: Any) -> Any:
        """Queue a transaction message and wait for its answer (bounded)."""
        future = self._enqueue(request)
        timeout_s = self._offline_budget_s() + self.config.response_timeout_s
        return await asyncio.wait_for(asyncio.shield(future), timeout_s)

    async def _tx_sender(self) -> None:
        while True:
            while not self._tx_queue:
                self._tx_wakeup.clear()
                await self._tx_wakeup.wait()
            request, future = self._tx_queue[0]
            try:
                result = await self._call(request)
            except (ConnectionClosed, TimeoutError):
                # Not delivered (or not answered): keep it at the head and retry when back.
                await asyncio.sleep(0.05)
                continue
            except OCPPError as error:
                self._tx_queue.popleft()
                if future is not None and not future.done():
                    future.set_exception(error)
                continue
            self._tx_queue.popleft()
            if future is not None and not future.done():
                future.set_result(result)

    async def _heartbeat_loop(self) -> None:
        """A Heartbeat every HeartbeatInterval (s), whatever else was sent (0 = none). Wakes at
        least every 0.5 s so a changed interval takes effect promptly."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            interval_s = self._interval_s("HeartbeatInterval")
            due_in_s = last + interval_s - loop.time() if interval_s > 0 else 0.5
            await asyncio.sleep(min(max(due_in_s, 0.0), 0.5))
            if interval_s <= 0 or loop.time() < last + interval_s:
                continue
            last += interval_s
            if self._online.is_set():
                try:
                    await self._call(call.Heartbeat(), when_offline="skip")
                except (ConnectionClosed, TimeoutError):
                    pass
            last = max(last, loop.time() - interval_s)  # after a long outage, do not burst

    def _status_request(self, connector_id: int, status: str, when: dt.datetime) -> Any:
        return call.StatusNotification(
            connector_id=connector_id,
            error_code=ChargePointErrorCode.no_error,
            status=ChargePointStatus(status),
            timestamp=self._stamp(when),
        )

    async def _send_status(self, connector_id: int, status: str, when: dt.datetime) -> None:
        try:
            await self._call(self._status_request(connector_id, status, when), when_offline="skip")
        except ConnectionClosed:
            pass  # the current status is re-sent after the reconnect

    async def _set_status(self, connector: _Connector, status: str, when: dt.datetime | None = None) -> None:
        connector.status = ChargePointStatus(status).value
        await self._send_status(connector.connector_id, connector.status, when or utc_now())

    def _spawn(self, coroutine: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        """Run in the background; errors are logged and kept in :attr:`errors`."""

        async def guarded() -> Any:
            try:
                return await coroutine
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if self._closing and isinstance(error, (ConnectionClosed, TimeoutError)):
                    return None
                LOGGER.exception("%s: background task %s failed", self.charge_point_id, name)
                self.errors.append(error)
                return None

        task = asyncio.get_running_loop().create_task(guarded(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _number_text(value: float) -> str:
    """Configuration values are strings: ``1.0`` -> ``"1"``, ``0.5`` -> ``"0.5"``."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _valid_configuration_value(key: str, value: str) -> bool:
    if key in ("HeartbeatInterval", "MeterValueSampleInterval", "ConnectionTimeOut"):
        try:
            return float(value) >= 0
        except ValueError:
            return False
    if key == "ClockAlignedDataInterval":
        return value.strip() == "0"  # clock-aligned data is not simulated
    if key in (STANDARD_SAMPLED_DATA_KEY, DOCUMENT_SAMPLED_DATA_KEY, "StopTxnSampledData", "MeterValuesAlignedData",
               "StopTxnAlignedData"):
        items = [item.strip() for item in value.split(",") if item.strip()]
        supported = {measurand.value for measurand in SUPPORTED_MEASURANDS}
        return all(item in supported for item in items) and len(items) <= len(SUPPORTED_MEASURANDS)
    if key == "AuthorizeRemoteTxRequests":
        return value in ("true", "false")
    return True


async def run_lab_chargers(
    url: str,
    ssl_context: Any | None,
    configs: Sequence[ChargerConfig],
    sessions: int,
    session_s: float,
) -> list[LabCharger]:
    """Run ``sessions`` scripted sessions of ``session_s`` seconds on each charger, all chargers
    at once; returns the chargers (their frames, truth and faults). Raises the first failure."""
    chargers = [LabCharger(config, url, ssl_context) for config in configs]
    outcomes = await asyncio.gather(
        *(charger.run_sessions(sessions, session_s) for charger in chargers), return_exceptions=True
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return chargers


def write_chargers_truth(path: Any, chargers: Sequence[LabCharger]) -> Any:
    """One truth sidecar for several chargers (e.g. ``truth_path(capture)`` after a demo run)."""
    sessions = [session for charger in chargers for session in charger.truth]
    faults = [fault for charger in chargers for fault in charger.faults_injected]
    return write_truth(path, sessions, faults)


__all__ = [
    "FAULT_NAMES",
    "ChargerConfig",
    "ChargerConnectError",
    "Fault",
    "LabCharger",
    "run_lab_chargers",
    "write_chargers_truth",
]
