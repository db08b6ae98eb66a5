"""``ocpp-workbench lab csms`` and ``lab charger`` as real processes on loopback: sessions through
Basic Auth and TLS, stopping by bound and by SIGTERM (sessions stopped cleanly), refused
passwords and non-loopback addresses, and no password in any output."""

from __future__ import annotations

from pathlib import Path

import pytest
from command_process import WORKBENCH, CommandProcess

from workbench.cli import main

PASSWORD = "pw-never-shown-4711"
LISTENING = r"lab CSMS listening on (?P<url>wss?://\S+/ocpp) "


def _no_password(*processes: CommandProcess) -> None:
    for process in processes:
        assert PASSWORD not in process.output


@pytest.mark.network
@pytest.mark.slow
def test_charger_runs_bounded_sessions_through_tls_and_basic_auth(tmp_path: Path) -> None:
    csms = CommandProcess([*WORKBENCH, "lab", "csms", "--listen", "127.0.0.1:0",
                           "--password", f"CP-1={PASSWORD}", "--sessions", "2", "--seconds", "60"], tmp_path)
    try:
        match = csms.wait_for_line(LISTENING + r".*throw-away CA (?P<ca>\S+lab-ca\.pem)")
        charger = CommandProcess([*WORKBENCH, "lab", "charger", "--target", match["url"], "--ca", match["ca"],
                                  "--id", "CP-1", "--password", PASSWORD, "--sessions", "2",
                                  "--session-seconds", "2"], tmp_path)
        assert charger.wait(60) == 0, charger.output
        # The CSMS stops by itself once its --sessions bound is reached.
        assert csms.wait(30) == 0, csms.output
    finally:
        csms.kill()
    assert "CP-1: connected (ocpp1.6, TLSv1.2)" in csms.output
    assert "CP-1: BootNotification" in csms.output
    assert len([line for line in csms.lines if "stopped (meterStop" in line and "reason Local" in line]) == 2
    assert "lab CSMS stopped (done)" in csms.output
    assert "CP-1: stopped (done): 2 sessions" in charger.output
    _no_password(csms, charger)


@pytest.mark.network
@pytest.mark.slow
def test_sigterm_stops_a_running_session_cleanly_and_ends_both(tmp_path: Path) -> None:
    csms = CommandProcess([*WORKBENCH, "lab", "csms", "--listen", "127.0.0.1:0", "--plain",
                           "--password", f"CP-1={PASSWORD}"], tmp_path)
    charger = None
    try:
        url = csms.wait_for_line(LISTENING)["url"]
        charger = CommandProcess([*WORKBENCH, "lab", "charger", "--target", url, "--id", "CP-1",
                                  "--password", PASSWORD, "--connectors", "1", "--session-seconds", "600"], tmp_path)
        csms.wait_for_line(r"CP-1: transaction 1 started on connector 1")
        assert charger.terminate() == 0, charger.output
        assert "CP-1: stopped (SIGTERM): 1 sessions" in charger.output
        # The session that would have run 10 minutes was ended with a StopTransaction, then a clean close.
        csms.wait_for_line(r"CP-1: transaction 1 stopped \(meterStop \d+ Wh, \d+ Wh, reason Local\)")
        csms.wait_for_line(r"CP-1: disconnected \(close code 1000\)")
        assert csms.terminate() == 0, csms.output
        assert "lab CSMS stopped (SIGTERM)" in csms.output
    finally:
        csms.kill()
        if charger is not None:
            charger.kill()
    _no_password(csms, charger)


@pytest.mark.network
@pytest.mark.slow
def test_wrong_password_is_a_one_line_error_and_a_refusal(tmp_path: Path) -> None:
    csms = CommandProcess([*WORKBENCH, "lab", "csms", "--listen", "127.0.0.1:0", "--plain",
                           "--password", f"CP-1={PASSWORD}", "--seconds", "30"], tmp_path)
    try:
        url = csms.wait_for_line(LISTENING)["url"]
        charger = CommandProcess([*WORKBENCH, "lab", "charger", "--target", url, "--id", "CP-1",
                                  "--password", "not-the-password", "--sessions", "1"], tmp_path)
        assert charger.wait(30) == 2
        errors = [line for line in charger.lines if line.startswith("ocpp-workbench lab charger:")]
        assert errors == ["ocpp-workbench lab charger: CP-1: CSMS refused the upgrade with HTTP 401"]
        assert "Traceback" not in charger.output and "not-the-password" not in charger.output
        csms.wait_for_line(r"CP-1: refused with HTTP 401 \(Invalid credentials\)")
        assert csms.terminate() == 0
    finally:
        csms.kill()
    _no_password(csms)


@pytest.mark.parametrize("argv, message", [
    (["lab", "csms", "--listen", "0.0.0.0:0"], "--listen host '0.0.0.0' is not loopback"),
    (["lab", "csms", "--listen", "192.0.2.7:9000"], "--allow-remote"),
    (["lab", "charger", "--target", "wss://192.0.2.7:9000/ocpp"], "--target host '192.0.2.7' is not loopback"),
    (["lab", "charger", "--target", "https://127.0.0.1/ocpp"], "--target must be a wss://"),
    (["lab", "charger", "--target", "wss://cp:secret@127.0.0.1/ocpp"], "must not carry credentials"),
    (["lab", "charger", "--target", "wss://127.0.0.1/ocpp", "--faults", "no_such_fault"], "unknown fault"),
    (["lab", "csms", "--password", "CP-1"], "--password number 1 must be CP=PASSWORD"),
    (["lab", "csms", "--seconds", "0"], "--seconds must be positive"),
])
def test_refusals_are_one_line_errors(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "secret" not in err


def test_a_password_given_without_cp_is_not_echoed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "csms", "--password", "=hunter2"]) == 2
    assert "hunter2" not in capsys.readouterr().err


@pytest.mark.network
def test_csms_sessions_bound_lets_the_charger_finish_before_stopping(tmp_path: Path) -> None:
    """``lab csms --sessions 1`` stops after the charger has left, not at its StopTransaction: a charger
    sends its last StatusNotification and closes after the stop (it was cut off before)."""
    import asyncio
    import json

    from websockets.asyncio.client import connect

    csms = CommandProcess([*WORKBENCH, "lab", "csms", "--listen", "127.0.0.1:0", "--plain", "--sessions", "1",
                           "--seconds", "30"], tmp_path)

    async def charger(url: str) -> list[str]:
        answers = []
        async with connect(f"{url}/CP-9", subprotocols=["ocpp1.6"]) as ws:
            requests = [
                ["BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}],
                ["StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"}],
                ["StopTransaction", {"transactionId": 1, "meterStop": 5, "timestamp": "2026-01-01T00:01:00Z"}],
                ["StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"}],
            ]
            for number, (action, payload) in enumerate(requests):
                if action == "StatusNotification":
                    await asyncio.sleep(1.0)  # the CSMS has seen its last session end by now
                await ws.send(json.dumps([2, str(number), action, payload]))
                answers.append(await asyncio.wait_for(ws.recv(), 10))
        return answers

    try:
        match = csms.wait_for_line(LISTENING)
        answers = asyncio.run(charger(match["url"]))
        assert csms.wait(20) == 0, csms.output
    finally:
        csms.kill()
    assert len(answers) == 4 and answers[-1] == '[3,"3",{}]'
    assert "lab CSMS stopped (done)" in csms.output
