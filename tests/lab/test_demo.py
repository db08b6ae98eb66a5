"""`ocpp-workbench demo`: the whole chain on loopback produces a capture that tells the truth."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import workbench as wb
from workbench.cli import main
from workbench.lab.demo import run_demo
from workbench.lab.truth import read_truth

pytestmark = [pytest.mark.network, pytest.mark.slow]


def test_demo_records_every_charger_through_the_real_proxy(tmp_path: Path) -> None:
    capture = tmp_path / "demo.ocpp.jsonl"
    result = asyncio.run(run_demo(capture, sessions=2, session_s=3.0, meter_interval_s=0.5, say=lambda _: None))

    truth = read_truth(result.truth_path)
    assert result.sessions == 6 == len(truth.sessions)
    assert result.frames_by_direction["charger_to_csms"] == result.frames_by_direction["csms_to_charger"]
    for request in ("ChangeConfiguration", "TriggerMessage", "SetChargingProfile", "MeterValues"):
        assert result.actions[request] >= 3

    # What each lab charger sent is in the capture, in order, with the right direction.
    cap = wb.load(capture)
    for charger in result.chargers:
        sent = [f for f in charger.frames_sent() if isinstance(f, str)]
        recorded = cap.frames[(cap.frames["charge_point_id"] == charger.charge_point_id)
                              & (cap.frames["direction"] == "charger_to_csms")]["raw"].tolist()
        assert recorded == sent

    # No password of any charger reached the capture; the users did.
    text = capture.read_text()
    for config_password in (c.config.password for c in result.chargers):
        assert config_password and config_password not in text
    assert set(cap.connections["auth_user"]) == {"LAB-CP1", "LAB-CP2", "LAB-CP3-FAULTY"}

    # The faulty charger is the only one with findings.
    assert set(cap.findings["charge_point_id"]) == {"LAB-CP3-FAULTY"}


def test_demo_command_prints_the_summary_and_the_analysis(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli-demo.ocpp.jsonl"
    assert main(["demo", "--out", str(out), "--sessions", "2", "--session-seconds", "2"]) == 0
    printed = capsys.readouterr().out
    assert "connections: 4" in printed  # 3 chargers + the faulty one's reconnect
    assert "Sessions (6)" in printed and "Findings:" in printed
    assert out.exists() and Path(str(out) + ".truth.json").exists()
    # It ends by writing the report next to the capture and printing its path.
    report = tmp_path / "cli-demo.report.html"
    assert printed.rstrip().endswith(f"report (open in a browser, works offline): {report}")
    assert "energy_kwh_as_wh" in report.read_text(encoding="utf-8")
