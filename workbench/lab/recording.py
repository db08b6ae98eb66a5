"""Record every WebSocket message a lab peer sends or receives, exactly as on the wire.

The ``ocpp`` library talks to its connection through two methods only, ``send(str)`` and
``recv()``. :class:`RecordingConnection` wraps a websockets connection, passes both through
unchanged and hands each message to a callback first, so tests can compare what one peer sent
with what the other received (and prove a proxy in between changed nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..capture.records import Direction

FrameSink = Callable[[Direction, "str | bytes"], None]


class RecordingConnection:
    """A websockets connection whose messages are also given to ``sink(direction, message)``.

    ``outgoing`` is the direction of what this peer sends (a charger sends
    ``charger_to_csms``). A sent message is recorded once ``send`` returned, i.e. once
    websockets accepted it; a received one as soon as ``recv`` returns it.
    """

    def __init__(self, connection: Any, outgoing: Direction, sink: FrameSink) -> None:
        self.connection = connection
        self.outgoing = Direction(outgoing)
        self._sink = sink

    async def send(self, message: str | bytes) -> None:
        await self.connection.send(message)
        self._sink(self.outgoing, message)

    async def recv(self) -> str | bytes:
        message = await self.connection.recv()
        self._sink(self.outgoing.reverse, message)
        return message
