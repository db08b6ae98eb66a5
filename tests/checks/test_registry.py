"""The check registry: registration, the findings table, and crash containment."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.analysis import Capture
from workbench.checks import registry
from workbench.checks.registry import (CHECKS, FINDING_COLUMNS, CheckConfig, Finding, check, findings_frame,
                                       run_checks)
from workbench.testing import call, charger_records, clean_session_script


@pytest.fixture
def scratch_checks():
    """Register throwaway checks and remove them afterwards."""
    before = dict(CHECKS)
    yield
    CHECKS.clear()
    CHECKS.update(before)


def _capture() -> Capture:
    return Capture.from_records(charger_records("CP1", clean_session_script()))


def test_every_check_module_registers_and_documents_its_checks() -> None:
    import workbench.checks  # noqa: F401

    for name in ["capture_read", "import", "schema", "callerror_code", "unanswered_request", "invalid_frame"]:
        assert name in CHECKS
    for info in CHECKS.values():
        assert info.clause, info.name
        assert info.description, info.name


def test_findings_table_columns_order_and_types() -> None:
    table = findings_frame([
        Finding("b", "warning", pd.Timestamp("2025-01-01T00:00:02Z"), "CP1", 1, 7, "later", (3, 4)),
        Finding("a", "error", None, None, None, None, "no time"),
        Finding("a", "info", "2025-01-01T00:00:01", "CP1", None, None, "naive means UTC", [2]),
    ])
    assert list(table.columns) == list(FINDING_COLUMNS)
    for name, (dtype, _unit, _meaning) in FINDING_COLUMNS.items():
        assert str(table[name].dtype) == dtype, name
    assert table["message"].tolist() == ["naive means UTC", "later", "no time"]
    assert table.loc[1, "frame_seqs"] == [3, 4] and table.loc[1, "transaction_id"] == 7
    assert pd.isna(table.loc[2, "ts"])
    assert findings_frame([]).columns.tolist() == list(FINDING_COLUMNS)


def test_a_crashing_check_becomes_one_error_finding(scratch_checks) -> None:
    @check("test_crasher", clause="none")
    def crasher(cap, config):
        """Always crashes."""
        raise KeyError("no such column")

    @check("test_wrong_type", clause="none")
    def wrong_type(cap, config):
        """Yields something that is not a Finding."""
        yield "oops"

    @check("test_fine", clause="none")
    def fine(cap, config):
        """Finds one thing."""
        yield Finding("test_fine", "info", None, "CP1", None, None, "hello")

    table = run_checks(_capture(), names=["test_crasher", "test_wrong_type", "test_fine"])
    by_check = table.set_index("check")
    assert "check test_crasher crashed: KeyError" in by_check.loc["test_crasher", "message"]
    assert by_check.loc["test_crasher", "severity"] == "error"
    assert "not Findings" in by_check.loc["test_wrong_type", "message"]
    assert by_check.loc["test_fine", "message"] == "hello"


def test_names_select_checks_and_unknown_names_are_misuse() -> None:
    table = run_checks(_capture(), names=[])
    assert table.empty
    with pytest.raises(ValueError, match="unknown check"):
        run_checks(_capture(), names=["no_such_check"])


def test_registering_a_taken_name_from_elsewhere_is_refused(scratch_checks) -> None:
    @check("test_taken", clause="x")
    def first(cap, config):
        """One."""
        return []

    def second(cap, config):
        """Two."""
        return []

    with pytest.raises(ValueError, match="already registered"):
        check("test_taken", clause="x")(second)
    assert CHECKS["test_taken"].fn is first


def test_config_thresholds_reach_the_checks() -> None:
    script = [(0, "up", call("1", "Heartbeat", {})), (5, "down", [3, "1", {"currentTime": "2025-01-06T08:00:05Z"}])]
    cap = Capture.from_records(charger_records("CP1", script))
    assert run_checks(cap, CheckConfig(slow_reply_s=4.0), names=["slow_reply"])["check"].tolist() == ["slow_reply"]
    assert run_checks(cap, CheckConfig(slow_reply_s=6.0), names=["slow_reply"]).empty
    assert registry.SEVERITIES == ("error", "warning", "info")


def test_a_check_crashing_on_one_charge_point_keeps_the_findings_of_the_others(scratch_checks) -> None:
    from workbench.checks.registry import crashed
    from workbench.testing import charger_records, clean_session_script, merge_records

    @check("test_picky", clause="none")
    def picky(cap, config):
        """Crashes on CP2's frames, finds one thing per other charge point."""
        for cp in sorted(cap.frames["charge_point_id"].dropna().unique()):
            if cp == "CP2":
                raise ZeroDivisionError("CP2 is odd")
            yield Finding("test_picky", "info", None, cp, None, None, f"seen {cp}")

    cap = Capture.from_records(merge_records(*[charger_records(cp, clean_session_script()) for cp in
                                               ("CP1", "CP2", "CP3")]))
    table = run_checks(cap, names=["test_picky"])
    assert table["charge_point_id"].tolist() == ["CP1", "CP2", "CP3"]
    assert table["message"].tolist()[::2] == ["seen CP1", "seen CP3"]
    crash = table.iloc[1]
    assert crash["severity"] == "error"
    assert crash["message"].startswith("check test_picky crashed on CP2: ZeroDivisionError: CP2 is odd")
    assert crashed(table).tolist() == [False, True, False]
