"""What the proxy refuses, through a real mitmdump: plain ws:// on the wss:// port and TLS
handshakes it cannot accept. Each refusal is a clear answer to the charger and a record in the capture.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import warnings
from pathlib import Path

import pytest
from addon_peers import RawCSMS, raw_charger, recv
from test_proxy_raw_peers import PASSWORD, SECRET_FORMS, USER, proxy_config
from websockets.exceptions import InvalidStatus

import workbench as wb
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


def tls_client(pki: LabPKI, *, max_version: ssl.TLSVersion | None = None, ciphers: str | None = None) -> ssl.SSLContext:
    """A charger's TLS context (trusting the lab CA) made to fail in one way: an old maximum
    version, or only ciphers the proxy's ECDSA certificate cannot serve."""
    context = pki.client_ssl_context()
    if max_version is not None:
        with warnings.catch_warnings():  # Python deprecates TLS 1.0/1.1 settings; an old charger is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = max_version
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    if ciphers is not None:
        context.maximum_version = ssl.TLSVersion.TLSv1_2  # TLS 1.3 suites cannot be narrowed this way
        context.set_ciphers(ciphers)
    return context


def handshake(port: int, context: ssl.SSLContext, server_name: str | None) -> str:
    """Try a TLS handshake with the proxy; the error the charger saw ("" if it succeeded)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=server_name):
                return ""
        except (ssl.SSLError, OSError) as exc:
            return str(exc)


def test_refused_tls_handshakes_are_recorded_and_shown_in_the_connections_table(
    tmp_path: Path, pki: LabPKI, mitm_confdir: Path
) -> None:
    untrusting = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # trusts nothing: the proxy's certificate is unknown
    cases = [
        ("TLS 1.1 only", tls_client(pki, max_version=ssl.TLSVersion.TLSv1_1), "localhost"),
        ("RSA-only ciphers", tls_client(pki, ciphers="ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA"), "localhost"),
        ("untrusted certificate", untrusting, "localhost"),
    ]

    async def scenario() -> list[str]:
        async with RawCSMS(pki.server_ssl_context(), USER, PASSWORD) as csms:
            with ProxyProcess(proxy_config(tmp_path, pki, mitm_confdir, csms.port),
                              log_path=tmp_path / "mitmdump.log") as proxy:
                errors = [await asyncio.to_thread(handshake, proxy.port, context, name) for _, context, name in cases]
                # A good charger still gets through afterwards.
                async with raw_charger(f"wss://127.0.0.1:{proxy.port}/ocpp/{USER}", user=USER, password=PASSWORD,
                                       ssl_context=pki.client_ssl_context()) as ws:
                    await ws.send('[2,"h","Heartbeat",{}]')
                    await recv(ws)
                return errors

    charger_errors = asyncio.run(scenario())
    assert all(charger_errors), charger_errors  # every bad handshake failed at the charger

    _, records, problems = read_capture(tmp_path / "site.ocpp.jsonl")
    assert problems == []
    failed = [r for r in records if r["type"] == "tls_handshake_failed"]
    assert [r["failure"] for r in failed] == ["protocol_version", "no_shared_cipher", "certificate_rejected"]
    old, rsa_only, untrusted = failed
    for record in failed:
        assert record["client_address"].startswith("127.0.0.1:")
        assert record["sni"] == "localhost"
        assert record["client_hello_read"] is True
        assert record["error"]
        assert record["connection_id"] not in {r["connection_id"] for r in records if r is not record}
    assert old["offered_versions"] == ["TLSv1.1"]  # a legacy ClientHello: no supported_versions extension
    assert rsa_only["offered_ciphers"][:2] == ["ECDHE-RSA-AES128-GCM-SHA256", "AES128-SHA"]
    assert "no shared cipher" in rsa_only["error"]
    assert "TLSv1.3" in untrusted["offered_versions"] and "TLSv1.2" in untrusted["offered_versions"]
    assert "unknown ca" in untrusted["error"] or "does not trust" in untrusted["error"]

    # The capture still analyses; the refused handshakes are rows of the connections table.
    connections = wb.load(tmp_path / "site.ocpp.jsonl").connections
    assert connections["state"].tolist().count("tls_failed") == 3
    assert connections["state"].tolist().count("closed") == 1
    rows = connections[connections["state"] == "tls_failed"]
    assert rows["tls_failure"].tolist() == ["protocol_version", "no_shared_cipher", "certificate_rejected"]
    assert rows["charger_sni"].tolist() == ["localhost"] * 3


def test_pings_and_pongs_stay_out_of_the_mitmdump_log(tmp_path: Path, pki: LabPKI, mitm_confdir: Path) -> None:
    pings = 50

    async def scenario() -> None:
        async with RawCSMS(pki.server_ssl_context(), USER, PASSWORD) as csms:
            with ProxyProcess(proxy_config(tmp_path, pki, mitm_confdir, csms.port),
                              log_path=tmp_path / "mitmdump.log") as proxy:
                async with raw_charger(f"wss://127.0.0.1:{proxy.port}/ocpp/{USER}", user=USER, password=PASSWORD,
                                       ssl_context=pki.client_ssl_context()) as ws:
                    for i in range(pings):  # each answered by the CSMS's pong, through the proxy
                        await asyncio.wait_for(await ws.ping(f"keepalive-{i}".encode()), 10)
                    await ws.send('[2,"h","Heartbeat",{}]')
                    await recv(ws)

    asyncio.run(scenario())
    log = (tmp_path / "mitmdump.log").read_text("utf-8")
    assert "keepalive-" not in log and "WebSocket ping" not in log and "WebSocket pong" not in log
    assert "client connect" in log  # the log still says what a person reads
    _, records, _ = read_capture(tmp_path / "site.ocpp.jsonl")
    assert [r["type"] for r in records] == ["connection_open", "frame", "frame", "connection_close"]
