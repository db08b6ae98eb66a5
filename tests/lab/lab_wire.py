"""Helpers for the lab tests: read OCPP-J frames recorded by a lab peer."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from collections.abc import Coroutine
from typing import Any

from workbench.capture.records import Direction
from workbench.ocppj import MessageKind, ParsedFrame, parse_frame

CHARGER = Direction.CHARGER_TO_CSMS.value
CSMS = Direction.CSMS_TO_CHARGER.value


def run(coroutine: Coroutine[Any, Any, Any], timeout_s: float = 60) -> Any:
    """Run a scenario in a fresh event loop, bounded in time."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coroutine, timeout_s)

    return asyncio.run(bounded())


def parsed(frames: list[tuple[str, str]]) -> list[tuple[str, ParsedFrame]]:
    return [(direction, parse_frame(text)) for direction, text in frames]


def requests(frames: list[tuple[str, str]], action: str, direction: str = CHARGER) -> list[dict]:
    """Payloads of the CALLs of ``action`` sent in ``direction``."""
    return [
        frame.payload
        for frame_direction, frame in parsed(frames)
        if frame_direction == direction and frame.kind == MessageKind.CALL and frame.action == action
    ]


def actions(frames: list[tuple[str, str]], direction: str = CHARGER) -> list[str]:
    return [
        frame.action
        for frame_direction, frame in parsed(frames)
        if frame_direction == direction and frame.kind == MessageKind.CALL
    ]


def statuses(frames: list[tuple[str, str]], connector_id: int) -> list[str]:
    return [p["status"] for p in requests(frames, "StatusNotification") if p["connectorId"] == connector_id]


def sampled(meter_value: dict, measurand: str, phase: str | None = None) -> dict | None:
    for value in meter_value["sampledValue"]:
        if value.get("measurand") == measurand and value.get("phase") == phase:
            return value
    return None


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def ipv6_loopback_available() -> bool:
    """True when this host can listen on ::1 (some containers have no IPv6 at all)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True
