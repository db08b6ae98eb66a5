"""The probe against the lab charger on loopback: a compliant charger passes what it can show; a
misbehaving one fails exactly the matching requirements. Real mitmdump, real websockets, real ocpp."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from workbench.conformance.probe import ProbeOptions, run_probe
from workbench.lab.certs import make_lab_pki
from workbench.lab.charger import ChargerConfig, LabCharger

pytestmark = [pytest.mark.network, pytest.mark.slow, pytest.mark.timeout(150)]

CP, PASSWORD = "PROBE-CP1", "probe-password-0123"


def _probe(tmp_path: Path, misbehaviours: frozenset[str] = frozenset(), **overrides) -> tuple:
    pki = make_lab_pki(tmp_path / "pki")
    options = ProbeOptions(listen_host="127.0.0.1", listen_port=0, cert_file=pki.server_cert, key_file=pki.server_key,
                           out_dir=tmp_path / "out", charge_point_id=CP, password=PASSWORD, minutes=0.1,
                           meter_interval_s=1.0, settle_s=2.0, connect_timeout_s=20.0, step_timeout_s=5.0,
                           allow_remote_start=True)
    for name, value in overrides.items():
        setattr(options, name, value)
    lines: list[str] = []

    async def scenario():
        url: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        probe = asyncio.create_task(run_probe(options, say=lines.append, listening=url.set_result))
        config = ChargerConfig(CP, PASSWORD, connectors=1, meter_interval_s=1.0, suspend_periods=False,
                               misbehaviours=misbehaviours)
        charger = LabCharger(config, await asyncio.wait_for(url, 30), pki.client_ssl_context())  # it appends /<id>
        async with charger:
            return await asyncio.wait_for(probe, 120)

    return asyncio.run(scenario()), lines


def _verdicts(run) -> dict[str, str]:
    return {row.requirement.id: row.verdict for row in run.result.rows}


def test_compliant_lab_charger_passes_everything_it_can_show(tmp_path: Path) -> None:
    run, lines = _probe(tmp_path)
    assert run.ended_early is None, lines
    verdicts = _verdicts(run)
    assert [rid for rid, v in verdicts.items() if v == "fail"] == [], [(r.requirement.id, r.summary) for r in run.result.rows]
    assert {verdicts[r] for r in ("R1", "R2", "R3", "R4", "R6", "R7", "R8", "R9", "R10")} == {"pass"}
    assert verdicts["R5"] == "not_applicable"
    assert any("SetChargingProfile TxProfile 0 W: Accepted" in line for line in lines)
    assert (tmp_path / "out" / "probe.ocpp.jsonl").exists()


def test_misbehaving_lab_charger_fails_exactly_r6_and_r7(tmp_path: Path) -> None:
    run, lines = _probe(tmp_path, frozenset({"ignore_charging_limit", "trigger_without_message"}))
    verdicts = _verdicts(run)
    assert sorted(rid for rid, v in verdicts.items() if v == "fail") == ["R6", "R7"], verdicts
    r6 = next(row for row in run.result.rows if row.requirement.id == "R6")
    assert "drawn after it" in r6.evidence[0]["note"]
    r7 = next(row for row in run.result.rows if row.requirement.id == "R7")
    assert "BootNotification" in r7.summary  # Accepted, never sent


def test_a_charger_that_never_connects_ends_the_probe_with_a_partial_report(tmp_path: Path) -> None:
    pki = make_lab_pki(tmp_path / "pki")
    options = ProbeOptions(listen_host="127.0.0.1", listen_port=0, cert_file=pki.server_cert, key_file=pki.server_key,
                           out_dir=tmp_path / "out", charge_point_id=CP, password=PASSWORD, connect_timeout_s=1.0)
    lines: list[str] = []
    run = asyncio.run(asyncio.wait_for(run_probe(options, say=lines.append), 60))
    assert run.ended_early and "no charger connected" in run.ended_early
    assert {row.verdict for row in run.result.rows} <= {"not_observed", "not_applicable"}


def test_probe_command_refuses_a_remote_listen_and_a_missing_password_variable(tmp_path: Path, capfd) -> None:
    from workbench.cli import main

    pki = make_lab_pki(tmp_path / "pki")
    base = ["probe", "--cert", str(pki.server_cert), "--key", str(pki.server_key), "--out", str(tmp_path / "o")]
    assert main([*base, "--listen", "192.0.2.1:8443"]) == 2
    assert "--listen" in capfd.readouterr().err
    assert main([*base, "--listen", "127.0.0.1:0", "--user", CP, "--password-env", "NO_SUCH_VARIABLE_42"]) == 2
    assert capfd.readouterr().err == ("ocpp-workbench probe: --password-env NO_SUCH_VARIABLE_42: "
                                      "no such environment variable\n")


def test_probe_command_end_to_end(tmp_path: Path) -> None:
    """`ocpp-workbench probe` as a real process, the lab charger connecting to it: steps on stdout,
    the capture and both reports written, exit 0, the password nowhere in them."""
    import os
    import socket
    import subprocess
    import sys

    pki = make_lab_pki(tmp_path / "pki")
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "CP_SECRET": PASSWORD}
    argv = [sys.executable, "-m", "workbench", "probe", "--listen", f"127.0.0.1:{port}", "--cert", str(pki.server_cert),
            "--key", str(pki.server_key), "--user", CP, "--password-env", "CP_SECRET", "--minutes", "0.05",
            "--meter-interval", "1", "--settle", "2", "--step-timeout", "5", "--connect-timeout", "30",
            "--allow-remote-start", "--out", str(tmp_path / "out"), "--format", "json"]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline()  # printed once the proxy listens
        assert first.startswith("probe: acting as the CSMS at wss://127.0.0.1:"), first

        async def charge() -> None:
            config = ChargerConfig(CP, PASSWORD, connectors=1, meter_interval_s=1.0, suspend_periods=False)
            async with LabCharger(config, f"wss://127.0.0.1:{port}/ocpp", pki.client_ssl_context()):
                await asyncio.to_thread(process.wait, 110)

        asyncio.run(asyncio.wait_for(charge(), 120))
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "-> SetChargingProfile TxProfile 0 W: Accepted" in out
    import json

    report = json.loads(out[out.index('{\n  "profile"'):])
    assert report["profile"] == "ev-energy" and report["requirements"][5]["verdict"] == "pass"
    assert err.count("\n") == 1 and "re-check with `ocpp-workbench check" in err
    for name in ("probe.ocpp.jsonl", "report.html", "report.json"):
        assert PASSWORD.encode() not in (tmp_path / "out" / name).read_bytes()


def test_probe_against_the_third_party_test_ocpp_client(tmp_path: Path) -> None:
    """test-ocpp (PyPI) boots, sends a Heartbeat and leaves: R1 and R3 come from its real handshake and
    upgrade, the probe ends when it leaves (no hang, no crash), and nothing it could not show passes."""
    import sys

    test_ocpp = Path(sys.executable).with_name("test-ocpp")
    pki = make_lab_pki(tmp_path / "pki")
    options = ProbeOptions(listen_host="127.0.0.1", listen_port=0, cert_file=pki.server_cert, key_file=pki.server_key,
                           out_dir=tmp_path / "out", charge_point_id=CP, password=PASSWORD, minutes=0.1,
                           connect_timeout_s=20.0, step_timeout_s=3.0)

    async def scenario():
        url: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        probe = asyncio.create_task(run_probe(options, say=lambda _: None, listening=url.set_result))
        tool = await asyncio.create_subprocess_exec(
            str(test_ocpp), await asyncio.wait_for(url, 30), CP, "--password", PASSWORD, "--ca", str(pki.ca_cert),
            "--timeout", "5", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        await asyncio.wait_for(tool.communicate(), 60)
        return await asyncio.wait_for(probe, 90)

    run = asyncio.run(scenario())
    assert run.ended_early == f"{CP} booted and disconnected before the script could start"
    verdicts = {row.requirement.id: row.verdict for row in run.result.rows}
    assert verdicts["R1"] == "pass" and verdicts["R3"] == "pass"
    assert not [row.summary for row in run.result.rows if "could not be evaluated" in row.summary]
    assert all(verdicts[r] != "pass" for r in ("R6", "R7", "R8", "R9"))  # nothing it cannot show passes
