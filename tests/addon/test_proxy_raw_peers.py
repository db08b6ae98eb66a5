"""End to end through a real mitmdump with the addon, between raw WebSocket peers over TLS.

Raw peers send what the ``ocpp`` library never would: invalid JSON, binary and 1 MB frames.
Everything runs on 127.0.0.1 with OS-chosen ports; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
from pathlib import Path

import pytest
from addon_peers import RawCSMS, raw_charger, recv, wait_until
from websockets.exceptions import ConnectionClosed, InvalidStatus

from workbench.capture import read_capture
from workbench.capture.records import frame_bytes
from workbench.lab.certs import LabPKI
from workbench.proxy import ProxyConfig, ProxyProcess

pytestmark = [pytest.mark.network, pytest.mark.timeout(90)]

USER = "CP001"
PASSWORD = "Pw-7f3a9c2e1b5d4a60"
SECRET_FORMS = [
    PASSWORD.encode(),
    base64.b64encode(PASSWORD.encode()),
    base64.b64encode(f"{USER}:{PASSWORD}".encode()),
]
ONE_MB = 1_000_000


def proxy_config(tmp_path: Path, pki: LabPKI, confdir: Path, csms_port: int, **overrides: object) -> ProxyConfig:
    settings: dict[str, object] = dict(
        capture_path=tmp_path / "site.ocpp.jsonl",
        upstream_url=f"wss://127.0.0.1:{csms_port}/ocpp",
        cert_file=pki.server_cert, key_file=pki.server_key, upstream_ca=pki.ca_cert,
        tls_version_max="TLS1_2", confdir=confdir,
    )
    settings.update(overrides)
    return ProxyConfig(**settings)  # type: ignore[arg-type]


def frames_of(records: list[dict], direction: str) -> list[bytes]:
    return [frame_bytes(r) for r in records if r["type"] == "frame" and r["direction"] == direction]


def as_bytes(message: str | bytes) -> bytes:
    return message.encode("utf-8") if isinstance(message, str) else message


def free_loopback_port() -> int:
    """A port nothing listens on (probed: bound by the OS, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_every_frame_arrives_unchanged_and_is_captured_once(tmp_path: Path, pki: LabPKI, mitm_confdir: Path) -> None:
    from_charger: list[str | bytes] = [
        '[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]',
        '[2,"h1","Heartbeat",{}]',
        "{this is not json",
        b"\x00\xff\xfe binary \x80",
        '[2,"d1","DataTransfer",{"vendorId":"Z\u00fcrich \u26a1"}]',
        "x" * ONE_MB,
    ]
    from_csms_unsolicited: list[str | bytes] = [
        '[2,"s1","GetConfiguration",{}]', "[not json either", b"\x01\x02\x03", "y" * ONE_MB,
    ]

    async def scenario() -> tuple[RawCSMS, list[str | bytes], ProxyProcess]:
        async with RawCSMS(pki.server_ssl_context(), USER, PASSWORD) as csms:
            proxy = ProxyProcess(proxy_config(tmp_path, pki, mitm_confdir, csms.port), log_path=tmp_path / "mitmdump.log")
            proxy.start()
            try:
                got: list[str | bytes] = []
                url = f"wss://127.0.0.1:{proxy.port}/ocpp/{USER}"
                async with raw_charger(url, user=USER, password=PASSWORD, ssl_context=pki.client_ssl_context()) as ws:
                    for message in from_charger:
                        await ws.send(message)
                    await wait_until(lambda: len(csms.received) == len(from_charger))
                    for message in from_csms_unsolicited:
                        await csms.send(USER, message)
                    # 3 CALLs answered by the CSMS plus the 4 frames it sent on its own.
                    for _ in range(3 + len(from_csms_unsolicited)):
                        got.append(await recv(ws))
            finally:
                await asyncio.to_thread(proxy.stop)
            return csms, got, proxy

    csms, charger_got, proxy = asyncio.run(scenario())

    # Unchanged at the other side, in order.
    assert [m for _, m in csms.received] == from_charger
    assert charger_got == [m for _, m in csms.sent]
    headers = csms.request_headers[0]
    assert headers["Authorization"] == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert headers["Sec-WebSocket-Protocol"] == "ocpp1.6"

    header, records, problems = read_capture(tmp_path / "site.ocpp.jsonl")
    assert problems == []
    assert header["upstream_url"] == f"wss://127.0.0.1:{csms.port}/ocpp"
    # Exactly once each, with the right direction.
    assert frames_of(records, "charger_to_csms") == [as_bytes(m) for m in from_charger]
    assert frames_of(records, "csms_to_charger") == [as_bytes(m) for _, m in csms.sent]
    binary = [r for r in records if r["type"] == "frame" and r.get("binary")]
    assert len(binary) == 2

    opened = [r for r in records if r["type"] == "connection_open"]
    assert len(opened) == 1
    open_record = opened[0]
    assert open_record["charge_point_id"] == USER
    assert open_record["url_path"] == f"/ocpp/{USER}"
    assert open_record["subprotocols_offered"] == ["ocpp1.6"]
    assert open_record["subprotocol"] == "ocpp1.6"
    for leg in ("charger_tls", "csms_tls"):
        assert open_record[leg]["version"] == "TLSv1.2"
        assert open_record[leg]["cipher"]
    assert open_record["charger_tls"]["sni"] is None  # connected by IP: no SNI sent
    assert open_record["auth_scheme"] == "Basic"
    assert open_record["auth_user"] == USER
    assert open_record["auth_password_present"] is True
    assert {r["connection_id"] for r in records} == {open_record["connection_id"]}

    closes = [r for r in records if r["type"] == "connection_close"]
    assert [(c["close_code"], c["closed_by"]) for c in closes] == [(1000, "charger")]

    capture_bytes = (tmp_path / "site.ocpp.jsonl").read_bytes()
    log_bytes = (tmp_path / "mitmdump.log").read_bytes()
    for secret in SECRET_FORMS:
        assert secret not in capture_bytes
        assert secret not in log_bytes
    assert USER.encode() in capture_bytes  # the check above looks at the right file


def test_sni_is_recorded_when_the_charger_sends_one(tmp_path: Path, pki: LabPKI, mitm_confdir: Path) -> None:
    async def scenario() -> None:
        async with RawCSMS(pki.server_ssl_context(), USER, PASSWORD) as csms:
            # No mirroring: its start-up probe would block on this loop's CSMS (see test_proxy_tls_policy).
            with ProxyProcess(proxy_config(tmp_path, pki, mitm_confdir, csms.port, tls_version_max=None,
                                           mirror_upstream_tls=False)) as proxy:
                url = f"wss://localhost:{proxy.port}/{USER}"
                async with raw_charger(url, user=USER, password=PASSWORD, ssl_context=pki.client_ssl_context()) as ws:
                    await ws.send('[2,"h","Heartbeat",{}]')
                    await recv(ws)

    asyncio.run(scenario())
    _, records, _ = read_capture(tmp_path / "site.ocpp.jsonl")
    open_record = next(r for r in records if r["type"] == "connection_open")
    assert open_record["charger_tls"]["sni"] == "localhost"
    assert open_record["charger_tls"]["version"] == "TLSv1.3"  # unbounded maximum when not capped


def test_wrong_password_is_a_recorded_401(tmp_path: Path, pki: LabPKI, mitm_confdir: Path) -> None:
    async def scenario() -> int:
        async with RawCSMS(pki.server_ssl_context(), USER, PASSWORD) as csms:
            with ProxyProcess(proxy_config(tmp_path, pki, mitm_confdir, csms.port)) as proxy:
                url = f"wss://127.0.0.1:{proxy.port}/ocpp/{USER}"
                with pytest.raises(InvalidStatus) as rejected:
                    async with raw_charger(url, user=USER, password="wrong-" + PASSWORD,
                                           ssl_context=pki.client_ssl_context()):
                        pass
                return rejected.value.response.status_code

    assert asyncio.run(scenario()) == 401
    _, records, _ = read_capture(tmp_path / "site.ocpp.jsonl")
    assert [r["type"] for r in records] == ["upgrade_rejected"]
    rejected = records[0]
    assert rejected["status_code"] == 401
    assert rejected["charge_point_id"] == USER
    assert rejected["auth_user"] == USER and rejected["auth_password_present"] is True
    assert rejected["charger_tls"]["version"] == "TLSv1.2"
    assert b"wrong-" not in (tmp_path / "site.ocpp.jsonl").read_bytes()


def test_unreachable_upstream_gives_the_charger_a_clean_502(tmp_path: Path, pki: LabPKI, mitm_confdir: Path) -> None:
    async def scenario() -> int:
        with ProxyProcess(proxy_config(tmp_path, pki, mitm_confdir, free_loopback_port())) as proxy:
            url = f"wss://127.0.0.1:{proxy.port}/ocpp/{USER}"
            # The TLS handshake with the proxy succeeds; the HTTP answer is a 502, not a reset.
            with pytest.raises(InvalidStatus) as rejected:
                async with raw_charger(url, user=USER, password=PASSWORD, ssl_context=pki.client_ssl_context()):
                    pass
            return rejected.value.response.status_code

    assert asyncio.run(scenario()) == 502
    _, records, problems = read_capture(tmp_path / "site.ocpp.jsonl")
    assert problems == []
    assert [r["type"] for r in records] == ["upgrade_rejected"]
    assert records[0]["status_code"] == 502
    assert records[0]["reason"]  # mitmproxy's connect error, e.g. "Connection refused"


def test_websocket_without_ocpp_subprotocol_passes_unrecorded(tmp_path: Path, pki: LabPKI, mitm_confdir: Path) -> None:
    async def scenario() -> str | bytes:
        async with RawCSMS(pki.server_ssl_context(), USER, PASSWORD, subprotocols=("ocpp1.6", "chat")) as csms:
            with ProxyProcess(proxy_config(tmp_path, pki, mitm_confdir, csms.port)) as proxy:
                url = f"wss://127.0.0.1:{proxy.port}/other/{USER}"
                async with raw_charger(url, user=USER, password=PASSWORD, ssl_context=pki.client_ssl_context(),
                                       subprotocols=("chat",)) as ws:
                    await ws.send('[2,"h","Heartbeat",{}]')
                    return await recv(ws)

    reply = asyncio.run(scenario())
    assert json.loads(reply)[1] == "h"  # the traffic passed
    _, records, _ = read_capture(tmp_path / "site.ocpp.jsonl")
    assert records == []


def test_sigterm_writes_close_records_for_live_connections(tmp_path: Path, pki: LabPKI, mitm_confdir: Path) -> None:
    async def scenario() -> int | None:
        async with RawCSMS(pki.server_ssl_context(), None, PASSWORD) as csms:
            proxy = ProxyProcess(proxy_config(tmp_path, pki, mitm_confdir, csms.port)).start()
            try:
                chargers = [
                    raw_charger(f"wss://127.0.0.1:{proxy.port}/ocpp/CP{i}", user=f"CP{i}", password=PASSWORD,
                                ssl_context=pki.client_ssl_context())
                    for i in range(2)
                ]
                sockets = []
                for charger in chargers:
                    sockets.append(await charger.__aenter__())
                try:
                    for ws in sockets:
                        await ws.send('[2,"h","Heartbeat",{}]')
                        await recv(ws)
                    returncode = await asyncio.to_thread(proxy.stop, signal.SIGTERM)
                    for ws in sockets:  # the chargers see their connection end
                        with pytest.raises(ConnectionClosed):
                            await asyncio.wait_for(ws.recv(), 10)
                finally:
                    for charger in chargers:
                        await charger.__aexit__(None, None, None)
            finally:
                await asyncio.to_thread(proxy.stop)
            return returncode

    assert asyncio.run(scenario()) == 0

    _, records, problems = read_capture(tmp_path / "site.ocpp.jsonl")
    assert problems == []
    opened = [r["connection_id"] for r in records if r["type"] == "connection_open"]
    closes = [r for r in records if r["type"] == "connection_close"]
    assert len(opened) == 2
    assert sorted(c["connection_id"] for c in closes) == sorted(opened)
    assert {c["closed_by"] for c in closes} == {"proxy"}


def test_sigkill_mid_stream_keeps_every_complete_record(tmp_path: Path, pki: LabPKI, mitm_confdir: Path) -> None:
    capture = tmp_path / "site.ocpp.jsonl"

    async def scenario() -> list[str | bytes]:
        async with RawCSMS(pki.server_ssl_context(), USER, PASSWORD) as csms:
            proxy = ProxyProcess(proxy_config(tmp_path, pki, mitm_confdir, csms.port)).start()
            try:
                url = f"wss://127.0.0.1:{proxy.port}/ocpp/{USER}"
                async with raw_charger(url, user=USER, password=PASSWORD, ssl_context=pki.client_ssl_context()) as ws:
                    async def stream() -> None:
                        for i in range(100_000):  # bounded; the kill ends it far sooner
                            await ws.send(json.dumps([2, f"m{i}", "MeterValues", {"connectorId": 1, "meterValue": []}]))
                            await asyncio.sleep(0)

                    sender = asyncio.create_task(stream())
                    await wait_until(lambda: len(csms.received) >= 200)
                    await asyncio.to_thread(proxy.kill)
                    sender.cancel()
                    try:
                        await asyncio.wait_for(sender, 10)
                    except (asyncio.CancelledError, ConnectionClosed):
                        pass
            finally:
                await asyncio.to_thread(proxy.stop)
            return [m for _, m in csms.received]

    delivered = asyncio.run(scenario())
    _, records, problems = read_capture(capture)
    # The addon records a frame before forwarding it, so every frame the CSMS got is in the file.
    captured = frames_of(records, "charger_to_csms")
    assert captured[: len(delivered)] == [as_bytes(m) for m in delivered]
    assert not any(r["type"] == "connection_close" for r in records)  # SIGKILL: no chance to write one
    assert all(p.kind == "truncated_last_line" for p in problems)

    # A kill can land mid-line; cut the file inside its last record and read it again.
    data = capture.read_bytes()
    cut_copy = tmp_path / "cut.ocpp.jsonl"
    cut_copy.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 20])
    _, cut_records, cut_problems = read_capture(cut_copy)
    assert len(cut_records) == len(records) - 1
    assert [p.kind for p in cut_problems] == ["truncated_last_line"]


