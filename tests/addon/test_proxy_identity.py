"""Charge point identity through a real mitmdump (issue 9 item 1): two stations behind Django-style URLs
ending in '/', as a third-party CSMS builds them, are two charge points in the capture and the tables."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from addon_peers import RawCSMS, raw_charger, recv

import workbench
from workbench.capture import read_capture
from workbench.lab.certs import LabPKI
from workbench.proxy import ProxyConfig, ProxyProcess

pytestmark = [pytest.mark.network, pytest.mark.timeout(90)]

PASSWORD = "Pw-0c1d2e3f4a5b6c7d"
STATIONS = ("DJ-STATION-1", "DJ-STATION-2")


def test_trailing_slash_urls_give_one_charge_point_per_station(tmp_path: Path, pki: LabPKI,
                                                               mitm_confdir: Path) -> None:
    capture = tmp_path / "django.ocpp.jsonl"

    async def station(port: int, name: str, statuses: list[str]) -> None:
        url = f"wss://127.0.0.1:{port}/ws/ocpp/{name}/"
        async with raw_charger(url, user=name, password=PASSWORD, ssl_context=pki.client_ssl_context()) as ws:
            await ws.send(json.dumps([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
            await recv(ws)
            for n, status in enumerate(statuses):
                await ws.send(json.dumps([2, f"s{n}", "StatusNotification",
                                          {"connectorId": 1, "errorCode": "NoError", "status": status}]))
                await recv(ws)

    async def scenario() -> None:
        async with RawCSMS(pki.server_ssl_context(), None, PASSWORD) as csms:
            config = ProxyConfig(capture_path=capture, upstream_url=f"wss://127.0.0.1:{csms.port}/ws/ocpp",
                                 cert_file=pki.server_cert, key_file=pki.server_key, upstream_ca=pki.ca_cert,
                                 tls_version_max="TLS1_2", confdir=mitm_confdir)
            with ProxyProcess(config, log_path=tmp_path / "mitmdump.log") as proxy:
                # Interleaved, each alone a valid §4.9 sequence; merged into one charge point they are not.
                await asyncio.gather(station(proxy.port, STATIONS[0], ["Available", "Preparing", "Charging"]),
                                     station(proxy.port, STATIONS[1], ["Available", "Unavailable", "Available"]))

    asyncio.run(scenario())
    _, records, problems = read_capture(capture)
    assert problems == []
    opens = sorted((r["charge_point_id"], r["charge_point_id_source"], r["url_path"])
                   for r in records if r["type"] == "connection_open")
    assert opens == [(name, "url_path", f"/ws/ocpp/{name}/") for name in STATIONS]
    cap = workbench.load(capture)
    assert cap.charge_point_ids == list(STATIONS) and cap.summary()["charge_points"] == 2
    assert set(cap.status["charge_point_id"]) == set(STATIONS)
    assert "status_transition" not in set(cap.findings["check"])
    assert PASSWORD.encode() not in capture.read_bytes()
