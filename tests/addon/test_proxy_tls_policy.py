"""The charger leg's TLS through a real mitmdump: `--tls-policy elb-2018-06` offers exactly the ELB
policy (TLS 1.2, its ciphers), and by default the charger leg mirrors the CSMS's highest TLS version."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from addon_peers import RawCSMS, raw_charger, recv
from test_proxy_raw_peers import PASSWORD, USER, proxy_config
from test_proxy_refusals import handshake

import workbench as wb
from workbench.capture import read_capture
from workbench.conformance.tls_policies import ELB_2018_06
from workbench.lab.certs import LabPKI
from workbench.proxy import ProxyProcess, build_mitmdump_args

pytestmark = [pytest.mark.network, pytest.mark.timeout(90)]


def _client(pki: LabPKI, *, tls13_only: bool = False, ciphers: str | None = None) -> ssl.SSLContext:
    context = pki.client_ssl_context()
    if tls13_only:
        context.minimum_version = ssl.TLSVersion.TLSv1_3
    if ciphers is not None:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(ciphers)
    return context


def test_policy_arguments(tmp_path: Path, pki: LabPKI) -> None:
    config = proxy_config(tmp_path, pki, tmp_path, 9, tls_version_max=None, tls_policy="elb-2018-06")
    args = build_mitmdump_args(config, combined_cert=None, confdir=tmp_path, charger_tls_max="TLS1_3")
    settings = {args[i + 1] for i, arg in enumerate(args) if arg == "--set"}
    assert {"tls_version_client_min=TLS1_2", "tls_version_client_max=TLS1_2", "ocpp_charger_tls_policy=elb-2018-06",
            "ciphers_client=" + ":".join(ELB_2018_06.ciphers)} <= settings
    assert not any(s.startswith("tls_version_server_max") for s in settings)  # the CSMS leg is not narrowed


def test_policy_option_errors_are_one_line(tmp_path: Path, pki: LabPKI, capsys: pytest.CaptureFixture[str]) -> None:
    from workbench.cli import main

    base = ["proxy", "--upstream", "wss://127.0.0.1:9/ocpp", "--out", str(tmp_path / "c.ocpp.jsonl"),
            "--cert", str(pki.server_cert), "--key", str(pki.server_key), "--tls-policy", "elb-2018-06"]
    assert main([*base, "--tls-max", "TLS1_3"]) == 2
    assert capsys.readouterr().err == ("ocpp-workbench proxy: --tls-policy sets the chargers' TLS versions itself; "
                                       "drop --tls-max\n")
    with pytest.raises(SystemExit):
        main([*base[:-1], "tls13"])
    assert "invalid choice: 'tls13'" in capsys.readouterr().err


def test_elb_policy_refuses_tls13_only_and_admits_tls12_with_a_policy_cipher(
        tmp_path: Path, pki: LabPKI, mitm_confdir: Path) -> None:
    async def scenario() -> list[str]:
        async with RawCSMS(pki.server_ssl_context(), USER, PASSWORD) as csms:
            config = proxy_config(tmp_path, pki, mitm_confdir, csms.port, tls_version_max=None,
                                  tls_policy="elb-2018-06")
            with ProxyProcess(config, log_path=tmp_path / "mitmdump.log") as proxy:
                errors = [await asyncio.to_thread(handshake, proxy.port, _client(pki, tls13_only=True), "localhost"),
                          await asyncio.to_thread(handshake, proxy.port,
                                                  _client(pki, ciphers="ECDHE-ECDSA-CHACHA20-POLY1305"), "localhost")]
                good = _client(pki, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256")
                async with raw_charger(f"wss://127.0.0.1:{proxy.port}/ocpp/{USER}", user=USER, password=PASSWORD,
                                       ssl_context=good) as ws:
                    await ws.send('[2,"h","Heartbeat",{}]')
                    await recv(ws)
                return errors

    errors = asyncio.run(scenario())
    assert all(errors), errors
    header, records, problems = read_capture(tmp_path / "site.ocpp.jsonl")
    assert problems == [] and header["charger_tls_policy"] == "elb-2018-06" and header["charger_tls_max"] == "TLS1_2"
    failed = [r for r in records if r["type"] == "tls_handshake_failed"]
    assert [r["failure"] for r in failed] == ["protocol_version", "no_shared_cipher"]
    assert failed[0]["offered_versions"] == ["TLSv1.3"]  # the charger's offer is the evidence
    assert failed[1]["offered_ciphers"][0] == "ECDHE-ECDSA-CHACHA20-POLY1305"
    opened = next(r for r in records if r["type"] == "connection_open")
    assert opened["charger_tls"]["version"] == "TLSv1.2"
    assert opened["charger_tls"]["cipher"] == "ECDHE-ECDSA-AES128-GCM-SHA256"

    # R1 of the ev-energy profile reads it: the good connection passes, the refused handshakes fail it.
    r1 = wb.check(tmp_path / "site.ocpp.jsonl", "ev-energy").rows[0]
    assert r1.verdict == "fail"
    assert "--tls-policy elb-2018-06" in r1.evidence[0]["note"]
    assert [e["result"] for e in r1.evidence[1:]] == ["fail", "fail", "pass"]
    assert r1.evidence[1]["offered_versions"] == ["TLSv1.3"]


def test_charger_leg_mirrors_a_csms_that_speaks_only_tls12(tmp_path: Path, pki: LabPKI, mitm_confdir: Path) -> None:
    csms_context = pki.server_ssl_context()
    csms_context.maximum_version = ssl.TLSVersion.TLSv1_2

    async def scenario() -> str | None:
        async with RawCSMS(csms_context, USER, PASSWORD) as csms:
            config = proxy_config(tmp_path, pki, mitm_confdir, csms.port, tls_version_max=None)
            proxy = ProxyProcess(config)
            await asyncio.to_thread(proxy.start)  # its probe of the CSMS blocks: the CSMS runs in this loop
            try:
                async with raw_charger(f"wss://127.0.0.1:{proxy.port}/ocpp/{USER}", user=USER, password=PASSWORD,
                                       ssl_context=pki.client_ssl_context()) as ws:  # offers TLS 1.3 and 1.2
                    await ws.send('[2,"h","Heartbeat",{}]')
                    await recv(ws)
            finally:
                await asyncio.to_thread(proxy.stop)
            return proxy.upstream_tls_max

    assert asyncio.run(scenario()) == "TLS1_2"
    header, records, _ = read_capture(tmp_path / "site.ocpp.jsonl")
    assert header["charger_tls_max"] == "TLS1_2" and header["charger_tls_policy"] is None
    opened = next(r for r in records if r["type"] == "connection_open")
    assert opened["charger_tls"]["version"] == "TLSv1.2"  # not TLS 1.3, which the CSMS would never accept
