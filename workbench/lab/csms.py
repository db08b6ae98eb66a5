"""The lab CSMS: a real OCPP 1.6J central system on loopback, built on ``ocpp`` and ``websockets``.

WSS with TLS 1.2 minimum (or plain WS when no PKI is given), HTTP Basic Auth checked per charge
point before the upgrade (401 on a missing or wrong password, 404 on an unknown identity),
subprotocol ``ocpp1.6``. It answers every Core request a charge point sends, assigns
transaction ids, keeps what it learnt (statuses, transactions) and sends CSMS-initiated requests
through :meth:`LabCSMS.call`. Every message is recorded exactly as on the wire in
:attr:`LabCSMS.frames`.

Usage::

    async with LabCSMS(pki=pki, passwords={"CP-1": "secret"}) as csms:
        ...  # chargers connect to f"{csms.url}/CP-1"
        response = await csms.call("CP-1", call.GetConfiguration())
"""

from __future__ import annotations

import asyncio
import hmac
import http
import itertools
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import ocpp.messages
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import (
    Action,
    AuthorizationStatus,
    DataTransferStatus,
    RegistrationStatus,
)
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidHeader
from websockets.headers import build_www_authenticate_basic, parse_authorization_basic
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from ..capture.records import Direction
from ..errors import WorkbenchError
from .certs import LabPKI, ServerCertificate
from .clock import ocpp_timestamp
from .dispatch import FastDispatch
from .recording import RecordingConnection

LOGGER = logging.getLogger(__name__)

# The ocpp library validates every message against its JSON schema in a thread-pool executor by
# default: a thread hop (and a GIL hand-over) per message that costs more than the validation of a
# lab-sized payload. Validated inline, the messages, the checks and the CALLERRORs are the same;
# the lab CSMS answers about 1.4x faster (bench/replay.py). Process-wide: the library has one switch.
ocpp.messages.ASYNC_VALIDATION = False

OCPP16 = Subprotocol("ocpp1.6")
REALM = "ocpp-workbench lab"
# The close code used when the charger did not offer ocpp1.6 ([J] §3: complete the handshake
# without the header, then close).
CLOSE_PROTOCOL_ERROR = 1002


@dataclass
class CSMSTransaction:
    """A transaction as the CSMS saw it. Meter values in Wh as reported."""

    transaction_id: int
    charge_point_id: str
    connector_id: int
    id_tag: str
    meter_start_wh: int
    start_ts: str
    meter_stop_wh: int | None = None
    stop_ts: str | None = None
    stop_reason: str | None = None


@dataclass
class Rejection:
    """An upgrade the CSMS refused: which identity (if any could be read) and the HTTP status."""

    charge_point_id: str | None
    status_code: int
    reason: str


@dataclass
class ChargePointState:
    """What the CSMS knows of one charge point (kept across reconnects)."""

    boots: int = 0
    boot_payload: dict[str, Any] = field(default_factory=dict)
    statuses: dict[int, str] = field(default_factory=dict)
    heartbeats: int = 0
    meter_values: int = 0


