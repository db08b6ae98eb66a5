"""The addon's hooks and helpers in process, with mitmproxy's own test flows (its documented
test seam, ``mitmproxy.test``). The real-process behaviour is proven in the end-to-end tests;
these pin what a process cannot show cheaply: memory trimming and the exact record fields."""

from __future__ import annotations

import asyncio
import base64
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.frame_protocol import Opcode

from workbench.capture import read_capture
from workbench.capture import records as rec
from workbench.capture.records import format_ts
from workbench.capture.writer import encode_record

# mitmproxy's addons import ldap3 and passlib, which use deprecated names (pyasn1, crypt) at
# import time: third-party warnings we cannot fix, silenced for this import only.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from mitmproxy import exceptions
    from mitmproxy.test import taddons, tflow
    from mitmproxy.websocket import WebSocketMessage

from workbench.addon import (  # noqa: E402  (after mitmproxy, whose import is guarded above)
    OcppCapture,
    UtcStamper,
    basic_auth_facts,
    charge_point_id_from_path,
    strip_credentials,
    upstream_from_modes,
)


def ocpp_flow(path: bytes = b"/ocpp/CP%2F7", authorization: str | None = None):  # type: ignore[no-untyped-def]
    flow = tflow.twebsocketflow(messages=False)
    flow.request.path = path.decode()
    flow.request.headers["Sec-WebSocket-Protocol"] = "ocpp2.0.1, ocpp1.6"
    flow.response.headers["Sec-WebSocket-Protocol"] = "ocpp1.6"
    if authorization:
        flow.request.headers["Authorization"] = authorization
    flow.client_conn.tls = True  # tls_established is derived from this and the TLS timestamp
    flow.server_conn.tls = True
    flow.server_conn.cipher = "ECDHE-ECDSA-AES128-GCM-SHA256"
    return flow


def run_in_context(tmp_path: Path, body, **options) -> Path:  # type: ignore[no-untyped-def]
    """Run ``body(addon, tctx)`` with the addon configured to write ``tmp_path/t.ocpp.jsonl``."""
    capture = tmp_path / "t.ocpp.jsonl"

    async def main() -> None:
        addon = OcppCapture()
        with taddons.context(addon) as tctx:
            tctx.configure(addon, ocpp_capture=str(capture), **options)
            body(addon, tctx)
            await addon.done()

    asyncio.run(main())
    return capture


def test_frames_are_recorded_and_flow_memory_stays_flat(tmp_path: Path) -> None:
    token = base64.b64encode(b"CP/7:hunter2-secret").decode()
    flow = ocpp_flow(authorization=f"Basic {token}")
    sizes: list[int] = []

    def body(addon: OcppCapture, tctx) -> None:  # type: ignore[no-untyped-def]
        addon.websocket_start(flow)
        for i in range(1000):
            from_client = i % 2 == 0
            flow.websocket.messages.append(
                WebSocketMessage(Opcode.TEXT, from_client, f'[2,"{i}","Heartbeat",{{}}]'.encode(), 1_700_000_000 + i)
            )
            addon.websocket_message(flow)
            sizes.append(len(flow.websocket.messages))
        flow.websocket.messages.append(WebSocketMessage(Opcode.BINARY, False, b"\xff\x00", 1_700_000_999))
        addon.websocket_message(flow)
        flow.websocket.messages.append(WebSocketMessage(Opcode.TEXT, False, b'"hi"', 1_700_001_000, injected=True))
        addon.websocket_message(flow)
        addon.websocket_end(flow)

    capture = run_in_context(tmp_path, body)
    assert max(sizes) == 1  # mitmproxy's list never grows past the newest message

    _, records, problems = read_capture(capture)
    assert problems == []
    assert [r["type"] for r in records] == ["connection_open"] + ["frame"] * 1002 + ["connection_close"]
    opened = records[0]
    assert opened["charge_point_id"] == "CP/7"
    assert opened["subprotocols_offered"] == ["ocpp2.0.1", "ocpp1.6"]
    assert opened["subprotocol"] == "ocpp1.6"
    assert opened["auth_user"] == "CP/7" and opened["auth_password_present"] is True
    assert opened["csms_tls"]["cipher"] == "ECDHE-ECDSA-AES128-GCM-SHA256"
    frames = records[1:-1]
    assert frames[0]["direction"] == "charger_to_csms" and frames[1]["direction"] == "csms_to_charger"
    assert frames[0]["ts"] == "2023-11-14T22:13:20.000000Z"
    assert frames[1000]["binary"] is True and frames[1000]["data_b64"] == "/wA="
    assert frames[1001]["proxy_action"] == "injected"
    assert records[-1]["closed_by"] == "csms" and records[-1]["close_code"] == 1000
    assert b"hunter2" not in capture.read_bytes()