def test_capture_failure_stops_the_proxy_before_unrecorded_traffic(
    tmp_path: Path, pki: LabPKI, mitm_confdir: Path
) -> None:
    # A FIFO as the capture: closing its read end makes the next write fail (EPIPE).
    fifo = tmp_path / "capture.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)

    async def scenario() -> tuple[RawCSMS, ProxyProcess, int | None]:
        async with RawCSMS(pki.server_ssl_context(), USER, PASSWORD) as csms:
            proxy = ProxyProcess(proxy_config(tmp_path, pki, mitm_confdir, csms.port, capture_path=fifo),
                                 log_path=tmp_path / "mitmdump.log").start()
            try:
                url = f"wss://127.0.0.1:{proxy.port}/ocpp/{USER}"
                async with raw_charger(url, user=USER, password=PASSWORD, ssl_context=pki.client_ssl_context()) as ws:
                    await ws.send('[2,"before","Heartbeat",{}]')
                    await recv(ws)
                    os.close(reader)
                    try:
                        await ws.send('[2,"after","Heartbeat",{}]')
                        await asyncio.wait_for(ws.recv(), 10)
                    except ConnectionClosed:
                        pass
                returncode = await asyncio.to_thread(proxy.wait, 20)
            finally:
                await asyncio.to_thread(proxy.stop)
            return csms, proxy, returncode

    csms, proxy, returncode = asyncio.run(scenario())
    assert [json.loads(m)[1] for _, m in csms.received] == ["before"]
    assert returncode == 3
    assert "stopping the proxy" in proxy.log_text()


