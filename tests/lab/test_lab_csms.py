"""The lab CSMS at the door: Basic Auth per charge point (401), unknown identities (404),
subprotocol negotiation, plain WS without a PKI, IPv6 loopback. Real sockets, loopback only."""

from __future__ import annotations

import ssl

import pytest
from lab_wire import ipv6_loopback_available, requests, run
from ocpp.v16 import call
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.headers import build_authorization_basic
from websockets.typing import Subprotocol

from workbench.errors import WorkbenchError
from workbench.lab.certs import LabPKI
from workbench.lab.charger import ChargerConfig, ChargerConnectError, LabCharger
from workbench.lab.csms import LabCSMS

pytestmark = [pytest.mark.network, pytest.mark.timeout(60)]

PASSWORD = "Lab-0123456789abcdef"


def test_wrong_or_missing_password_gets_401_and_unknown_id_404(lab_pki: LabPKI) -> None:
    async def scenario() -> tuple[LabCSMS, list[int | None]]:
        async with LabCSMS(pki=lab_pki, passwords={"CP-1": PASSWORD, "CP-2": "other"}) as csms:
            codes = []
            for charge_point_id, password in [("CP-1", "wrong"), ("CP-1", None), ("CP-9", PASSWORD)]:
                charger = LabCharger(ChargerConfig(charge_point_id, password), csms.url, lab_pki.client_ssl_context())
                with pytest.raises(ChargerConnectError) as caught:
                    await charger.connect()
                codes.append(caught.value.status_code)
            return csms, codes

    csms, codes = run(scenario())
    assert codes == [401, 401, 404]
    assert [(r.charge_point_id, r.status_code) for r in csms.rejections] == [
        ("CP-1", 401),
        ("CP-1", 401),
        ("CP-9", 404),
    ]
    assert csms.connections_accepted == 0 and csms.frames == []


def test_username_must_be_the_charge_point_id_and_path_must_match(lab_pki: LabPKI) -> None:
    async def scenario() -> tuple[LabCSMS, list[int]]:
        async with LabCSMS(pki=lab_pki, passwords={"CP-1": PASSWORD, "CP-2": "pw-two"}) as csms:
            statuses = []
            port = csms.port
            # CP-2's valid credentials used for CP-1's URL; then a URL outside the prefix.
            for path, user, password in [("/ocpp/CP-1", "CP-2", "pw-two"), ("/other/CP-1", "CP-1", PASSWORD)]:
                with pytest.raises(InvalidStatus) as caught:
                    async with connect(
                        f"wss://127.0.0.1:{port}{path}",
                        ssl=lab_pki.client_ssl_context(),
                        subprotocols=[Subprotocol("ocpp1.6")],
                        additional_headers={"Authorization": build_authorization_basic(user, password)},
                        open_timeout=5,
                    ):
                        pass
                statuses.append(caught.value.response.status_code)
                assert caught.value.response.status_code != 101
            return csms, statuses

    csms, statuses = run(scenario())
    assert statuses == [401, 404]
    assert csms.rejections[0].reason == "Username is not the charge point identity"


def test_without_ocpp16_subprotocol_the_handshake_completes_then_closes(lab_pki: LabPKI) -> None:
    async def scenario() -> tuple[str | None, int]:
        async with LabCSMS(pki=lab_pki, passwords={"CP-1": PASSWORD}) as csms:
            async with connect(
                f"{csms.url}/CP-1",
                ssl=lab_pki.client_ssl_context(),
                subprotocols=[Subprotocol("ocpp2.0.1")],
                additional_headers={"Authorization": build_authorization_basic("CP-1", PASSWORD)},
                open_timeout=5,
            ) as websocket:
                with pytest.raises(ConnectionClosedError) as caught:
                    await websocket.recv()
                return websocket.subprotocol, caught.value.rcvd.code

    subprotocol, code = run(scenario())
    assert subprotocol is None  # [J] §3: no Sec-WebSocket-Protocol header in the answer
    assert code == 1002


def test_accept_mode_lets_unknown_ids_in_and_call_needs_a_connection(lab_pki: LabPKI) -> None:
    async def scenario() -> LabCSMS:
        async with LabCSMS(pki=lab_pki, passwords={}, unknown_ids="accept") as csms:
            with pytest.raises(WorkbenchError, match="not connected"):
                await csms.call("NEW-1", call.GetConfiguration())
            charger = LabCharger(ChargerConfig("NEW-1", None, connectors=1), csms.url, lab_pki.client_ssl_context())
            async with charger:
                await csms.wait_connected("NEW-1", 5)
            await csms.wait_disconnected("NEW-1", 5)
        return csms

    csms = run(scenario())
    assert csms.connections_accepted == 1
    assert csms.charge_points["NEW-1"].boots == 1
    assert csms.connection_log[0]["close_code"] == 1000


def test_plain_ws_without_pki(lab_pki: LabPKI) -> None:
    async def scenario() -> tuple[LabCSMS, LabCharger]:
        async with LabCSMS(pki=None, passwords={"CP-1": PASSWORD}) as csms:
            assert csms.url.startswith("ws://127.0.0.1:")
            charger = LabCharger(ChargerConfig("CP-1", PASSWORD, connectors=1), csms.url, None)
            async with charger:
                pass
        return csms, charger

    csms, charger = run(scenario())
    assert csms.connection_log[0]["tls_version"] is None
    assert requests(charger.frames, "BootNotification")


@pytest.mark.skipif(not ipv6_loopback_available(), reason="this host cannot listen on ::1")
def test_ipv6_loopback_wss(lab_pki: LabPKI) -> None:
    async def scenario() -> tuple[LabCSMS, LabCharger]:
        async with LabCSMS(host="::1", pki=lab_pki, passwords={"CP-6": PASSWORD}) as csms:
            assert csms.url.startswith("wss://[::1]:")
            charger = LabCharger(ChargerConfig("CP-6", PASSWORD, connectors=1), csms.url, lab_pki.client_ssl_context())
            async with charger:
                pass
        return csms, charger

    csms, charger = run(scenario())
    assert csms.connection_log[0]["tls_version"] == "TLSv1.2"
    assert len(requests(charger.frames, "StatusNotification")) == 2


def test_tls13_only_when_the_cap_is_lifted(lab_pki: LabPKI) -> None:
    async def scenario(max_tls_version) -> str:
        async with LabCSMS(pki=lab_pki, passwords={"CP-1": PASSWORD}, max_tls_version=max_tls_version) as csms:
            async with LabCharger(ChargerConfig("CP-1", PASSWORD, connectors=1), csms.url, lab_pki.client_ssl_context()):
                pass
        return csms.connection_log[0]["tls_version"]

    assert run(scenario(None)) == "TLSv1.3"
    assert run(scenario(ssl.TLSVersion.TLSv1_2)) == "TLSv1.2"
