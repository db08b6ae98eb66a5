"""Small real WebSocket peers for the proxy tests: a scripted OCPP-J CSMS and a raw charger.

They speak real WebSockets over real TLS on 127.0.0.1, check Basic Auth, and record every
message they receive, so a test can compare what one side sent with what the other got and
with the capture. Raw peers can send what the ``ocpp`` library never would (invalid JSON,
binary frames, 1 MB frames).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import ssl
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, basic_auth, serve

MAX_FRAME_BYTES = 4 * 1024 * 1024
STEP_TIMEOUT_S = 10.0


def reply_payload(action: str) -> dict[str, object]:
    """A schema-valid CALLRESULT payload for the CALLs a booting charger sends; ``{}`` otherwise."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if action == "BootNotification":
        return {"status": "Accepted", "currentTime": now, "interval": 300}
    if action == "Heartbeat":
        return {"currentTime": now}
    return {}


@dataclass
class RawCSMS:
    """A CSMS that answers every CALL (``[3, id, payload]``, see :func:`reply_payload`) and records
    everything it receives.

    ``received``: (charge point id, message) in arrival order; ``sent`` likewise.
    """

    ssl_context: ssl.SSLContext | None
    user: str | None
    """The Basic Auth user to accept; None accepts any user with the right password."""
    password: str
    subprotocols: tuple[str, ...] = ("ocpp1.6",)
    received: list[tuple[str, str | bytes]] = field(default_factory=list)
    sent: list[tuple[str, str | bytes]] = field(default_factory=list)
    connections: dict[str, ServerConnection] = field(default_factory=dict)
    request_headers: list[dict[str, str]] = field(default_factory=list)
    server: Server | None = None
    port: int | None = None

    async def start(self) -> RawCSMS:
        check = basic_auth(
            realm="lab",
            check_credentials=lambda user, password: self.user in (None, user) and password == self.password,
        )

        async def process_request(connection: ServerConnection, request):  # type: ignore[no-untyped-def]
            self.request_headers.append({k: v for k, v in request.headers.raw_items()})
            return await check(connection, request)

        self.server = await serve(
            self._handle, "127.0.0.1", 0, ssl=self.ssl_context, subprotocols=list(self.subprotocols),
            process_request=process_request, max_size=MAX_FRAME_BYTES, compression=None,
        )
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, connection: ServerConnection) -> None:
        charge_point_id = connection.request.path.rsplit("/", 1)[-1]
        self.connections[charge_point_id] = connection
        async for message in connection:
            self.received.append((charge_point_id, message))
            if isinstance(message, str):
                try:
                    decoded = json.loads(message)
                except ValueError:
                    continue
                if isinstance(decoded, list) and len(decoded) == 4 and decoded[0] == 2:
                    reply = json.dumps([3, decoded[1], reply_payload(decoded[2])])
                    await connection.send(reply)
                    self.sent.append((charge_point_id, reply))

    async def send(self, charge_point_id: str, message: str | bytes) -> None:
        """Send a message to a connected charger (a CSMS-initiated frame)."""
        await self.connections[charge_point_id].send(message)
        self.sent.append((charge_point_id, message))

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await asyncio.wait_for(self.server.wait_closed(), STEP_TIMEOUT_S)

    async def __aenter__(self) -> RawCSMS:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def basic_auth_header(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def raw_charger(
    url: str, *, user: str, password: str, ssl_context: ssl.SSLContext | None,
    subprotocols: tuple[str, ...] = ("ocpp1.6",), via_proxy: str | None = None,
) -> connect:
    """A charger's WebSocket to ``url`` with Basic Auth; use as ``async with``.

    ``via_proxy``: an ``http://host:port`` proxy to connect through (CONNECT), as a charger
    configured with a proxy does; None connects directly whatever the environment says.
    """
    return connect(
        url, ssl=ssl_context, subprotocols=list(subprotocols) or None, additional_headers=basic_auth_header(user, password),
        max_size=MAX_FRAME_BYTES, compression=None, proxy=via_proxy, open_timeout=STEP_TIMEOUT_S,
        close_timeout=STEP_TIMEOUT_S,
    )


async def recv(connection: ClientConnection | ServerConnection) -> str | bytes:
    """The next message, or fail the test after :data:`STEP_TIMEOUT_S`."""
    return await asyncio.wait_for(connection.recv(), STEP_TIMEOUT_S)


async def wait_until(predicate, timeout_s: float = STEP_TIMEOUT_S) -> None:  # type: ignore[no-untyped-def]
    """Poll ``predicate()`` every 10 ms until true; AssertionError after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.01)
