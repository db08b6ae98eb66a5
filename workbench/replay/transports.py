"""Transports: how the engine reaches a peer. The seam between the sans-io plan and the network.

A :class:`Connector` opens one :class:`Transport` per connection of a charge point:

* :class:`ClientConnector`: the replayer plays the charger and dials the CSMS with ``websockets``
  (``URL/<charge point id>`` or a URL with ``{charge_point_id}``, ws or wss, subprotocol
  ``ocpp1.6``, Basic Auth from a password source, never from the capture).
* :class:`ServerConnector`: the replayer plays the CSMS; it listens (wss with a certificate, or ws),
  checks Basic Auth when passwords are given, and hands each charger that dials in to its plan.
* :class:`MockConnector` / :class:`MockTransport`: in-memory peers for unit tests of the engine only.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import http
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidHeader, InvalidStatus
from websockets.headers import build_www_authenticate_basic, parse_authorization_basic
from websockets.typing import Subprotocol

from ..capture.records import tls_facts
from ..errors import WorkbenchError

OCPP16 = Subprotocol("ocpp1.6")
PasswordSource = Callable[[str], "str | None"]


class TransportClosed(Exception):
    """The peer (or the network) closed the connection. ``code`` 1006: no close frame."""

    def __init__(self, code: int | None, reason: str = "", by_peer: bool = True) -> None:
        super().__init__(f"connection closed ({code} {reason})".strip())
        self.code = code
        self.reason = reason
        self.by_peer = by_peer


class ReplayConnectError(WorkbenchError):
    """A connection could not be made (refused, HTTP 401/404, TLS failure, no ocpp1.6, timeout)."""


@dataclass
class ConnectionFacts:
    """What the capture's ``connection_open`` record says about a replayed connection."""

    url_path: str | None = None
    client_address: str | None = None
    subprotocols_offered: list[str] = field(default_factory=lambda: [OCPP16])
    subprotocol: str | None = None
    charger_tls: dict[str, Any] | None = None
    auth_user: str | None = None
    auth_password_present: bool = False


class Transport:
    """One live connection. ``recv`` raises :class:`TransportClosed` when it ends."""

    facts: ConnectionFacts

    async def send(self, text: str) -> None:
        raise NotImplementedError

    async def recv(self) -> str:
        raise NotImplementedError

    async def close(self, code: int = 1000) -> None:
        """Close with ``code``; 1006 drops the link without a close frame (a power loss)."""
        raise NotImplementedError


