"""The probe against the lab charger on loopback: a compliant charger passes what it can show; a
misbehaving one fails exactly the matching requirements. Real mitmdump, real websockets, real ocpp."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from workbench.conformance.probe import ProbeOptions, run_probe
from workbench.lab.certs import make_lab_pki
from workbench.lab.charger import ChargerConfig, ChargerConnectError, LabCharger

pytestmark = [pytest.mark.network, pytest.mark.slow, pytest.mark.timeout(150)]

CP, PASSWORD = "PROBE-CP1", "probe-password-0123"


# One probe per charger behaviour, all at once (each with its own proxy on its own port), so every
# mode is judged alone and the whole set costs about one probe run. Keys: the misbehaviour (or
# "compliant"); values: (misbehaviours, ChargerConfig overrides, ProbeOptions overrides).
CONNECTION_MODES = {"connect_timeout_s": 5.0}
MODES: dict[str, tuple[frozenset[str], dict, dict]] = {
    "compliant": (frozenset(), {}, {}),
    "ignore_charging_limit": (frozenset({"ignore_charging_limit"}), {}, {}),
    "trigger_without_message": (frozenset({"trigger_without_message"}), {}, {}),
    "reject_charging_profile": (frozenset({"reject_charging_profile"}), {}, {}),
    # It keeps its own 2.5 s interval while the probe asks for 1 s (tolerance 1 s).
    "ignore_meter_interval": (frozenset({"ignore_meter_interval"}), {"meter_interval_s": 2.5}, {}),
    "energy_only": (frozenset({"energy_only"}), {}, {}),
    "document_spelling_only": (frozenset({"document_spelling_only"}), {}, {}),
    "wrong_clock": (frozenset({"wrong_clock"}), {}, {}),
    "plain_ws": (frozenset({"plain_ws"}), {}, CONNECTION_MODES),
    "tls13_only": (frozenset({"tls13_only"}), {}, CONNECTION_MODES),
    "no_basic_auth": (frozenset({"no_basic_auth"}), {}, CONNECTION_MODES),
}
EXPECTED_FAILURES = {
    "compliant": [],
    "ignore_charging_limit": ["R6"],
    "trigger_without_message": ["R7"],
    "reject_charging_profile": ["R6"],
    "ignore_meter_interval": ["R8"],
    "energy_only": ["R4", "R8"],  # R8: the measurands it accepted never come
    "document_spelling_only": ["R8"],  # it refuses the standard OCPP key
    "wrong_clock": ["R2"],
    "plain_ws": ["R1"],
    "tls13_only": ["R1"],
    "no_basic_auth": ["R3"],
}


def _options(pki, out_dir: Path, **overrides) -> ProbeOptions:
    options = ProbeOptions(listen_host="127.0.0.1", listen_port=0, cert_file=pki.server_cert, key_file=pki.server_key,
                           out_dir=out_dir, charge_point_id=CP, password=PASSWORD, minutes=0.1,
                           meter_interval_s=1.0, settle_s=2.0, connect_timeout_s=20.0, step_timeout_s=5.0,
                           allow_remote_start=True)
    for name, value in overrides.items():
        setattr(options, name, value)
    return options


async def _probe_one(pki, out_dir: Path, misbehaviours: frozenset[str], charger: dict, probe: dict) -> tuple:
    lines: list[str] = []
    options = _options(pki, out_dir, **probe)
    url: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_probe(options, say=lines.append, listening=url.set_result))
    config = ChargerConfig(CP, PASSWORD, connectors=1, suspend_periods=False, misbehaviours=misbehaviours,
                           **{"meter_interval_s": 1.0, **charger})
    lab_charger = LabCharger(config, await asyncio.wait_for(url, 30), pki.client_ssl_context())  # it appends /<id>
    try:
        async with lab_charger:
            return await asyncio.wait_for(task, 120), lines
    except ChargerConnectError as refused:  # plain WS, TLS 1.3 only, no Basic Auth
        lines.append(f"charger: {refused}")
        return await asyncio.wait_for(task, 60), lines


@pytest.fixture(scope="module")
def mode_runs(tmp_path_factory) -> dict[str, tuple]:
    """Every mode's probe run (run, printed lines), all run concurrently."""
    tmp = tmp_path_factory.mktemp("probe-modes")
    pki = make_lab_pki(tmp / "pki")

    async def all_modes():
        runs = await asyncio.gather(*(_probe_one(pki, tmp / name, *spec) for name, spec in MODES.items()))
        return dict(zip(MODES, runs, strict=True))

    return asyncio.run(all_modes())


def _verdicts(run) -> dict[str, str]:
    return {row.requirement.id: row.verdict for row in run.result.rows}


def _row(run, requirement: str):
    return next(row for row in run.result.rows if row.requirement.id == requirement)


@pytest.mark.parametrize("mode", list(MODES))
def test_each_lab_charger_mode_fails_exactly_its_requirements(mode_runs, mode: str) -> None:
    run, lines = mode_runs[mode]
    failed = sorted(rid for rid, v in _verdicts(run).items() if v == "fail")
    assert failed == EXPECTED_FAILURES[mode], ([(r.requirement.id, r.verdict, r.summary) for r in run.result.rows], lines)


