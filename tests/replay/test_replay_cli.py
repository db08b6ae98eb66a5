"""``ocpp-workbench replay``: the command line as a user runs it (a subprocess), against the lab CSMS."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from replay_lab_helpers import SAMPLE, run

import workbench as wb
from workbench.lab import LabCSMS
from workbench.lab.certs import LabPKI

pytestmark = pytest.mark.network  # every test starts the command as a process
ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "replays").glob("*.yaml"))


def _cli(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return asyncio.create_subprocess_exec(
        sys.executable, "-m", "workbench", "replay", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


async def _finish(process: asyncio.subprocess.Process) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


def _run_cli(*args: str) -> tuple[int, str, str]:
    async def go():
        return await _finish(await _cli(*args))

    return run(go(), timeout_s=90)


def test_plan_prints_and_sends_nothing() -> None:
    code, out, err = _run_cli(str(SAMPLE), "--charge-point", "LAB-CP2", "--plan")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("plan: role charger") and "1 charge point(s)" in lines[0]
    assert sum(" send " in line for line in lines) == 69


def test_non_loopback_target_is_refused_in_one_line() -> None:
    code, out, err = _run_cli(str(SAMPLE), "--target", "wss://csms.example.com/ocpp")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--allow-remote" in err and "Traceback" not in err


@pytest.mark.parametrize("args, message", [
    (["--target", "http://127.0.0.1:1/ocpp"], "ws:// or wss://"),
    (["--as", "csms"], "--listen"),
    (["--password-env", "SURELY_NOT_SET_ANYWHERE", "--target", "ws://127.0.0.1:1/ocpp"], "not set"),
    (["--charge-point", "NOBODY", "--target", "ws://127.0.0.1:1/ocpp"], "nothing to replay"),
])
def test_usage_errors_are_one_line_exit_2(args: list[str], message: str) -> None:
    code, _out, err = _run_cli(str(SAMPLE), *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_bad_scenario_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("capture: x.ocpp.jsonl\nrole: proxy\n")
    code, _out, err = _run_cli(str(bad), "--plan")
    assert code == 2 and "role must be charger or csms" in err and "Traceback" not in err


def test_unreachable_target_is_exit_2_in_bounded_time() -> None:
    code, out, err = _run_cli(str(SAMPLE), "--charge-point", "LAB-CP1", "--target", "ws://127.0.0.1:9/ocpp",
                              "--connect-timeout", "2")
    assert code == 2 and out.splitlines()[0].startswith("error")
    assert err.count("\n") == 1 and err.startswith("ocpp-workbench replay: LAB-CP1: cannot connect")


@pytest.mark.slow
def test_cli_replays_over_wss_with_a_password_from_the_environment(tmp_path: Path, lab_pki: LabPKI) -> None:
    out = tmp_path / "replay.ocpp.jsonl"
    report = tmp_path / "verdict.xml"

    async def go():
        async with LabCSMS(pki=lab_pki, passwords={"NEW-ID": "env-secret"}, heartbeat_interval_s=60) as csms:
            process = await _cli(str(SAMPLE), "--as", "charger", "--target", csms.url, "--charge-point", "LAB-CP1",
                                 "--charge-point-map", "LAB-CP1=NEW-ID", "--id-tag-map", "LABTAG01=TAG-X",
                                 "--password-env", "REPLAY_PW", "--ca", str(lab_pki.ca_cert),
                                 "--drop-peer-requests", "--out", str(out), "--format", "junit", "--progress",
                                 "--report", str(report), env={"REPLAY_PW": "env-secret"})
            result = await _finish(process)
            return result, {t.id_tag for t in csms.transactions.values()}

    (code, stdout, stderr), id_tags = run(go(), timeout_s=90)
    assert code == 0, stdout + stderr
    assert stdout.startswith("replay: clean")
    assert "steps" in stderr and "frames/s" in stderr  # the progress line
    suite = ET.parse(report).getroot()
    assert int(suite.get("tests")) > 60 and suite.get("failures") == "0"
    assert id_tags == {"TAG-X", "LABTAG02", "LABTAG03"}
    cap = wb.load(out)
    assert set(cap.connections["charge_point_id"]) == {"NEW-ID"}
    assert b"env-secret" not in out.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenarios_run_clean_against_the_lab(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "replay.ocpp.jsonl"

    async def go():
        async with LabCSMS(pki=None, passwords={}, unknown_ids="accept") as csms:
            return await _finish(await _cli(str(scenario), "--target", csms.url, "--out", str(out),
                                            "--format", "json", "--quiet"))

    code, stdout, stderr = run(go(), timeout_s=90)
    document = json.loads(stdout)
    assert code == 0, json.dumps([r for r in document["rows"] if r["status"] != "matched"], indent=1) + stderr
    expectations = [r for r in document["rows"] if r["kind"] == "expectation"]
    assert expectations and all(r["status"] == "matched" for r in expectations)
    assert wb.load(out).load_problems == []


@pytest.mark.slow
def test_a_scenario_expectation_that_fails_is_a_row_and_exit_1(tmp_path: Path) -> None:
    scenario = tmp_path / "blocked.yaml"
    scenario.write_text(
        f"capture: {SAMPLE}\ncharge_point: LAB-CP1\ndrop_peer_requests: true\nignore: [/interval]\n"
        "expect:\n  - reply: {action: StartTransaction, pointer: /idTagInfo/status, equals: Accepted}\n"
        "  - request: {action: RemoteStopTransaction, within_s: 30}\n")

    async def go():
        async with LabCSMS(pki=None, passwords={}, unknown_ids="accept", blocked_id_tags=frozenset({"LABTAG03"})) as csms:
            return await _finish(await _cli(str(scenario), "--target", csms.url, "--format", "json", "--quiet"))

    code, stdout, _stderr = run(go(), timeout_s=90)
    document = json.loads(stdout)
    assert code == 1
    expectations = [(r["status"], r["action"]) for r in document["rows"] if r["kind"] == "expectation"]
    assert expectations == [("differs", "StartTransaction"), ("missing", "RemoteStopTransaction")]


@pytest.mark.slow
def test_cli_as_csms_with_test_ocpp_dialing_in(tmp_path: Path, lab_pki: LabPKI) -> None:
    from workbench.testing import exchange, make_capture

    script = exchange(0.0, "b1", "BootNotification", {"chargePointVendor": "TestVendor", "chargePointModel": "TestModel"},
                      {"status": "Accepted", "currentTime": "2025-01-06T08:00:00.000Z", "interval": 300})
    script += exchange(0.2, "h1", "Heartbeat", {}, {"currentTime": "2025-01-06T08:00:00.200Z"})
    capture = make_capture(tmp_path / "tp.ocpp.jsonl", "TP-9", script, close_at_s=0.5)
    secrets = tmp_path / "pw.txt"
    secrets.write_text("TP-9=cli-secret\n")
    secrets.chmod(0o600)
    out = tmp_path / "replayed.ocpp.jsonl"

    async def go():
        replayer = await _cli(str(capture), "--as", "csms", "--listen", "127.0.0.1:0", "--cert", str(lab_pki.server_cert),
                              "--key", str(lab_pki.server_key), "--password-file", str(secrets), "--out", str(out),
                              "--quiet", "--peer-timeout", "10")
        line = (await asyncio.wait_for(replayer.stderr.readline(), 30)).decode()
        assert line.startswith("replay: listening at wss://127.0.0.1:"), line
        url = line.split(" at ", 1)[1].strip()
        tool = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("test-ocpp")), url, "TP-9", "--password", "cli-secret",
            "--ca", str(lab_pki.ca_cert), "--timeout", "10",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        tool_out, _ = await asyncio.wait_for(tool.communicate(), 30)
        return await _finish(replayer), tool.returncode, tool_out.decode()

    (code, stdout, stderr), tool_code, tool_out = run(go(), timeout_s=90)
    assert tool_code == 0, tool_out
    assert code == 0, stdout + stderr
    assert stdout.startswith("replay: clean: 2 rows (2 matched)")
    opened = next(r for r in wb.read_capture(out)[1] if r["type"] == "connection_open")
    assert opened["charge_point_id"] == "TP-9" and opened["auth_password_present"]