class Connector:
    async def connect(self, charge_point_id: str, auth_user: str | None, timeout_s: float) -> Transport:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release what the connector holds (a listening socket)."""


# -- websockets ---------------------------------------------------------------------------------

class WebSocketTransport(Transport):
    def __init__(self, connection: Any, facts: ConnectionFacts) -> None:
        self._ws = connection
        self.facts = facts

    async def send(self, text: str) -> None:
        try:
            await self._ws.send(text)
        except ConnectionClosed as closed:
            raise _closed(closed) from None

    async def recv(self) -> str:
        try:
            message = await self._ws.recv()
        except ConnectionClosed as closed:
            raise _closed(closed) from None
        if isinstance(message, bytes):  # OCPP-J is text; keep what came as text for the verdict
            return message.decode("utf-8", "replace")
        return message

    async def close(self, code: int = 1000) -> None:
        if code == 1006:
            self._ws.transport.abort()
            return
        await self._ws.close(code)


def _closed(closed: ConnectionClosed) -> TransportClosed:
    if closed.rcvd is not None:
        return TransportClosed(closed.rcvd.code, closed.rcvd.reason, by_peer=True)
    if closed.sent is not None:
        return TransportClosed(closed.sent.code, closed.sent.reason, by_peer=False)
    return TransportClosed(1006, "", by_peer=True)


def _tls_of(connection: Any) -> dict[str, Any] | None:
    ssl_object = connection.transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    return tls_facts(ssl_object.version(), ssl_object.cipher()[0], ssl_object.server_hostname)


def basic_auth_header(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def charge_point_url(target: str, charge_point_id: str) -> str:
    """``target/<id>`` (percent-encoded, OCPP-J), or ``target`` with ``{charge_point_id}`` filled in."""
    encoded = quote(charge_point_id, safe="")
    if "{charge_point_id}" in target:
        return target.replace("{charge_point_id}", encoded)
    return f"{target.rstrip('/')}/{encoded}"


class ClientConnector(Connector):
    """Dial the CSMS as the charger. ``passwords(id)`` gives the Basic Auth password (None: no
    Authorization header); ``ssl_context`` for wss (None: the system's default trust)."""

    def __init__(self, target: str, *, passwords: PasswordSource | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        parsed = urlsplit(target.replace("{charge_point_id}", "x"))
        scheme = parsed.scheme
        if scheme not in ("ws", "wss") or not parsed.hostname:
            raise WorkbenchError(f"--target must be a ws:// or wss:// URL with a host, got {target!r}")
        if parsed.username or parsed.password:
            raise WorkbenchError("--target must not carry credentials; use --password-env or --password-file")
        self.target = target
        self.passwords = passwords or (lambda _id: None)
        self.ssl_context = ssl_context if scheme == "wss" else None
        if scheme == "wss" and self.ssl_context is None:
            self.ssl_context = ssl.create_default_context()

    async def connect(self, charge_point_id: str, auth_user: str | None, timeout_s: float) -> Transport:
        url = charge_point_url(self.target, charge_point_id)
        user = auth_user or charge_point_id
        password = self.passwords(charge_point_id)
        headers = {"Authorization": basic_auth_header(user, password)} if password is not None else None
        try:
            connection = await ws_connect(url, subprotocols=[OCPP16], ssl=self.ssl_context,
                                          additional_headers=headers, open_timeout=timeout_s,
                                          close_timeout=2, max_size=None, ping_interval=None)
        except InvalidStatus as exc:
            raise ReplayConnectError(f"{charge_point_id}: the CSMS refused the upgrade with HTTP "
                                     f"{exc.response.status_code}") from None
        except (OSError, InvalidHandshake, TimeoutError, ssl.SSLError) as exc:
            raise ReplayConnectError(f"{charge_point_id}: cannot connect to {url}: "
                                     f"{type(exc).__name__}: {exc}") from None
        if connection.subprotocol != OCPP16:
            await connection.close(1002)
            raise ReplayConnectError(f"{charge_point_id}: the CSMS did not select subprotocol ocpp1.6")
        sockname = connection.transport.get_extra_info("sockname")
        facts = ConnectionFacts(
            url_path=urlsplit(url).path, subprotocol=connection.subprotocol,
            client_address=f"{sockname[0]}:{sockname[1]}" if sockname else None,
            charger_tls=_tls_of(connection), auth_user=user if password is not None else None,
            auth_password_present=bool(password),
        )
        return WebSocketTransport(connection, facts)


class ServerConnector(Connector):
    """Listen as the CSMS. Chargers dial ``ws(s)://HOST:PORT/<anything>/<id>``; the last path
    segment is the identity. ``passwords``: when given, Basic Auth is checked (401 on a wrong or
    missing password, user must be the identity); identities not in the plan get 404."""

    def __init__(self, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None,
                 passwords: PasswordSource | None = None, expected_ids: set[str] | None = None) -> None:
        self.host, self.port = host, port
        self.ssl_context = ssl_context
        self.passwords = passwords
        self.expected_ids = expected_ids
        self._queues: dict[str, asyncio.Queue[tuple[ServerConnection, asyncio.Future[None]]]] = {}
        self._server: Server | None = None
        self._held: set[asyncio.Future[None]] = set()
        self.rejections: list[tuple[str | None, int]] = []

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'wss' if self.ssl_context else 'ws'}://{host}:{self.port}/ocpp"

    async def start(self) -> None:
        """Listen (once; a second call does nothing). :attr:`port` and :attr:`url` are then real."""
        if self._server is not None:
            return
        self._server = await serve(self._handle, self.host, self.port, ssl=self.ssl_context,
                                   subprotocols=[OCPP16], process_request=self._check,
                                   open_timeout=10, close_timeout=2, max_size=None, ping_interval=None)
        self.port = self._server.sockets[0].getsockname()[1]

    def _queue(self, charge_point_id: str) -> asyncio.Queue[tuple[ServerConnection, asyncio.Future[None]]]:
        return self._queues.setdefault(charge_point_id, asyncio.Queue())

    def _check(self, connection: ServerConnection, request: Any) -> Any:
        path = urlsplit(request.path).path
        charge_point_id = unquote(path.rstrip("/").rsplit("/", 1)[-1]) if path.strip("/") else ""
        if not charge_point_id or (self.expected_ids is not None and charge_point_id not in self.expected_ids):
            self.rejections.append((charge_point_id or None, 404))
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Unknown charge point\n")
        if self.passwords is not None:
            expected = self.passwords(charge_point_id)
            header = request.headers.get("Authorization")
            ok = False
            if expected is not None and header is not None:
                try:
                    user, password = parse_authorization_basic(header)
                    ok = user == charge_point_id and hmac.compare_digest(password.encode(), expected.encode())
                except InvalidHeader:
                    ok = False
            if not ok:
                self.rejections.append((charge_point_id, 401))
                response = connection.respond(http.HTTPStatus.UNAUTHORIZED, "Invalid credentials\n")
                response.headers["WWW-Authenticate"] = build_www_authenticate_basic("ocpp-workbench replay")
                return response
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        path = urlsplit(connection.request.path).path
        charge_point_id = unquote(path.rstrip("/").rsplit("/", 1)[-1])
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._held.add(done)
        await self._queue(charge_point_id).put((connection, done))
        try:
            await connection.wait_closed()  # the engine owns the connection until it closes
        finally:
            self._held.discard(done)

    async def connect(self, charge_point_id: str, auth_user: str | None, timeout_s: float) -> Transport:
        try:
            connection, _done = await asyncio.wait_for(self._queue(charge_point_id).get(), timeout_s)
        except TimeoutError:
            raise ReplayConnectError(f"{charge_point_id}: no charger connected within {timeout_s:g} s") from None
        if connection.subprotocol != OCPP16:
            await connection.close(1002, "subprotocol ocpp1.6 required")
            raise ReplayConnectError(f"{charge_point_id}: the charger did not offer subprotocol ocpp1.6")
        header = connection.request.headers.get("Authorization")
        user = None
        if header is not None:
            try:
                user = parse_authorization_basic(header)[0]
            except InvalidHeader:
                user = None
        remote = connection.remote_address
        facts = ConnectionFacts(
            url_path=connection.request.path, subprotocol=connection.subprotocol,
            subprotocols_offered=[p.strip() for p in
                                  (connection.request.headers.get("Sec-WebSocket-Protocol") or "").split(",") if p.strip()],
            client_address=f"{remote[0]}:{remote[1]}" if remote else None, charger_tls=_tls_of(connection),
            auth_user=user, auth_password_present=header is not None,
        )
        return WebSocketTransport(connection, facts)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            try:
                await asyncio.wait_for(self._server.wait_closed(), 5)
            except TimeoutError:
                pass
            self._server = None


# -- in-memory (unit tests of the engine only) --------------------------------------------------

PeerScript = Callable[[str, "MockTransport"], Awaitable[None] | None]


class MockTransport(Transport):
    """An in-memory peer: ``on_message(text, transport)`` runs for every message the engine sends and
    may call :meth:`deliver` (a reply, a request) or :meth:`peer_close`. For unit tests only."""

    def __init__(self, on_message: PeerScript, facts: ConnectionFacts | None = None) -> None:
        self.facts = facts or ConnectionFacts(url_path="/mock", subprotocol=OCPP16)
        self.on_message = on_message
        self.inbox: asyncio.Queue[str | TransportClosed] = asyncio.Queue()
        self.sent: list[str] = []
        self.closed_with: int | None = None

    def deliver(self, text: str) -> None:
        self.inbox.put_nowait(text)

    def peer_close(self, code: int = 1000) -> None:
        self.inbox.put_nowait(TransportClosed(code, "", by_peer=True))

    async def send(self, text: str) -> None:
        if self.closed_with is not None:
            raise TransportClosed(self.closed_with, by_peer=False)
        self.sent.append(text)
        outcome = self.on_message(text, self)
        if outcome is not None:
            await outcome

    async def recv(self) -> str:
        item = await self.inbox.get()
        if isinstance(item, TransportClosed):
            self.closed_with = item.code
            raise item
        return item

    async def close(self, code: int = 1000) -> None:
        self.closed_with = code
        self.inbox.put_nowait(TransportClosed(code, "", by_peer=False))


class MockConnector(Connector):
    """Hands out :class:`MockTransport` s driven by ``on_message``; ``on_open(transport)`` may
    deliver what the peer says first."""

    def __init__(self, on_message: PeerScript, on_open: Callable[[MockTransport], None] | None = None) -> None:
        self.on_message = on_message
        self.on_open = on_open
        self.transports: list[MockTransport] = []

    async def connect(self, charge_point_id: str, auth_user: str | None, timeout_s: float) -> Transport:
        transport = MockTransport(self.on_message)
        self.transports.append(transport)
        if self.on_open is not None:
            self.on_open(transport)
        return transport