class CSMSChargePoint(FastDispatch, ChargePoint):
    """The CSMS side of one live connection: answers the charge point's requests."""

    def __init__(self, charge_point_id: str, connection: RecordingConnection, csms: LabCSMS) -> None:
        super().__init__(charge_point_id, connection, response_timeout=csms.response_timeout_s)
        self._csms = csms
        self.state = csms.charge_points.setdefault(charge_point_id, ChargePointState())

    @on(Action.boot_notification)
    def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str, **extra: Any):
        self.state.boots += 1
        self.state.boot_payload = {
            "charge_point_vendor": charge_point_vendor,
            "charge_point_model": charge_point_model,
            **extra,
        }
        return call_result.BootNotification(
            current_time=ocpp_timestamp(),
            interval=self._csms.heartbeat_interval_s,
            status=RegistrationStatus.accepted,
        )

    @after(Action.boot_notification)
    def after_boot_notification(self, **_: Any) -> None:
        if self._csms.get_configuration_on_boot:
            # Real CSMSs read the configuration after a boot; it also gives a charger with the
            # "callerror_unsupported" fault a request to refuse.
            self._csms.spawn(self._csms.call(self.id, call.GetConfiguration()))

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any):
        self.state.heartbeats += 1
        return call_result.Heartbeat(current_time=ocpp_timestamp())

    @on(Action.authorize)
    def on_authorize(self, id_tag: str, **_: Any):
        return call_result.Authorize(id_tag_info={"status": self._csms.authorization_status(id_tag)})

    @on(Action.start_transaction)
    def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **_: Any
    ):
        transaction_id = next(self._csms._transaction_ids)
        self._csms.transactions[transaction_id] = CSMSTransaction(
            transaction_id=transaction_id,
            charge_point_id=self.id,
            connector_id=connector_id,
            id_tag=id_tag,
            meter_start_wh=meter_start,
            start_ts=timestamp,
        )
        return call_result.StartTransaction(
            transaction_id=transaction_id,
            id_tag_info={"status": self._csms.authorization_status(id_tag)},
        )

    @on(Action.stop_transaction)
    def on_stop_transaction(
        self, transaction_id: int, meter_stop: int, timestamp: str, **extra: Any
    ):
        transaction = self._csms.transactions.get(transaction_id)
        if transaction is not None:
            transaction.meter_stop_wh = meter_stop
            transaction.stop_ts = timestamp
            transaction.stop_reason = extra.get("reason", "Local")
        # The CS cannot refuse a stop; idTagInfo only when an idTag was given.
        id_tag = extra.get("id_tag")
        if id_tag is None:
            return call_result.StopTransaction()
        return call_result.StopTransaction(
            id_tag_info={"status": self._csms.authorization_status(id_tag)}
        )

    @on(Action.meter_values)
    def on_meter_values(self, connector_id: int, meter_value: list, **_: Any):
        self.state.meter_values += 1
        return call_result.MeterValues()

    @on(Action.status_notification)
    def on_status_notification(self, connector_id: int, error_code: str, status: str, **_: Any):
        self.state.statuses[connector_id] = status
        return call_result.StatusNotification()

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any):
        return call_result.DataTransfer(status=DataTransferStatus.unknown_vendor_id)

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(self, status: str, **_: Any):
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, status: str, **_: Any):
        return call_result.FirmwareStatusNotification()


