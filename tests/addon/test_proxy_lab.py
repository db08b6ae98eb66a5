"""End to end with real OCPP peers: the lab CSMS and chargers built on the ``ocpp`` library,
and a third-party charger (the ``test-ocpp`` tool), through a real mitmdump with the addon."""

from __future__ import annotations

import asyncio
import base64
import sys
from pathlib import Path

import pytest
from ocpp.v16 import call

from workbench.capture import read_capture
from workbench.capture.records import frame_bytes
from workbench.lab.certs import LabPKI
from workbench.lab.charger import ChargerConfig, LabCharger
from workbench.lab.csms import LabCSMS
from workbench.ocppj import parse_frame
from workbench.proxy import ProxyConfig, ProxyProcess

pytestmark = [pytest.mark.network, pytest.mark.timeout(90)]

PASSWORD = "Lab-9d8c7b6a5f4e3d2c"
TEST_OCPP = Path(sys.executable).with_name("test-ocpp")


def secret_forms(user: str) -> list[bytes]:
    return [PASSWORD.encode(), base64.b64encode(PASSWORD.encode()), base64.b64encode(f"{user}:{PASSWORD}".encode())]


def as_bytes(message: str | bytes) -> bytes:
    return message.encode("utf-8") if isinstance(message, str) else message


def capture_frames(records: list[dict], connection_id: str) -> list[tuple[str, bytes]]:
    return [(r["direction"], frame_bytes(r)) for r in records
            if r["type"] == "frame" and r["connection_id"] == connection_id]


def proxy_in_front_of(csms: LabCSMS, tmp_path: Path, pki: LabPKI, confdir: Path) -> ProxyConfig:
    return ProxyConfig(
        capture_path=tmp_path / "lab.ocpp.jsonl", upstream_url=csms.url, cert_file=pki.server_cert,
        key_file=pki.server_key, upstream_ca=pki.ca_cert, tls_version_max="TLS1_2", confdir=confdir,
    )


def test_third_party_charger_test_ocpp_is_captured(tmp_path: Path, pki: LabPKI, mitm_confdir: Path) -> None:
    charge_point_id = "TP-CHARGER-1"

    async def scenario() -> tuple[LabCSMS, int, str]:
        async with LabCSMS(pki=pki, passwords={charge_point_id: PASSWORD}) as csms:
            with ProxyProcess(proxy_in_front_of(csms, tmp_path, pki, mitm_confdir),
                              log_path=tmp_path / "mitmdump.log") as proxy:
                tool = await asyncio.create_subprocess_exec(
                    str(TEST_OCPP), f"wss://127.0.0.1:{proxy.port}/ocpp", charge_point_id,
                    "--password", PASSWORD, "--ca", str(pki.ca_cert), "--timeout", "10",
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                )
                output, _ = await asyncio.wait_for(tool.communicate(), 60)
                await csms.wait_disconnected(charge_point_id)
            return csms, tool.returncode, output.decode("utf-8", "replace")

    csms, returncode, output = asyncio.run(scenario())
    assert returncode == 0, output

    _, records, problems = read_capture(tmp_path / "lab.ocpp.jsonl")
    assert problems == []
    open_record = next(r for r in records if r["type"] == "connection_open")
    assert open_record["charge_point_id"] == charge_point_id
    assert open_record["subprotocol"] == "ocpp1.6"
    assert open_record["auth_user"] == charge_point_id and open_record["auth_password_present"]
    assert open_record["charger_tls"]["version"] == "TLSv1.2"

    captured = capture_frames(records, open_record["connection_id"])
    # The CSMS saw exactly what the capture holds, in order and direction.
    assert captured == [(direction, as_bytes(text)) for direction, text in csms.frames_of(charge_point_id)]
    calls = [parse_frame(text.decode()) for direction, text in captured if direction == "charger_to_csms"]
    assert [c.action for c in calls][:2] == ["BootNotification", "Heartbeat"]
    answers = [parse_frame(text.decode()) for direction, text in captured if direction == "csms_to_charger"]
    assert [a.unique_id for a in answers][:2] == [c.unique_id for c in calls][:2]
    assert answers[0].payload["status"] == "Accepted"

    capture_bytes = (tmp_path / "lab.ocpp.jsonl").read_bytes()
    for secret in secret_forms(charge_point_id):
        assert secret not in capture_bytes
        assert secret not in (tmp_path / "mitmdump.log").read_bytes()


