"""`ocpp-workbench check` and `profiles`: formats, exit codes, one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest
from conformance_builders import BEGIN_S, CP, down, session

from workbench.cli import main
from workbench.conformance.evaluate import strict_json
from workbench.testing import charger_records, write_capture


def _capture(tmp_path: Path, script: list, name: str = "cap.ocpp.jsonl", **options) -> Path:
    return write_capture(tmp_path / name, charger_records(CP, sorted(script, key=lambda e: e[0]), **options))


def _ignored_profile_script() -> list:
    profile = {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 1, "stackLevel": 1, "chargingProfilePurpose": "TxProfile", "transactionId": 1001,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 0.0}]}}}
    return session() + down(BEGIN_S + 605, "s1", "SetChargingProfile", profile, {"status": "Accepted"})


def test_check_exits_0_when_nothing_fails(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    code = main(["check", str(_capture(tmp_path, session()))])
    out, err = capfd.readouterr()
    assert code == 0 and err == ""
    assert "R1   PASS" in out and "R6   not observed" in out and "R5   n/a" in out


def test_check_exits_1_and_names_the_failed_requirements(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    code = main(["check", str(_capture(tmp_path, _ignored_profile_script()))])
    out, err = capfd.readouterr()
    assert code == 1
    assert err == "ocpp-workbench check: failed R6\n"
    assert "advice:" in out


def test_json_has_the_issue_shape_and_is_strict(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = _capture(tmp_path, _ignored_profile_script())
    assert main(["check", str(path), "--format", "json"]) == 1
    doc = json.loads(capfd.readouterr().out, parse_constant=lambda name: pytest.fail(f"non-strict JSON: {name}"))
    assert set(doc) == {"profile", "capture", "requirements"}
    assert doc["profile"] == "ev-energy" and doc["capture"] == str(path)
    r6 = next(r for r in doc["requirements"] if r["id"] == "R6")
    assert r6["verdict"] == "fail" and r6["advice"] and r6["evidence"][0]["frame_seqs"]
    assert {"id", "verdict", "evidence", "advice"} <= set(r6)
    assert [r["id"] for r in doc["requirements"]][:10] == [f"R{i}" for i in range(1, 11)]


def test_strict_json_turns_nan_and_numpy_into_json() -> None:
    assert strict_json({"a": math.nan, "b": np.float64("inf"), "c": np.int64(3), "d": [np.nan, 1.5]}) == {
        "a": None, "b": None, "c": 3, "d": [None, 1.5]}


def test_md_junit_and_html(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = _capture(tmp_path, _ignored_profile_script())
    assert main(["check", str(path), "--format", "md"]) == 1
    md = capfd.readouterr().out
    assert "| R6 | SetChargingProfile" in md and "**FAIL**" in md and "## What to fix" in md

    assert main(["check", str(path), "--format", "junit"]) == 1
    suite = ET.fromstring(capfd.readouterr().out).find("testsuite")
    assert suite is not None and suite.get("tests") == "12" and suite.get("failures") == "1"
    failed = [case.get("name") for case in suite if case.find("failure") is not None]
    assert [name.split()[0] for name in failed] == ["R6"]
    assert sum(case.find("skipped") is not None for case in suite) == 5  # R5 n/a; R7, R8, NF1, NF2 not observed

    page = tmp_path / "report.html"
    assert main(["check", str(path), "--format", "html", "-o", str(page)]) == 1
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "R6" in text and "FAIL" in text
    assert "<script" not in text and "<link" not in text and " src=" not in text  # self-contained


def test_html_escapes_what_the_capture_says(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = _capture(tmp_path, session(), auth_user="<img src=x>")
    page = tmp_path / "r.html"
    assert main(["check", str(path), "--format", "html", "-o", str(page)]) == 1
    assert "<img" not in page.read_text() and "&lt;img src=x&gt;" in page.read_text()


@pytest.mark.parametrize("argv, words", [
    (["--profile", "nope"], "no profile 'nope'; known profiles: ev-energy, ocpp16-core"),
    (["--clock-tolerance", "nan"], "must be a finite number"),
    (["--format", "pdf"], "invalid choice"),
])
def test_bad_options_are_one_line(tmp_path: Path, capfd: pytest.CaptureFixture[str], argv: list[str], words: str) -> None:
    try:
        code = main(["check", str(_capture(tmp_path, session())), *argv])
    except SystemExit as exc:  # argparse's usage errors leave through SystemExit, as for every command
        code = exc.code
    err = capfd.readouterr().err
    assert code == 2 and err.count("\n") == 1 and words in err and "Traceback" not in err


def test_clock_tolerance_option_reaches_r2(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    import datetime as dt

    from workbench.testing import DEFAULT_START

    path = _capture(tmp_path, session(start=DEFAULT_START + dt.timedelta(seconds=5)))
    assert main(["check", str(path)]) == 0
    capfd.readouterr()
    assert main(["check", str(path), "--clock-tolerance", "2"]) == 1
    assert "R2" in capfd.readouterr().err


def test_profiles_command(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    out = capfd.readouterr().out
    assert out.startswith("ev-energy") and "ocpp16-core" in out
    assert main(["profiles", "ev-energy"]) == 0
    listing = capfd.readouterr().out
    assert "R7   TriggerMessage" in listing and "[TC_054_CSMS (Trigger Message)]" in listing
    assert main(["profiles", "--format", "json"]) == 0
    assert [p["name"] for p in json.loads(capfd.readouterr().out)] == ["ev-energy", "ocpp16-core"]
    assert main(["profiles", "missing"]) == 2
    assert capfd.readouterr().err.startswith("ocpp-workbench profiles: no profile 'missing'")


def test_charge_point_option_judges_one_of_several(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from workbench.testing import merge_records

    good = charger_records(CP, sorted(session(), key=lambda e: e[0]))
    plain = charger_records("CP2", sorted(session(), key=lambda e: e[0]), tls_version=None, cipher=None)
    path = write_capture(tmp_path / "two.ocpp.jsonl", merge_records(good, plain))
    assert main(["check", str(path)]) == 1  # CP2 came over plain ws
    assert capfd.readouterr().err == "ocpp-workbench check: failed R1\n"
    assert main(["check", str(path), "--charge-point", CP]) == 0
    capfd.readouterr()
    assert main(["check", str(path), "--charge-point", "CP9"]) == 2
    assert capfd.readouterr().err == "ocpp-workbench check: charge point 'CP9' is not in the capture; it holds CP1, CP2\n"