class LabCSMS:
    """A lab central system; use as ``async with``. See the module docstring.

    ``passwords`` maps charge point id -> Basic Auth password. ``unknown_ids``: ``"404"``
    refuses identities not in ``passwords`` with HTTP 404; ``"accept"`` lets them in without
    authentication. ``pki=None`` serves plain ``ws://`` (for tests of the TLS checks).
    ``heartbeat_interval_s`` is the ``interval`` of BootNotification.conf (s).
    ``blocked_id_tags`` are answered ``Blocked``. ``get_configuration_on_boot`` sends a
    GetConfiguration after every accepted BootNotification (as many real CSMSs do; off by
    default so a capture holds only what the charger asked for). ``max_tls_version`` caps TLS
    (default TLS 1.2 only, like the ELB policy of ev.energy's R1; None allows TLS 1.3).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        pki: LabPKI | ServerCertificate | None,
        passwords: Mapping[str, str],
        path_prefix: str = "/ocpp",
        heartbeat_interval_s: int = 300,
        unknown_ids: str = "404",
        blocked_id_tags: frozenset[str] = frozenset(),
        get_configuration_on_boot: bool = False,
        response_timeout_s: float = 10.0,
        first_transaction_id: int = 1,
        max_tls_version: ssl.TLSVersion | None = ssl.TLSVersion.TLSv1_2,
    ) -> None:
        if unknown_ids not in ("404", "accept"):
            raise ValueError(f"unknown_ids must be '404' or 'accept', not {unknown_ids!r}")
        if not path_prefix.startswith("/") or path_prefix.endswith("/"):
            raise ValueError(f"path_prefix must start and not end with '/': {path_prefix!r}")
        self.host = host
        self.port = port
        self.pki = pki
        self.passwords = dict(passwords)
        self.path_prefix = path_prefix
        self.heartbeat_interval_s = heartbeat_interval_s
        self.unknown_ids = unknown_ids
        self.blocked_id_tags = frozenset(blocked_id_tags)
        self.get_configuration_on_boot = get_configuration_on_boot
        self.response_timeout_s = response_timeout_s
        self.max_tls_version = max_tls_version

        self.frames: list[tuple[str, str, str | bytes]] = []
        """(charge_point_id, direction, exact message) for every message sent or received."""
        self.connected: dict[str, CSMSChargePoint] = {}
        """Live connections by charge point id."""
        self.charge_points: dict[str, ChargePointState] = {}
        self.transactions: dict[int, CSMSTransaction] = {}
        self.rejections: list[Rejection] = []
        self.background_errors: list[Exception] = []
        """Failures of requests sent in the background (GetConfiguration on boot)."""
        self.connections_accepted = 0
        self.connection_log: list[dict[str, Any]] = []
        """One dict per accepted WebSocket: charge_point_id, subprotocol, tls_version, cipher,
        close_code (the charger's close code; 1006 when the link died without one)."""
        self.url = ""
        """``wss://127.0.0.1:PORT/ocpp``; a charger connects to ``url + "/" + id``."""

        self._transaction_ids = itertools.count(first_transaction_id)
        self._server: Server | None = None
        self._ids_by_connection: dict[int, str] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> LabCSMS:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen; afterwards :attr:`url` holds the real port."""
        ssl_context = self.pki.server_ssl_context() if self.pki is not None else None
        if ssl_context is not None and self.max_tls_version is not None:
            ssl_context.maximum_version = self.max_tls_version
        self._server = await serve(
            self._handle_connection,
            self.host,
            self.port,
            ssl=ssl_context,
            subprotocols=[OCPP16],
            select_subprotocol=_select_ocpp16,
            process_request=self._process_request,
            open_timeout=10,
            close_timeout=2,
        )
        port = self._server.sockets[0].getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "wss" if ssl_context is not None else "ws"
        self.url = f"{scheme}://{host}:{port}{self.path_prefix}"
        self.port = port

    async def stop(self) -> None:
        """Close every connection and stop listening (bounded: a few seconds at most)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)
        if self._server is not None:
            self._server.close()
            try:
                await asyncio.wait_for(self._server.wait_closed(), timeout=5)
            except TimeoutError:
                LOGGER.warning("lab CSMS did not close within 5 s")
            self._server = None

    def charge_point_url(self, charge_point_id: str) -> str:
        """The URL a charger with this identity connects to (identity percent-encoded)."""
        return f"{self.url}/{quote(charge_point_id, safe='')}"

    # -- API for tests and the demo ------------------------------------------------------------

    async def call(self, charge_point_id: str, request: Any, timeout_s: float | None = None) -> Any:
        """Send a CSMS-initiated request (an ``ocpp.v16.call`` dataclass); returns the
        ``ocpp.v16.call_result`` object.

        Raises :class:`WorkbenchError` when the charge point is not connected, an
        ``ocpp.exceptions.OCPPError`` when it answers with a CALLERROR, and ``TimeoutError``.
        """
        charge_point = self.connected.get(charge_point_id)
        if charge_point is None:
            raise WorkbenchError(f"charge point {charge_point_id!r} is not connected to the lab CSMS")
        timeout_s = self.response_timeout_s if timeout_s is None else timeout_s
        return await asyncio.wait_for(charge_point.call(request, suppress=False), timeout_s + 1)

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float, what: str = "") -> None:
        """Poll ``condition`` every 10 ms until true; ``TimeoutError`` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"lab CSMS: timed out after {timeout_s} s waiting for {what or condition}")
            await asyncio.sleep(0.01)

    async def wait_connected(self, charge_point_id: str, timeout_s: float = 10.0) -> CSMSChargePoint:
        """Wait until ``charge_point_id`` has a live connection; returns it."""
        await self.wait_for(
            lambda: charge_point_id in self.connected, timeout_s, f"{charge_point_id} to connect"
        )
        return self.connected[charge_point_id]

    async def wait_disconnected(self, charge_point_id: str, timeout_s: float = 10.0) -> None:
        await self.wait_for(
            lambda: charge_point_id not in self.connected, timeout_s, f"{charge_point_id} to leave"
        )

    def frames_of(self, charge_point_id: str) -> list[tuple[str, str | bytes]]:
        """(direction, exact message) of one charge point, in the order the CSMS saw them."""
        return [(direction, text) for cp_id, direction, text in self.frames if cp_id == charge_point_id]

    def authorization_status(self, id_tag: str) -> AuthorizationStatus:
        if id_tag in self.blocked_id_tags:
            return AuthorizationStatus.blocked
        return AuthorizationStatus.accepted

    def spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        """Run ``coroutine`` in the background; cancelled on :meth:`stop`. Its failure is
        logged and kept in :attr:`background_errors`, never raised into the server."""

        async def guarded() -> Any:
            try:
                return await coroutine
            except asyncio.CancelledError:
                raise
            except Exception as error:  # e.g. a CALLERROR or a charger that left meanwhile
                LOGGER.info("lab CSMS background request ended: %r", error)
                self.background_errors.append(error)
                return None

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- websockets callbacks ------------------------------------------------------------------

    def _reject(
        self, connection: ServerConnection, charge_point_id: str | None, status: http.HTTPStatus, reason: str
    ) -> Response:
        self.rejections.append(Rejection(charge_point_id, int(status), reason))
        response = connection.respond(status, reason + "\n")
        if status == http.HTTPStatus.UNAUTHORIZED:
            response.headers["WWW-Authenticate"] = build_www_authenticate_basic(REALM)
        return response

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        prefix = self.path_prefix + "/"
        encoded_id = path[len(prefix) :] if path.startswith(prefix) else ""
        if not encoded_id or "/" in encoded_id:
            return self._reject(connection, None, http.HTTPStatus.NOT_FOUND, "Unknown path")
        charge_point_id = unquote(encoded_id)
        expected = self.passwords.get(charge_point_id)
        if expected is None:
            if self.unknown_ids == "404":
                return self._reject(
                    connection, charge_point_id, http.HTTPStatus.NOT_FOUND, "Unknown charge point"
                )
        else:
            problem = _basic_auth_problem(request.headers, charge_point_id, expected)
            if problem:
                return self._reject(connection, charge_point_id, http.HTTPStatus.UNAUTHORIZED, problem)
        self._ids_by_connection[id(connection)] = charge_point_id
        return None

    async def _handle_connection(self, connection: ServerConnection) -> None:
        charge_point_id = self._ids_by_connection.pop(id(connection))
        if connection.subprotocol != OCPP16:
            await connection.close(CLOSE_PROTOCOL_ERROR, "subprotocol ocpp1.6 required")
            return
        self.connections_accepted += 1
        ssl_object = connection.transport.get_extra_info("ssl_object")
        self.connection_log.append(
            {
                "charge_point_id": charge_point_id,
                "subprotocol": connection.subprotocol,
                "tls_version": ssl_object.version() if ssl_object is not None else None,
                "cipher": ssl_object.cipher()[0] if ssl_object is not None else None,
                "close_code": None,
            }
        )

        def record(direction: Direction, message: str | bytes) -> None:
            self.frames.append((charge_point_id, direction.value, message))

        recording = RecordingConnection(connection, Direction.CSMS_TO_CHARGER, record)
        charge_point = CSMSChargePoint(charge_point_id, recording, self)
        self.connected[charge_point_id] = charge_point
        log_entry = self.connection_log[-1]
        try:
            await charge_point.start()
        except ConnectionClosed as closed:
            # 1006 (no close frame) when the charger vanished, e.g. the reboot fault.
            if closed.rcvd is not None:
                log_entry["close_code"] = closed.rcvd.code
            elif closed.sent is None:
                log_entry["close_code"] = 1006
        finally:
            # A reconnect may already have replaced this connection.
            if self.connected.get(charge_point_id) is charge_point:
                del self.connected[charge_point_id]


def _select_ocpp16(connection: ServerConnection, offered: Any) -> Subprotocol | None:
    """Pick ocpp1.6 when offered; otherwise no subprotocol (the handler then closes)."""
    return OCPP16 if OCPP16 in offered else None


def _basic_auth_problem(headers: Headers, charge_point_id: str, expected: str) -> str:
    """Why the Authorization header does not authenticate ``charge_point_id`` ("" when it does)."""
    header = headers.get("Authorization")
    if header is None:
        return "Missing credentials"
    try:
        username, password = parse_authorization_basic(header)
    except InvalidHeader:
        return "Unsupported credentials"
    if username != charge_point_id:
        return "Username is not the charge point identity"
    # Constant-time comparison: the lab CSMS should not teach timing leaks.
    if not hmac.compare_digest(password.encode(), expected.encode()):
        return "Invalid credentials"
    return ""
