"""``ocpp-workbench analyze`` end to end: text and JSON reports, --fail-on exit codes, Parquet/CSV tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from workbench.cli import main
from workbench.testing import call, clean_session_script, iso_at, make_capture, result


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    return make_capture(tmp_path / "clean.ocpp.jsonl", "CP1", clean_session_script(), close_at_s=4000)


@pytest.fixture
def faulty(tmp_path: Path) -> Path:
    script = clean_session_script() + [
        (2200, "up", call("late", "Heartbeat", {})),
        (2215, "down", result("late", {"currentTime": iso_at(2215)})),   # slow: a warning
        (2220, "up", '[2,"broken","Heartbeat"'),                          # invalid: an error
    ]
    return make_capture(tmp_path / "faulty.ocpp.jsonl", "CP2", script, close_at_s=4000)


def test_text_report_of_a_clean_capture(clean: Path, capsys) -> None:
    assert main(["analyze", str(clean), "--fail-on", "warning"]) == 0
    out = capsys.readouterr().out
    assert "82 frames, 1 connections, 1 charge points" in out
    assert "Sessions (1)" in out and "3.600 / 3.600 / 3.600  complete" in out
    assert "Findings: 0 error, 0 warning, 0 info" in out


def test_fail_on_levels(faulty: Path, capsys) -> None:
    assert main(["analyze", str(faulty)]) == 0
    assert main(["analyze", str(faulty), "--fail-on", "error"]) == 1
    assert main(["analyze", str(faulty), "--fail-on", "warning"]) == 1
    assert main(["analyze", str(faulty), "--fail-on", "error", "--slow-reply", "20"]) == 1
    out = capsys.readouterr().out
    assert "Worst findings:" in out and "invalid_frame" in out and "slow_reply" in out


def test_fail_on_warning_only(tmp_path: Path, capsys) -> None:
    slow = make_capture(tmp_path / "slow.ocpp.jsonl", "CP3", clean_session_script() + [
        (2200, "up", call("late", "Heartbeat", {})), (2215, "down", result("late", {"currentTime": iso_at(2215)}))],
        close_at_s=4000)
    assert main(["analyze", str(slow), "--fail-on", "error"]) == 0
    assert main(["analyze", str(slow), "--fail-on", "warning"]) == 1
    assert main(["analyze", str(slow), "--fail-on", "warning", "--slow-reply", "20"]) == 0


def test_json_report(clean: Path, faulty: Path, capsys) -> None:
    assert main(["analyze", str(clean), str(faulty), "--format", "json", "--worst", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["charge_points"] == 2
    assert [s["charge_point_id"] for s in report["sessions"]] == ["CP1", "CP2"]
    assert report["sessions"][0]["energy_kwh"] == 3.6
    assert report["findings_by_severity"]["error"] >= 1
    assert report["findings_by_check"]["invalid_frame"] == 1
    assert len(report["worst_findings"]) == 1 and report["worst_findings"][0]["severity"] == "error"
    assert report["worst_findings"][0]["frame_seqs"] == [166]  # seq runs on across the two files


def test_tables_written_as_parquet_and_csv_and_read_back(faulty: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "tables"
    assert main(["analyze", str(faulty), "--out", str(out), "--csv", "--progress", "never"]) == 0
    for name in ["frames", "calls", "connections", "meter_values", "status", "transactions", "findings"]:
        assert (out / f"{name}.parquet").exists() and (out / f"{name}.csv").exists()
    frames = pd.read_parquet(out / "frames.parquet")
    assert len(frames) == 85
    assert json.loads(frames.loc[0, "payload"])["chargePointVendor"] == "Workbench"
    assert str(frames["ts"].dtype) == "datetime64[us, UTC]"
    findings = pd.read_parquet(out / "findings.parquet")
    assert json.loads(findings.loc[findings["check"] == "invalid_frame", "frame_seqs"].iloc[0]) == [84]
    csv_calls = pd.read_csv(out / "calls.csv")
    assert len(csv_calls) == len(pd.read_parquet(out / "calls.parquet"))


def test_progress_on_request_goes_to_stderr(clean: Path, capsys) -> None:
    assert main(["analyze", str(clean), "--progress", "always"]) == 0
    captured = capsys.readouterr()
    assert "loading: 100%" in captured.err and "running checks" in captured.err
    assert "loading" not in captured.out


def test_bad_inputs_give_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["analyze", str(tmp_path / "nope.ocpp.jsonl")]) == 2
    newer = tmp_path / "newer.ocpp.jsonl"
    newer.write_text('{"type":"header","format_version":99}\n')
    assert main(["analyze", str(newer)]) == 2
    err = capsys.readouterr().err
    assert "no such capture file" in err and "newer" in err and "Traceback" not in err


def test_garbage_file_is_exit_2_alone_and_a_finding_beside_a_capture(tmp_path: Path, clean: Path, capsys) -> None:
    junk = tmp_path / "junk.txt"
    junk.write_bytes(b"\x00\x01 not a log\n")
    assert main(["analyze", str(junk), "--format", "json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "no OCPP frame in" in captured.err
    assert main(["analyze", str(clean), str(junk), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["frames"] == 82
    assert report["findings_by_check"].get("import", 0) >= 1


def test_console_entry_point_runs(clean: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "workbench", "analyze", str(clean), "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["frames"] == 82


def test_lone_surrogates_survive_every_output(tmp_path: Path, capsys) -> None:
    script = clean_session_script() + [(2200, "up", '[2,"\\ud800","Heartbeat",{"x":"\\udcff"}]'),
                                       (2201, "down", '[4,"\\ud800","Weird\\udc00","",{}]')]
    path = make_capture(tmp_path / "s.ocpp.jsonl", "CP1", script, close_at_s=4000)
    out = tmp_path / "tables"
    assert main(["analyze", str(path), "--out", str(out), "--csv", "--fail-on", "error"]) == 1
    text = capsys.readouterr().out
    assert "callerror_code" in text and "Weird\\udc00" in text
    frames = pd.read_parquet(out / "frames.parquet")
    assert frames["raw"].iloc[82] == '[2,"\\ud800","Heartbeat",{"x":"\\udcff"}]'  # exact wire text
    # The payload spells the lone surrogate as an escape, as every str column does (raw keeps it exact).
    assert json.loads(frames["payload"].iloc[82]) == {"x": "\\udcff"}
    assert len(frames) == 84 and len(pd.read_csv(out / "frames.csv")) == 84
    assert main(["analyze", str(path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["findings_by_check"]["callerror_code"] == 1


def test_json_report_is_strict_json_on_third_party_captures(tmp_path: Path, capsys) -> None:
    # Django-style URL (old addon: no charge_point_id) and a session with no register samples: before,
    # the report held bare NaN tokens that JSON.parse and jq reject.
    from workbench.capture.reader import read_capture
    from workbench.testing import write_capture
    from test_jsonout import strict_loads

    source = make_capture(tmp_path / "django.ocpp.jsonl", "CP1", clean_session_script(), close_at_s=4000)
    _, records, _ = read_capture(source)
    records[0].update(charge_point_id=None, url_path="/ws/ocpp/CP1/")
    capture = write_capture(tmp_path / "slash.ocpp.jsonl", records)
    assert main(["analyze", str(capture), "--format", "json"]) == 0
    report = strict_loads(capsys.readouterr().out)
    assert [s["charge_point_id"] for s in report["sessions"]] == ["CP1"]
    out = tmp_path / "tables"
    assert main(["analyze", str(capture), "--out", str(out), "--csv"]) == 0
    capsys.readouterr()
    findings = pd.read_csv(out / "findings.csv")
    for cell in findings["frame_seqs"].dropna():
        strict_loads(cell)


def test_report_json_writes_null_for_missing_values() -> None:
    from test_jsonout import strict_loads
    from workbench import jsonout

    report = {"sessions": [{"charge_point_id": float("nan"), "energy_kwh": float("inf")}]}
    assert strict_loads(jsonout.dumps(report, indent=2)) == {"sessions": [{"charge_point_id": None,
                                                                            "energy_kwh": None}]}


def test_summary_end_counts_rejected_upgrades_after_the_last_frame(tmp_path: Path) -> None:
    from workbench.analysis import Capture
    from workbench.capture import records as rec
    from workbench.testing import charger_records, ts_at

    records = charger_records("CP1", clean_session_script(), close_at_s=4000)
    rejected = rec.upgrade_rejected(ts=ts_at(5000), connection_id="late", charge_point_id="CP1",
                                    url_path="/ocpp/CP1", status_code=401, reason="Unauthorized")
    summary = Capture.from_records(records + [rejected]).summary()
    assert summary["end"] == pd.Timestamp(ts_at(5000))