def test_compliant_lab_charger_passes_everything_it_can_show(mode_runs) -> None:
    run, lines = mode_runs["compliant"]
    assert run.ended_early is None, lines
    verdicts = _verdicts(run)
    assert {verdicts[r] for r in ("R1", "R2", "R3", "R4", "R6", "R7", "R8", "R9", "R10")} == {"pass"}
    assert verdicts["R5"] == "not_applicable"
    assert any("SetChargingProfile TxProfile 0 W: Accepted" in line for line in lines)
    # Limits in both units (the lab charger allows Current and Power), each obeyed.
    sent = [(item["purpose"], item["limit"], item["unit"], item["result"]) for item in _row(run, "R6").evidence
            if "purpose" in item]
    assert sent == [("TxProfile", 0.0, "W", "pass"), ("TxProfile", 32.0, "A", "pass"),
                    ("ChargePointMaxProfile", 0.0, "A", "pass"), ("ChargePointMaxProfile", 22000.0, "W", "pass")]
    # GetCompositeSchedule read back what was applied: 11 kW max = 15.9 A at 230 V x 3 after the 32 A
    # TxProfile; the charger's 11000 W maximum after the 22000 W station limit.
    composite = [(item["answer"], item["limit"], item["unit"]) for item in _row(run, "R6").evidence
                 if "get_composite_schedule" in item]
    assert composite == [("Accepted", 15.9, "A"), ("Accepted", 11000.0, "W")]
    assert (run.capture_path.parent / "probe.ocpp.jsonl").exists()


def test_an_ignored_limit_and_an_unsent_trigger_are_named(mode_runs) -> None:
    r6 = _row(mode_runs["ignore_charging_limit"][0], "R6")
    assert "drawn after it" in r6.evidence[0]["note"]
    assert "BootNotification" in _row(mode_runs["trigger_without_message"][0], "R7").summary  # Accepted, never sent
    assert "Accepted" not in _row(mode_runs["reject_charging_profile"][0], "R6").evidence[0]["answer"]


def test_meter_and_configuration_modes_are_named(mode_runs) -> None:
    assert "not 1 s" in _row(mode_runs["ignore_meter_interval"][0], "R8").summary
    energy_only = mode_runs["energy_only"][0]
    assert _row(energy_only, "R4").summary == "MeterValues carry only Energy.Active.Import.Register"
    assert "lack Power.Active.Import" in _row(energy_only, "R8").summary
    spelling = _row(mode_runs["document_spelling_only"][0], "R8")
    assert spelling.verdict == "fail" and "the OCPP key MeterValuesSampledData was answered" in spelling.summary
    assert spelling.warnings == ["PROBE-CP1: sampled-data key accepted only as MeterValuesSampleData"]
    assert "120 s" in _row(mode_runs["wrong_clock"][0], "R2").summary
    # R6 places readings by arrival, so the wrong clock is judged once, under R2.
    assert _row(mode_runs["wrong_clock"][0], "R6").verdict == "pass"


def test_connection_modes_end_the_probe_early_with_the_reason(mode_runs) -> None:
    for mode in ("plain_ws", "tls13_only", "no_basic_auth"):
        run, lines = mode_runs[mode]
        assert run.ended_early, (mode, lines)
        assert {row.verdict for row in run.result.rows if row.requirement.id not in EXPECTED_FAILURES[mode]} <= {
            "pass", "not_observed", "not_applicable"}, mode
    assert "401" in mode_runs["no_basic_auth"][0].ended_early
    notes = {mode: [item.get("note", "") for item in _row(mode_runs[mode][0], "R1").evidence if "result" in item]
             for mode in ("plain_ws", "tls13_only")}
    assert notes["plain_ws"] and all(n.startswith("plain ws:// connection (no TLS)") for n in notes["plain_ws"])
    assert notes["tls13_only"] and all(n.startswith("TLS handshake failed") for n in notes["tls13_only"])
    tls13 = next(item for item in _row(mode_runs["tls13_only"][0], "R1").evidence if "result" in item)
    assert tls13["tls_failure"], tls13  # the charger's offer is the evidence
    no_auth = [item for item in _row(mode_runs["no_basic_auth"][0], "R3").evidence if item.get("result") == "fail"]
    assert no_auth and no_auth[0]["note"] == "upgrade without Basic Auth (CSMS answered 401)"


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
    assert err.count("\n") == 1 and "re-check with `wb.check(wb.load(" in err and "check_params(1, 2)" in err
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
    # It leaves right after its Heartbeat: before the script starts, or (on a busy machine, when the
    # probe saw it still connected) during the script's first request. Either way the probe ends.
    assert run.ended_early in (f"{CP} booted and disconnected before the script could start",
                               "the charger disconnected"), run.ended_early
    verdicts = {row.requirement.id: row.verdict for row in run.result.rows}
    assert verdicts["R1"] == "pass" and verdicts["R3"] == "pass"
    assert not [row.summary for row in run.result.rows if "could not be evaluated" in row.summary]
    assert all(verdicts[r] != "pass" for r in ("R6", "R7", "R8", "R9"))  # nothing it cannot show passes