def test_capture_failure_passes_traffic_when_allowed(tmp_path: Path, pki: LabPKI, mitm_confdir: Path) -> None:
    fifo = tmp_path / "capture.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)

    async def scenario() -> tuple[RawCSMS, ProxyProcess, int | None]:
        async with RawCSMS(pki.server_ssl_context(), USER, PASSWORD) as csms:
            config = proxy_config(tmp_path, pki, mitm_confdir, csms.port, capture_path=fifo, pass_through_on_error=True)
            proxy = ProxyProcess(config, log_path=tmp_path / "mitmdump.log").start()
            try:
                url = f"wss://127.0.0.1:{proxy.port}/ocpp/{USER}"
                async with raw_charger(url, user=USER, password=PASSWORD, ssl_context=pki.client_ssl_context()) as ws:
                    await ws.send('[2,"before","Heartbeat",{}]')
                    await recv(ws)
                    os.close(reader)
                    await ws.send('[2,"after","Heartbeat",{}]')
                    await recv(ws)
            finally:
                returncode = await asyncio.to_thread(proxy.stop)
            return csms, proxy, returncode

    csms, proxy, returncode = asyncio.run(scenario())
    assert [json.loads(m)[1] for _, m in csms.received] == ["before", "after"]
    assert returncode == 0
    assert "UNRECORDED" in proxy.log_text()