def test_frame_lines_are_the_bytes_the_record_builder_and_writer_give(tmp_path: Path) -> None:
    # The addon builds frame lines from cached pieces (FrameEncoder); they must equal the generic
    # path (records.frame + the writer's encoding) byte for byte, for every kind of message.
    flow = ocpp_flow()
    messages = [
        WebSocketMessage(Opcode.TEXT, True, '[2,"1","DataTransfer",{"data":"ü \\" \\\\ \\u0001 ✓"}]'.encode(),
                         1_700_000_000.5),
        WebSocketMessage(Opcode.TEXT, False, "ctrl \x00\x1f\x7f \u2028 \U0001f50c".encode(), 1_700_000_000.9999996),
        WebSocketMessage(Opcode.TEXT, True, b"\xed\xa0\x80 not UTF-8", 1_700_000_001),
        WebSocketMessage(Opcode.BINARY, False, b"\x00\xff", 1_700_000_002),
        WebSocketMessage(Opcode.TEXT, False, b'[3,"1",{}]', 1_700_000_003, injected=True),
        WebSocketMessage(Opcode.TEXT, True, b'[2,"2","Heartbeat",{}]', 1_700_000_004, dropped=True),
    ]

    def body(addon: OcppCapture, tctx) -> None:  # type: ignore[no-untyped-def]
        addon.websocket_start(flow)
        for message in messages:
            flow.websocket.messages.append(message)
            addon.websocket_message(flow)

    capture = run_in_context(tmp_path, body)
    lines = capture.read_bytes().splitlines(keepends=True)[2:-1]  # after the header and open, before the close
    expected = [
        encode_record(rec.frame(
            ts=format_ts(m.timestamp), connection_id=flow.id,
            direction="charger_to_csms" if m.from_client else "csms_to_charger", content=m.content,
            is_text=m.is_text, proxy_action="injected" if m.injected else "dropped" if m.dropped else None,
        ))
        for m in messages
    ]
    assert lines == expected
    _, got, problems = read_capture(capture)
    assert problems == []
    assert [rec.frame_bytes(r) for r in got[1:-1]] == [m.content for m in messages]


def test_done_closes_live_connections_as_closed_by_proxy(tmp_path: Path) -> None:
    flows = [ocpp_flow(path=f"/ocpp/CP{i}".encode()) for i in range(3)]

    def body(addon: OcppCapture, tctx) -> None:  # type: ignore[no-untyped-def]
        for flow in flows:
            addon.websocket_start(flow)
        addon.websocket_end(flows[0])

    _, records, _ = read_capture(run_in_context(tmp_path, body))
    closes = [r for r in records if r["type"] == "connection_close"]
    assert [c["closed_by"] for c in closes] == ["csms", "proxy", "proxy"]
    assert {c["connection_id"] for c in closes} == {f.id for f in flows}


def test_non_ocpp_websocket_and_plain_http_are_not_recorded(tmp_path: Path) -> None:
    chat = tflow.twebsocketflow(messages=False)
    chat.request.headers["Sec-WebSocket-Protocol"] = "chat"
    plain = tflow.tflow(resp=True)

    def body(addon: OcppCapture, tctx) -> None:  # type: ignore[no-untyped-def]
        addon.websocket_start(chat)
        chat.websocket.messages.append(WebSocketMessage(Opcode.TEXT, True, b"hello", 1_700_000_000))
        addon.websocket_message(chat)
        addon.websocket_end(chat)
        addon.response(plain)

    _, records, _ = read_capture(run_in_context(tmp_path, body))
    assert records == []


def test_rejected_upgrade_is_recorded_with_status(tmp_path: Path) -> None:
    flow = ocpp_flow()
    flow.websocket = None
    flow.response.status_code = 401
    flow.response.reason = "Unauthorized"

    def body(addon: OcppCapture, tctx) -> None:  # type: ignore[no-untyped-def]
        addon.response(flow)

    _, records, _ = read_capture(run_in_context(tmp_path, body))
    assert [(r["type"], r["status_code"], r["reason"]) for r in records] == [("upgrade_rejected", 401, "Unauthorized")]


