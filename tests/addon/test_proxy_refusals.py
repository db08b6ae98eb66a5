"""What the proxy refuses, through a real mitmdump: plain ws:// on the wss:// port and TLS
handshakes it cannot accept. Each refusal is a clear answer to the charger and a record in the capture.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from addon_peers import RawCSMS, raw_charger, recv
from test_proxy_raw_peers import PASSWORD, SECRET_FORMS, USER, proxy_config
from websockets.exceptions import InvalidStatus

from workbench.capture import read_capture
from workbench.lab.certs import LabPKI
from workbench.proxy import ProxyProcess

pytestmark = [pytest.mark.network, pytest.mark.timeout(90)]


def test_plain_ws_on_the_wss_port_is_refused_and_recorded(tmp_path: Path, pki: LabPKI, mitm_confdir: Path) -> None:
    async def scenario() -> tuple[RawCSMS, InvalidStatus]:
        async with RawCSMS(pki.server_ssl_context(), USER, PASSWORD) as csms:
            with ProxyProcess(proxy_config(tmp_path, pki, mitm_confdir, csms.port),
                              log_path=tmp_path / "mitmdump.log") as proxy:
                with pytest.raises(InvalidStatus) as refused:
                    async with raw_charger(f"ws://127.0.0.1:{proxy.port}/ocpp/{USER}", user=USER,
                                           password=PASSWORD, ssl_context=None):
                        pass
            return csms, refused.value

    csms, refused = asyncio.run(scenario())
    assert refused.response.status_code == 400
    assert b"wss://" in refused.response.body  # the charger's log says what to do
    assert csms.request_headers == []  # never forwarded: the CSMS did not even see the request

    header, records, problems = read_capture(tmp_path / "site.ocpp.jsonl")
    assert problems == []
    assert header["allow_plain_ws"] is False
    assert [(r["type"], r["status_code"]) for r in records] == [("upgrade_rejected", 400)]
    rejected = records[0]
    assert rejected["reason"] == "plain ws:// refused on a wss:// listener"
    assert rejected["charger_tls"] is None
    assert rejected["charge_point_id"] == USER
    assert rejected["auth_user"] == USER and rejected["auth_password_present"] is True
    for secret in SECRET_FORMS:  # the password crossed the charger leg in clear, but is written nowhere
        assert secret not in (tmp_path / "site.ocpp.jsonl").read_bytes()
        assert secret not in (tmp_path / "mitmdump.log").read_bytes()


def test_plain_ws_passes_when_allowed_and_the_header_says_so(tmp_path: Path, pki: LabPKI, mitm_confdir: Path) -> None:
    async def scenario() -> str | bytes:
        async with RawCSMS(pki.server_ssl_context(), USER, PASSWORD) as csms:
            config = proxy_config(tmp_path, pki, mitm_confdir, csms.port, allow_plain_ws=True)
            with ProxyProcess(config) as proxy:
                async with raw_charger(f"ws://127.0.0.1:{proxy.port}/ocpp/{USER}", user=USER,
                                       password=PASSWORD, ssl_context=None) as ws:
                    await ws.send('[2,"h","Heartbeat",{}]')
                    return await recv(ws)

    assert '"h"' in asyncio.run(scenario())
    header, records, _ = read_capture(tmp_path / "site.ocpp.jsonl")
    assert header["allow_plain_ws"] is True
    opened = next(r for r in records if r["type"] == "connection_open")
    assert opened["charger_tls"] is None and opened["csms_tls"]["version"] == "TLSv1.2"