def test_regular_proxy_mode_for_chargers_configured_with_a_proxy(
    tmp_path: Path, pki: LabPKI, mitm_confdir: Path
) -> None:
    async def scenario() -> RawCSMS:
        async with RawCSMS(pki.server_ssl_context(), USER, PASSWORD) as csms:
            config = proxy_config(tmp_path, pki, mitm_confdir, csms.port, mode="regular", upstream_url=None)
            with ProxyProcess(config) as proxy:
                url = f"wss://127.0.0.1:{csms.port}/ocpp/{USER}"  # the CSMS itself; the proxy is in between
                async with raw_charger(url, user=USER, password=PASSWORD, ssl_context=pki.client_ssl_context(),
                                       via_proxy=f"http://127.0.0.1:{proxy.port}") as ws:
                    await ws.send('[2,"h1","Heartbeat",{}]')
                    await recv(ws)
        return csms

    csms = asyncio.run(scenario())
    header, records, problems = read_capture(tmp_path / "site.ocpp.jsonl")
    assert problems == []
    assert header["proxy_mode"].startswith("regular")
    assert [r["type"] for r in records] == ["connection_open", "frame", "frame", "connection_close"]
    assert frames_of(records, "charger_to_csms") == [as_bytes(m) for _, m in csms.received]
    assert records[0]["csms_tls"]["version"] == "TLSv1.2"