def test_options_are_validated(tmp_path: Path) -> None:
    async def main() -> None:
        addon = OcppCapture()
        with taddons.context(addon) as tctx:
            with pytest.raises(exceptions.OptionsError, match="ocpp_rotate_bytes"):
                tctx.configure(addon, ocpp_rotate_bytes=-1)
            with pytest.raises(exceptions.OptionsError, match="ocpp_status_interval_ms"):
                tctx.configure(addon, ocpp_status_interval_ms=-5)
            blocker = tmp_path / "a-file"
            blocker.write_text("not a directory")
            with pytest.raises(exceptions.OptionsError, match="cannot open capture file"):
                tctx.configure(addon, ocpp_capture=str(blocker / "x.ocpp.jsonl"))

    asyncio.run(main())


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, (None, None, False)),
        ("Basic " + base64.b64encode(b"CP1:pw").decode(), ("Basic", "CP1", True)),
        ("basic " + base64.b64encode(b"CP1:a:b:c").decode(), ("basic", "CP1", True)),
        ("Basic " + base64.b64encode(b"CP1:").decode(), ("Basic", "CP1", False)),
        ("Basic " + base64.b64encode(b"CP1").decode(), ("Basic", "CP1", False)),
        ("Basic !!!not-base64", ("Basic", None, False)),
        ("Bearer abc.def", ("Bearer", None, False)),
    ],
)
def test_basic_auth_facts_never_return_the_password(header: str | None, expected: tuple) -> None:
    assert basic_auth_facts(header) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/ocpp/CP001", "CP001"), ("/ocpp/CP%2F1?x=1", "CP/1"), ("/ws/ocpp/CP1/", "CP1"), ("/", None),
     ("/Zu%CC%88rich", "Zu\u0308rich")],
)
def test_charge_point_id_is_the_decoded_last_non_empty_segment(path: str, expected: str | None) -> None:
    assert charge_point_id_from_path(path) == expected


def test_upstream_url_helpers() -> None:
    assert upstream_from_modes(["reverse:https://127.0.0.1:9000@127.0.0.1:0"]) == "wss://127.0.0.1:9000"
    assert upstream_from_modes(["reverse:http://[::1]:80"]) == "ws://[::1]:80"
    assert upstream_from_modes(["regular"]) is None
    assert strip_credentials("wss://u:p@csms.example:443/ocpp") == "wss://csms.example:443/ocpp"
    assert strip_credentials("wss://csms.example/ocpp") == "wss://csms.example/ocpp"


def test_the_runner_waits_for_the_marker_the_addon_logs() -> None:
    from workbench import addon, proxy

    assert proxy._ADDON_READY == addon.READY_MARKER


@given(st.floats(min_value=946_684_800, max_value=4_102_444_800, allow_nan=False, allow_infinity=False))
@settings(max_examples=500, deadline=None)
def test_the_fast_timestamp_equals_format_ts(when: float) -> None:
    stamper = UtcStamper()
    assert stamper(when) == format_ts(when)
    assert stamper(when + 0.25) == format_ts(when + 0.25)  # the cached second is reused or replaced correctly


@pytest.mark.parametrize("when", [1_700_000_000.9999996, 1_700_000_000.9999994, 1_700_000_000.0000005, 1_700_000_000.0])
def test_the_fast_timestamp_rounds_like_datetime(when: float) -> None:
    assert UtcStamper()(when) == format_ts(when)


@pytest.mark.parametrize("code, grease", [(0x0A0A, True), (0xFAFA, True), (0x1A1A, True), (0x0A1A, False),
                                          (0x0303, False), (0xC02F, False)])
def test_grease_values_are_recognised(code: int, grease: bool) -> None:
    from workbench.addon import _is_grease

    assert _is_grease(code) is grease


@pytest.mark.parametrize("error, failure", [
    ("Client and mitmproxy cannot agree on a TLS version to use.", "protocol_version"),
    ("The client may not trust the proxy's certificate for x (OpenSSL Error([('SSL routines', '', 'no shared cipher')]))",
     "no_shared_cipher"),
    ("The client does not trust the proxy's certificate for localhost (tlsv1 alert unknown ca)", "certificate_rejected"),
    ("The client disconnected during the handshake. If this happens consistently ...", "closed_during_handshake"),
    ("Cannot parse ClientHello: 16030100", "not_a_client_hello"),
    ("something new", "other"),
])
def test_tls_errors_are_classified(error: str, failure: str) -> None:
    assert rec.classify_tls_error(error) == failure
    assert failure in rec.TLS_FAILURES