def test_lab_chargers_and_csms_through_the_proxy_unchanged_and_captured(
    tmp_path: Path, pki: LabPKI, mitm_confdir: Path
) -> None:
    ids = ["LAB-CP-1", "LAB-CP-2"]

    async def scenario() -> tuple[LabCSMS, list[LabCharger]]:
        async with LabCSMS(pki=pki, passwords={cp: PASSWORD for cp in ids}) as csms:
            with ProxyProcess(proxy_in_front_of(csms, tmp_path, pki, mitm_confdir),
                              log_path=tmp_path / "mitmdump.log") as proxy:
                chargers = [
                    LabCharger(ChargerConfig(charge_point_id=cp, password=PASSWORD, connectors=2, meter_interval_s=0.3),
                               f"wss://127.0.0.1:{proxy.port}/ocpp", pki.client_ssl_context())
                    for cp in ids
                ]
                async with chargers[0]:
                    # A CSMS-initiated request crosses the proxy the other way.
                    await csms.wait_connected(ids[0])
                    configuration = await csms.call(ids[0], call.GetConfiguration(key=["MeterValueSampleInterval"]))
                    assert configuration.configuration_key[0]["key"] == "MeterValueSampleInterval"
                    await asyncio.wait_for(
                        asyncio.gather(chargers[0].run_sessions(2, 1.5), chargers[1].run_sessions(1, 1.5)), 60
                    )
                await csms.wait_disconnected(ids[0])
                await csms.wait_disconnected(ids[1])
            return csms, chargers

    csms, chargers = asyncio.run(scenario())
    _, records, problems = read_capture(tmp_path / "lab.ocpp.jsonl")
    assert problems == []
    capture_bytes = (tmp_path / "lab.ocpp.jsonl").read_bytes()
    for charger in chargers:
        cp = charger.charge_point_id
        opens = [r for r in records if r["type"] == "connection_open" and r["charge_point_id"] == cp]
        assert len(opens) == 1
        open_record = opens[0]
        assert open_record["subprotocol"] == "ocpp1.6"
        assert open_record["charger_tls"]["version"] == open_record["csms_tls"]["version"] == "TLSv1.2"
        assert open_record["charger_tls"]["cipher"] and open_record["csms_tls"]["cipher"]
        assert open_record["auth_user"] == cp and open_record["auth_password_present"] is True
        captured = capture_frames(records, open_record["connection_id"])
        csms_view = csms.frames_of(cp)
        for direction in ("charger_to_csms", "csms_to_charger"):
            in_capture = [text for d, text in captured if d == direction]
            at_charger = [as_bytes(text) for d, text in charger.frames if d == direction]
            at_csms = [as_bytes(text) for d, text in csms_view if d == direction]
            # Every frame each side sent arrived unchanged at the other, and is captured exactly once.
            assert in_capture == at_charger == at_csms
        actions = {parse_frame(text.decode()).action for d, text in captured if d == "charger_to_csms"}
        assert {"BootNotification", "StatusNotification", "StartTransaction", "MeterValues", "StopTransaction"} <= actions
        closes = [r for r in records if r["type"] == "connection_close" and r["connection_id"] == open_record["connection_id"]]
        assert [c["closed_by"] for c in closes] == ["charger"]
        for secret in secret_forms(cp):
            assert secret not in capture_bytes
    assert sum(1 for r in records if r["type"] == "frame") > 30