def test_regular_mode_refuses_non_loopback_destinations(tmp_path: Path, pki: LabPKI, mitm_confdir: Path) -> None:
    async def scenario() -> int:
        config = proxy_config(tmp_path, pki, mitm_confdir, 1, mode="regular", upstream_url=None)
        # The proxy shows the lab certificate for every host; this test is about the refusal.
        client_context = pki.client_ssl_context()
        client_context.check_hostname = False
        with ProxyProcess(config) as proxy:
            # 192.0.2.1 is TEST-NET-1: never contacted, the addon refuses before connecting.
            with pytest.raises(InvalidStatus) as rejected:
                async with raw_charger(f"wss://192.0.2.1/ocpp/{USER}", user=USER, password=PASSWORD,
                                       ssl_context=client_context,
                                       via_proxy=f"http://127.0.0.1:{proxy.port}"):
                    pass
            return rejected.value.response.status_code

    assert asyncio.run(scenario()) == 502
    _, records, _ = read_capture(tmp_path / "site.ocpp.jsonl")
    assert [(r["type"], r["status_code"]) for r in records] == [("upgrade_rejected", 502)]
    assert "not a loopback address" in records[0]["reason"]


def test_the_csms_certificate_is_verified_unless_explicitly_insecure(
    tmp_path: Path, pki: LabPKI, mitm_confdir: Path
) -> None:
    async def connect_through(config: ProxyConfig) -> int | None:
        """The HTTP status the charger got, or None if the WebSocket opened."""
        with ProxyProcess(config) as proxy:
            url = f"wss://127.0.0.1:{proxy.port}/ocpp/{USER}"
            try:
                async with raw_charger(url, user=USER, password=PASSWORD, ssl_context=pki.client_ssl_context()) as ws:
                    await ws.send('[2,"h","Heartbeat",{}]')
                    await recv(ws)
                    return None
            except InvalidStatus as rejected:
                return rejected.response.status_code

    async def scenario() -> tuple[int | None, int | None]:
        async with RawCSMS(pki.server_ssl_context(), USER, PASSWORD) as csms:
            # No --upstream-ca: the system store does not know the lab CA.
            strict = proxy_config(tmp_path / "strict", pki, mitm_confdir, csms.port, upstream_ca=None,
                                  capture_path=tmp_path / "strict.ocpp.jsonl")
            insecure = proxy_config(tmp_path / "insecure", pki, mitm_confdir, csms.port, upstream_ca=None,
                                    insecure_upstream=True, capture_path=tmp_path / "insecure.ocpp.jsonl")
            return await connect_through(strict), await connect_through(insecure)

    strict_status, insecure_status = asyncio.run(scenario())
    assert strict_status == 502
    _, records, _ = read_capture(tmp_path / "strict.ocpp.jsonl")
    assert [r["type"] for r in records] == ["upgrade_rejected"]
    assert "certificate" in records[0]["reason"].lower()
    assert insecure_status is None  # only the explicit flag lets an unverified CSMS through
    _, records, _ = read_capture(tmp_path / "insecure.ocpp.jsonl")
    assert [r["type"] for r in records] == ["connection_open", "frame", "frame", "connection_close"]