def client_hello_bytes(sni: str) -> bytes:
    """A TLS 1.3-capable ClientHello body with GREASE values, as a browser-like client sends it."""
    ciphers = b"".join(code.to_bytes(2, "big") for code in (0x0A0A, 0xC02F, 0x00FF))
    versions = b"".join(code.to_bytes(2, "big") for code in (0x2A2A, 0x0304, 0x0303))
    name = sni.encode()
    server_name = (len(name) + 3).to_bytes(2, "big") + b"\x00" + len(name).to_bytes(2, "big") + name
    extensions = (
        b"\x00\x00" + len(server_name).to_bytes(2, "big") + server_name
        + b"\x00\x2b" + (len(versions) + 1).to_bytes(2, "big") + bytes([len(versions)]) + versions
    )
    return (b"\x03\x03" + bytes(32) + b"\x00" + len(ciphers).to_bytes(2, "big") + ciphers + b"\x01\x00"
            + len(extensions).to_bytes(2, "big") + extensions)


def test_failed_client_handshakes_are_recorded_with_what_the_client_offered(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from mitmproxy import tls

    offered, silent = tflow.tclient_conn(), tflow.tclient_conn()
    offered.error = "The client does not trust the proxy's certificate for csms.example (tlsv1 alert unknown ca)"
    silent.error = "The client disconnected during the handshake."

    def body(addon: OcppCapture, tctx) -> None:  # type: ignore[no-untyped-def]
        addon.tls_clienthello(tls.ClientHelloData(SimpleNamespace(client=offered),  # type: ignore[arg-type]
                                                  tls.ClientHello(client_hello_bytes("csms.example"))))
        addon.tls_failed_client(tls.TlsData(offered, None))  # type: ignore[arg-type]
        addon.tls_failed_client(tls.TlsData(silent, None))  # type: ignore[arg-type]
        assert addon._client_hellos == {}  # nothing kept per connection once it is recorded

    _, records, _ = read_capture(run_in_context(tmp_path, body))
    first, second = records
    assert first["type"] == second["type"] == "tls_handshake_failed"
    assert first["connection_id"] == offered.id and first["client_address"] == "127.0.0.1:22"
    assert first["sni"] == "csms.example" and first["client_hello_read"] is True
    assert first["offered_versions"] == ["TLSv1.3", "TLSv1.2"]  # GREASE left out
    assert first["offered_ciphers"] == ["ECDHE-RSA-AES128-GCM-SHA256", "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"]
    assert first["failure"] == "certificate_rejected" and "unknown ca" in first["error"]
    assert second["client_hello_read"] is False and second["offered_versions"] == [] and second["sni"] is None
    assert second["failure"] == "closed_during_handshake"


def test_plain_upgrades_are_answered_400_only_on_a_tls_listener(tmp_path: Path) -> None:
    from mitmproxy.proxy.mode_specs import ProxyMode

    def plain_flow(mode: str):  # type: ignore[no-untyped-def]
        flow = ocpp_flow()
        flow.response = None
        flow.websocket = None
        flow.client_conn.tls = False
        flow.client_conn.timestamp_tls_setup = None  # no TLS handshake on the charger leg
        flow.client_conn.proxy_mode = ProxyMode.parse(mode)
        return flow

    on_wss, on_ws, allowed = (plain_flow("reverse:https://127.0.0.1:9000"), plain_flow("reverse:http://127.0.0.1:9000"),
                              plain_flow("reverse:https://127.0.0.1:9000"))

    def body(addon: OcppCapture, tctx) -> None:  # type: ignore[no-untyped-def]
        addon.requestheaders(on_wss)
        addon.response(on_wss)
        addon.requestheaders(on_ws)
        tctx.options.ocpp_allow_plain_ws = True
        addon.requestheaders(allowed)

    _, records, _ = read_capture(run_in_context(tmp_path, body))
    assert on_wss.response.status_code == 400 and b"wss://" in on_wss.response.content
    assert on_ws.response is None and allowed.response is None
    assert [(r["type"], r["status_code"], r["charger_tls"]) for r in records] == [("upgrade_rejected", 400, None)]


@pytest.mark.parametrize(
    ("path", "user", "expected_id", "expected_source"),
    [(b"/ws/ocpp/CP-7/", None, "CP-7", "url_path"),  # Django-style URL: a trailing slash
     (b"/", "CP-9", "CP-9", "auth_user"),
     (b"/", None, None, "connection")],
)
def test_connection_records_say_how_the_charge_point_id_was_found(
        tmp_path: Path, path: bytes, user: str | None, expected_id: str | None, expected_source: str) -> None:
    token = base64.b64encode(f"{user}:secret".encode()).decode() if user else None
    flow = ocpp_flow(path, authorization=f"Basic {token}" if token else None)

    def body(addon: OcppCapture, tctx) -> None:  # type: ignore[no-untyped-def]
        addon.websocket_start(flow)
        addon.websocket_end(flow)

    _, records, _ = read_capture(run_in_context(tmp_path, body))
    opened = records[0]
    assert opened["charge_point_id"] == expected_id
    assert opened["charge_point_id_source"] == expected_source
