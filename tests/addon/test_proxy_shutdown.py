"""SIGTERM under load loses no frame: every frame one side received is in the capture.

Twenty raw chargers stream CALLs through a real mitmdump to a CSMS that answers each one;
the proxy gets SIGTERM mid-stream. Afterwards what each side received is compared with the
capture, connection by connection.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest
from addon_peers import RawCSMS, raw_charger, wait_until
from test_proxy_raw_peers import PASSWORD, as_bytes, proxy_config
from websockets.exceptions import ConnectionClosed

from workbench.capture import read_capture
from workbench.capture.records import frame_bytes
from workbench.lab.certs import LabPKI
from workbench.proxy import ProxyProcess

pytestmark = [pytest.mark.network, pytest.mark.slow, pytest.mark.timeout(120)]

CHARGERS = 20
FRAMES_BEFORE_STOP = 3_000
"""CSMS-received frames (all chargers together) before SIGTERM is sent: the proxy is busy by then."""


def forwarded_frames(records: list[dict], connection_id: str, direction: str) -> list[bytes]:
    """The frames the proxy passed on for one connection and direction (not those it dropped)."""
    return [
        frame_bytes(r) for r in records
        if r["type"] == "frame" and r["connection_id"] == connection_id and r["direction"] == direction
        and r.get("proxy_action") != "dropped"
    ]


def test_sigterm_under_load_loses_no_frame(tmp_path: Path, pki: LabPKI, mitm_confdir: Path) -> None:
    log_path = tmp_path / "mitmdump.log"
    received_by_charger: dict[str, list[str | bytes]] = {f"CP{i:02d}": [] for i in range(CHARGERS)}

    async def charger(url: str, charge_point_id: str, started: asyncio.Event) -> None:
        got = received_by_charger[charge_point_id]
        async with raw_charger(url, user=charge_point_id, password=PASSWORD, ssl_context=pki.client_ssl_context()) as ws:
            started.set()

            async def receive() -> None:
                try:
                    async for message in ws:
                        got.append(message)
                except ConnectionClosed:
                    pass  # the proxy went away without a close frame: what arrived before counts

            receiver = asyncio.create_task(receive())
            try:
                for i in range(1_000_000):  # bounded; the proxy's stop ends it far sooner
                    await ws.send(json.dumps([2, f"{charge_point_id}-{i}", "Heartbeat", {}]))
                    if i % 8 == 0:
                        await asyncio.sleep(0)
            except ConnectionClosed:
                pass
            await asyncio.wait_for(receiver, 20)

    async def scenario() -> tuple[RawCSMS, int | None]:
        async with RawCSMS(pki.server_ssl_context(), None, PASSWORD) as csms:
            config = proxy_config(tmp_path, pki, mitm_confdir, csms.port)
            process = ProxyProcess(config, log_path=log_path).start()
            try:
                started = [asyncio.Event() for _ in range(CHARGERS)]
                tasks = [
                    asyncio.create_task(charger(f"wss://127.0.0.1:{process.port}/ocpp/{cp}", cp, event))
                    for cp, event in zip(received_by_charger, started)
                ]
                await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started)), 30)
                await wait_until(lambda: len(csms.received) >= FRAMES_BEFORE_STOP, 60)
                returncode = await asyncio.to_thread(process.stop, signal.SIGTERM, 30)
                await asyncio.wait_for(asyncio.gather(*tasks), 30)
            finally:
                await asyncio.to_thread(process.stop)
            return csms, returncode

    csms, returncode = asyncio.run(scenario())
    assert returncode == 0

    _, records, problems = read_capture(tmp_path / "site.ocpp.jsonl")
    assert problems == []
    opened = {r["charge_point_id"]: r["connection_id"] for r in records if r["type"] == "connection_open"}
    assert sorted(opened) == sorted(received_by_charger)
    closed = {r["connection_id"] for r in records if r["type"] == "connection_close"}
    assert closed == set(opened.values())

    received_by_csms: dict[str, list[bytes]] = {cp: [] for cp in received_by_charger}
    for cp, message in csms.received:
        received_by_csms[cp].append(as_bytes(message))
    for cp, connection_id in opened.items():
        # In order and complete: what a side received is what the capture says was forwarded to it
        # (the proxy may have forwarded a last frame that the peer's socket never delivered).
        to_csms = forwarded_frames(records, connection_id, "charger_to_csms")
        assert received_by_csms[cp] == to_csms[: len(received_by_csms[cp])], cp
        to_charger = forwarded_frames(records, connection_id, "csms_to_charger")
        got = [as_bytes(m) for m in received_by_charger[cp]]
        assert got == to_charger[: len(got)], cp

    log = log_path.read_text("utf-8", "replace")
    assert "CancelledError" not in log
    assert "Traceback" not in log
