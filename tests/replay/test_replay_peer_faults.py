"""Peer faults over real websockets on loopback: a CSMS that stays silent, closes mid-plan, sends an
action OCPP does not have, or answers CALLERROR. Verdict rows, never a hang, bounded time."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from replay_lab_helpers import SAMPLE, run
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

import workbench as wb
from workbench.lab import LabCSMS
from workbench.replay import Plan, ReplayOptions
from workbench.replay.run import make_connector, replay_async

pytestmark = pytest.mark.network
OPTIONS = ReplayOptions(reply_timeout_s=0.5, peer_timeout_s=0.5, connect_timeout_s=3)

PLAN = Plan.from_capture(SAMPLE, charge_point="LAB-CP1").drop(kind="expect")
# Boot, statuses, Heartbeat, Preparing, Authorize: the first 8 requests, then the close
SHORT = PLAN.drop(where=lambda s: s.kind == "send" and s.seq is not None and s.seq > 60)


async def _scripted_csms(behave: Callable[[ServerConnection, int, list], object]):
    """A websockets server (subprotocol ocpp1.6) calling ``behave(connection, n, message)`` for the
    n-th request; by default it answers ``{}``-ish replies like a lenient CSMS."""

    async def handler(connection: ServerConnection) -> None:
        n = 0
        try:
            async for text in connection:
                message = json.loads(text)
                if message[0] != 2:
                    continue
                n += 1
                outcome = behave(connection, n, message)
                if asyncio.iscoroutine(outcome):
                    await outcome
        except ConnectionClosed:
            pass

    return await serve(handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"])


def _replay_against(behave: Callable[[ServerConnection, int, list], object], plan: Plan = SHORT):
    async def scenario():
        server = await _scripted_csms(behave)
        try:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ocpp"
            return await replay_async(plan, make_connector(plan, target=url), options=OPTIONS)
        finally:
            server.close()

    started = time.monotonic()
    result = run(scenario(), timeout_s=60)
    return result.verdict, time.monotonic() - started


def _answer(connection: ServerConnection, message: list, payload: dict):
    return connection.send(json.dumps([3, message[1], payload]))


BOOT = {"status": "Accepted", "currentTime": "2030-01-01T00:00:00Z", "interval": 60}


def test_a_silent_csms_gives_timeout_rows_and_the_replay_ends() -> None:
    def behave(connection, n, message):
        if n == 1:
            return _answer(connection, message, BOOT)
        return None  # never answers again

    verdict, elapsed = _replay_against(behave)
    statuses = [r.status for r in verdict.rows]
    assert statuses[0] == "matched"
    assert set(statuses[1:]) == {"timeout"} and len(statuses) == len(SHORT.select(kind="send")) == 8
    assert verdict.exit_code == 1 and elapsed < 0.5 * len(statuses) + 10


def test_a_csms_that_closes_mid_plan() -> None:
    def behave(connection, n, message):
        if n < 3:
            return _answer(connection, message, {} if n > 1 else BOOT)
        return connection.close(1011, "going away")

    verdict, elapsed = _replay_against(behave)
    rows = [(r.kind, r.status) for r in verdict.rows]
    assert rows[:2] == [("send", "matched"), ("send", "matched")]
    assert ("send", "missing") in rows and ("close", "unexpected") in rows
    closed = next(r for r in verdict.rows if r.kind == "close")
    assert "1011" in closed.detail
    assert elapsed < 10


def test_unknown_action_and_callerror_from_the_csms() -> None:
    async def behave(connection, n, message):
        if n == 1:
            await connection.send(json.dumps([2, "srv-1", "FlyToTheMoon", {}]))
            await _answer(connection, message, BOOT)
        elif message[2] == "Heartbeat":
            await connection.send(json.dumps([4, message[1], "InternalError", "busy", {}]))
        else:
            await _answer(connection, message, {})

    verdict, elapsed = _replay_against(behave, PLAN)
    unknown = [r for r in verdict.rows if r.action == "FlyToTheMoon"]
    assert len(unknown) == 1 and unknown[0].status == "unexpected" and "NotImplemented" in unknown[0].detail
    heartbeat = next(r for r in verdict.rows if r.action == "Heartbeat")
    assert heartbeat.status == "differs" and heartbeat.detail == "CALLERROR InternalError: busy"
    assert elapsed < 20


def test_wb_replay_blocking_call_against_a_lab_csms_in_another_thread(tmp_path: Path) -> None:
    ready, stop = threading.Event(), threading.Event()
    box: dict = {}

    def serve_lab() -> None:
        async def main():
            async with LabCSMS(pki=None, passwords={}, unknown_ids="accept", heartbeat_interval_s=60) as csms:
                box["url"], box["csms"] = csms.url, csms
                ready.set()
                while not stop.is_set():
                    await asyncio.sleep(0.05)

        asyncio.run(main())

    thread = threading.Thread(target=serve_lab, daemon=True)
    thread.start()
    try:
        assert ready.wait(10)
        out = tmp_path / "replay.ocpp.jsonl"
        result = wb.replay.replay(PLAN, target=box["url"], out=out, options=ReplayOptions(reply_timeout_s=5))
    finally:
        stop.set()
        thread.join(10)
    assert result.verdict.clean, result.verdict.to_text()
    assert result.capture_paths == [str(out)]
    assert len(box["csms"].transactions) == 4
