"""``ocpp-workbench import`` and ``load()`` of a foreign log: a capture plus a report, nothing silent."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from workbench.analysis import load
from workbench.capture import read_capture
from workbench.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


def test_cli_writes_a_capture_and_prints_the_report(tmp_path, capsys):
    out, report = tmp_path / "damaged.ocpp.jsonl", tmp_path / "report.csv"
    code = main(["import", str(FIXTURES / "damaged.log"), "-o", str(out), "--charge-point-id", "X",
                 "--report", str(report)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "7 lines read, 2 frames recovered, 4 frames kept damaged, 1 lines skipped" in printed
    assert "truncated frame (1)" in printed and "abbreviated preview (1)" in printed
    header, records, problems = read_capture(out)
    assert header["proxy_mode"] == "import:log" and problems == []
    assert sum(1 for r in records if r["type"] == "frame") == 6
    table = pd.read_csv(report)
    assert list(table["status"]).count("damaged") == 4


def test_cli_forced_format_tz_and_errors(tmp_path, capsys):
    out = tmp_path / "steve.ocpp.jsonl"
    assert main(["import", str(FIXTURES / "steve.log"), "-o", str(out), "--format", "log", "--tz", "+01:00"]) == 0
    _, records, _ = read_capture(out)
    assert next(r for r in records if r["type"] == "frame")["ts"] == "2024-05-01T09:00:00.140000Z"
    assert main(["import", str(FIXTURES / "steve.log"), "-o", str(out), "--tz", "Nowhere/City"]) == 2
    assert "unknown time zone" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "missing.log"), "-o", str(out)]) == 2


def test_load_reads_a_foreign_log_and_reports_its_problems_as_findings():
    cap = load(FIXTURES / "damaged.log")
    assert len(cap.frames) == 6
    assert cap.frames["parse_error"].notna().sum() == 4  # damaged frames are rows with their error
    findings = cap.findings
    imported = findings[findings["check"] == "import"]
    assert imported["message"].str.contains("not a frame|truncated|abbreviated", regex=True).any()
