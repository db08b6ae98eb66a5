"""One hostile frame never takes down a table or a check (issue 10, section 1).

A frame that cannot be decoded within limits is a frame row with its error; a value that cannot be
represented is a finding, never an exception; a check that crashes is a finding and a non-zero exit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import workbench
from workbench import jsonfast
from workbench.analysis import Capture
from workbench.capture.importers import import_file
from workbench.capture.importers.jsonscan import decode_prefix
from workbench.cli import main
from workbench.ocppj import MessageKind, parse_frame
from workbench.redact import redact_capture
from workbench.schemas import schema_validator
from workbench.testing import call, charger_records, clean_session_script, iso_at, make_capture, result


def nested_objects(levels: int) -> str:
    """A Heartbeat CALL whose payload nests ``levels`` objects (the frame is ``levels + 1`` deep)."""
    return '[2,"deep","Heartbeat",' + '{"a":' * (levels - 1) + "{}" + "}" * (levels - 1) + "]"


def nested_arrays(levels: int) -> str:
    return '[2,"deeper","DataTransfer",{"vendorId":"V","data":' + "[" * levels + "]" * levels + "}]"


def charging_profile(levels: int) -> list:
    """A SetChargingProfile (its schema uses multipleOf, so floats go through schemas._decimals)."""
    inner: object = 1.5
    for _ in range(levels):
        inner = {"x": inner}
    return call("scp", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": inner})


def test_json_nested_beyond_the_limit_is_refused_as_a_value_error() -> None:
    at_limit = "[" * jsonfast.MAX_DEPTH + "]" * jsonfast.MAX_DEPTH
    assert jsonfast.depth(jsonfast.loads(at_limit)) == jsonfast.MAX_DEPTH
    for levels in (jsonfast.MAX_DEPTH + 1, 900, 5000):  # orjson reads up to 1024 levels; json.loads fewer
        text = "[" * levels + "]" * levels
        with pytest.raises(jsonfast.TooDeep):
            jsonfast.loads(text)
        with pytest.raises(ValueError):
            jsonfast.std_loads(text.encode())
    # Brackets inside strings do not count.
    assert jsonfast.loads(json.dumps(["[" * 5000])) == ["[" * 5000]


@pytest.mark.parametrize("text", [nested_objects(3000), nested_arrays(3000), nested_objects(500),
                                  '{"a":' * 100_000])
def test_parse_frame_turns_deep_nesting_into_an_invalid_frame(text: str) -> None:
    parsed = parse_frame(text)
    assert parsed.kind is MessageKind.INVALID
    assert parsed.parse_error is not None


def test_a_deep_frame_is_an_invalid_row_and_every_table_and_check_still_runs() -> None:
    script = clean_session_script() + [(5000, "up", nested_objects(3000)), (5001, "up", nested_arrays(600)),
                                       (5002, "down", charging_profile(600)),
                                       (5003, "up", nested_objects(jsonfast.MAX_DEPTH - 1))]
    cap = Capture.from_records(charger_records("CP1", script))
    tables = cap.tables()
    frames = tables["frames"]
    deep = frames[frames["parse_error"].fillna("").str.contains("nested deeper")]
    assert len(deep) == 3 and set(deep["message_type"]) == {"invalid"}
    assert frames.iloc[-1]["message_type"] == "CALL"  # just within the limit: read as usual
    assert len(tables["transactions"]) == 1
    findings = tables["findings"]
    assert not findings["message"].str.contains("crashed").any()
    assert (findings["check"] == "invalid_frame").sum() == 3


def test_schema_validation_of_a_payload_too_deep_for_python_is_an_error_not_a_crash() -> None:
    validator = schema_validator("SetChargingProfile", False)
    assert validator is not None and validator.uses_decimal
    payload = charging_profile(5000)[3]
    assert validator.slow_errors(payload) == ["payload cannot be validated: RecursionError"]


def test_decode_prefix_of_a_deep_text_gives_none_for_the_slow_path() -> None:
    assert decode_prefix(nested_objects(5000)) is None
    assert decode_prefix('[3,"x",{}] trailing') == ([3, "x", {}], 10)


def test_import_keeps_a_deep_frame_damaged_and_the_others(tmp_path: Path) -> None:
    log = tmp_path / "deep.log"
    log.write_text(f'2025-01-06T08:00:00Z CP1 send [2,"h1","Heartbeat",{{}}]\n'
                   f"2025-01-06T08:00:01Z CP1 send {nested_objects(3000)}\n", encoding="utf-8")
    imported = import_file(log)
    texts = [r["text"] for r in imported.records if r.get("type") == "frame"]
    assert texts == ['[2,"h1","Heartbeat",{}]', nested_objects(3000)]


def test_redact_passes_a_deep_frame_through_scrubbed(tmp_path: Path) -> None:
    source = make_capture(tmp_path / "in.ocpp.jsonl", "CP1",
                          clean_session_script() + [(5000, "up", nested_objects(3000))])
    out = tmp_path / "out.ocpp.jsonl"
    redact_capture(source, out, tmp_path / "key", shift_s=60)
    frames = workbench.load(out).frames
    assert frames.iloc[-1]["raw"] == nested_objects(3000)


def test_analyze_writes_every_table_for_a_capture_with_a_deep_frame(tmp_path: Path, capsys) -> None:
    path = make_capture(tmp_path / "deep.ocpp.jsonl", "CP1",
                        clean_session_script() + [(5000, "up", nested_objects(3000))])
    assert main(["analyze", str(path), "--out", str(tmp_path / "out")]) == 0
    assert "Sessions (1)" in capsys.readouterr().out
    written = sorted(p.name for p in (tmp_path / "out").glob("*.parquet"))
    assert written == sorted(f"{name}.parquet" for name in Capture.TABLES)
    assert len(pd.read_parquet(tmp_path / "out" / "frames.parquet")) == 83


# --- lone surrogates --------------------------------------------------------------------------

def surrogate_meter_values(t_s: float) -> str:
    """A MeterValues CALL whose measurand (and other fields) are lone surrogate escapes, as sent."""
    return ('[2,"sur","MeterValues",{"connectorId":1,"transactionId":1,"meterValue":[{"timestamp":"%s",'
            '"sampledValue":[{"value":"5","measurand":"\\udc80"},{"value":"\\ud800","unit":"W\\udc81",'
            '"context":"\\udfff","phase":"\\udc82","location":"\\udc83","format":"\\udc84"}]}]}]') % iso_at(t_s)


def surrogate_session_script() -> list:
    """The clean session with a lone surrogate in every string of every CALL payload but timestamps."""
    def poison(value: object, key: str | None = None) -> object:
        if isinstance(value, str):
            return value if key == "timestamp" else value + "\udc80"
        if isinstance(value, list):
            return [poison(item) for item in value]
        if isinstance(value, dict):
            return {k: poison(v, k) for k, v in value.items()}
        return value

    script = []
    for t_s, direction, message in clean_session_script():
        if isinstance(message, list) and message[0] == 2:
            message = json.dumps([*message[:3], poison(message[3])])  # ensure_ascii: "\udc80" escapes
        script.append((t_s, direction, message))
    return script


def test_a_lone_surrogate_in_a_measurand_leaves_meter_values_and_transactions_whole() -> None:
    script = clean_session_script() + [(100.5, "up", surrogate_meter_values(100))]
    cap = Capture.from_records(charger_records("CP1", script))
    tables = cap.tables()
    frames, meter_values = tables["frames"], tables["meter_values"]
    assert frames.iloc[-1]["raw"] == surrogate_meter_values(100)  # as sent, escapes and all
    odd = meter_values[meter_values["seq"] == frames.iloc[-1]["seq"]]
    assert odd["measurand"].astype(str).tolist() == ["\\udc80", "Energy.Active.Import.Register"]
    assert odd["unit"].astype(str).tolist()[1] == "W\\udc81"
    assert len(tables["transactions"]) == 1
    assert not tables["findings"]["message"].str.contains("crashed").any()


def test_surrogates_in_every_field_never_crash_a_table_or_check() -> None:
    cap = Capture.from_records(charger_records("CP1", surrogate_session_script()))
    tables = cap.tables()
    assert len(tables["meter_values"]) > 0 and len(tables["transactions"]) == 1
    assert not tables["findings"]["message"].str.contains("crashed").any()


def test_analyze_of_a_capture_with_surrogates_reports_its_session_and_writes_every_table(
        tmp_path: Path, capsys) -> None:
    path = make_capture(tmp_path / "sur.ocpp.jsonl", "CP1",
                        clean_session_script() + [(100.5, "up", surrogate_meter_values(100))])
    assert main(["analyze", str(path), "--out", str(tmp_path / "out"), "--csv"]) == 0
    out = capsys.readouterr().out
    assert "Sessions (1)" in out and "crashed" not in out
    written = sorted(p.name for p in (tmp_path / "out").glob("*.parquet"))
    assert written == sorted(f"{name}.parquet" for name in Capture.TABLES)
    frames = pd.read_parquet(tmp_path / "out" / "frames.parquet")
    assert frames["raw"].iloc[-1] == surrogate_meter_values(100)


# --- integers beyond 64 bits ---------------------------------------------------------------------

def test_findings_with_ids_beyond_64_bits_keep_the_finding_and_quote_the_id() -> None:
    from workbench.checks.registry import Finding, findings_frame

    table = findings_frame([Finding("x", "error", None, "CP1", 2**70, -(2**64), "bad", (3,)),
                            Finding("x", "info", None, "CP1", 2, 7, "fine", (4,))])
    assert len(table) == 2
    bad = table[table["message"].str.startswith("bad")].iloc[0]
    assert pd.isna(bad["connector_id"]) and pd.isna(bad["transaction_id"])
    assert str(2**70) in bad["message"] and str(-(2**64)) in bad["message"]
    assert table[table["message"] == "fine"]["connector_id"].tolist() == [2]


@pytest.mark.parametrize("big", [2**53 + 1, 2**62, 2**63 - 1, 2**63, 2**64 + 1, 10**30])
def test_ids_too_big_for_the_tables_never_crash_a_table_or_the_findings(big: int) -> None:
    start = {"connectorId": big, "idTag": "T", "meterStart": big, "timestamp": iso_at(10)}
    mv = {"connectorId": big, "transactionId": big,
          "meterValue": [{"timestamp": iso_at(20), "sampledValue": [{"value": str(big)}]}]}
    script = clean_session_script() + [
        (10, "up", call("s", "StartTransaction", start)),
        (10.1, "down", result("s", {"transactionId": big, "idTagInfo": {"status": "Accepted"}})),
        (20, "up", call("m", "MeterValues", mv)),
        (30, "up", call("x", "StopTransaction", {"transactionId": big, "meterStop": big, "timestamp": iso_at(30)})),
        # A session whose start the capture missed takes its connector from its MeterValues.
        (40, "up", call("m2", "MeterValues", {**mv, "transactionId": 99})),
        (50, "up", call("y", "StopTransaction", {"transactionId": 99, "meterStop": 5, "timestamp": iso_at(50)})),
        (31, "up", f'[2,"n","StatusNotification",{{"connectorId":{big},"errorCode":"NoError","status":"Charging",'
                   f'"timestamp":"{iso_at(31)}","info":NaN}}]'),
    ]
    tables = Capture.from_records(charger_records("CP1", script)).tables()
    assert len(tables["transactions"]) >= 2
    findings = tables["findings"]
    assert not findings["message"].str.contains("crashed").any()
    # A value the tables cannot hold is a finding: this check's, or the schema's when orjson made it a float.
    beyond = findings[findings["check"] == "integer_out_of_range"]["message"].tolist()
    assert f"StatusNotification connectorId {big} is beyond 2^53" in " ".join(beyond)  # json.loads path (NaN)
    if big < 2**64:
        assert f"StartTransaction connectorId {big} is beyond 2^53" in " ".join(beyond)
    else:
        assert findings[findings["check"] == "schema"]["message"].str.contains("connectorId").any()


# --- an analysis that is incomplete says so -------------------------------------------------------

@pytest.fixture
def two_chargers(tmp_path: Path) -> Path:
    from workbench.testing import merge_records, write_capture

    return write_capture(tmp_path / "two.ocpp.jsonl", merge_records(
        charger_records("CP1", clean_session_script()), charger_records("CP2", clean_session_script())))


@pytest.fixture
def crashing_on_cp2():
    """A registered check that crashes on CP2's rows and finds one thing on every other charge point."""
    from workbench.checks.registry import CHECKS, check

    before = dict(CHECKS)

    @check("test_crashes_on_cp2", clause="none")
    def crashes_on_cp2(cap, config):
        """Crashes on CP2."""
        from workbench.checks.registry import Finding

        for cp in sorted(cap.frames["charge_point_id"].dropna().unique()):
            if cp == "CP2":
                raise RuntimeError("cannot judge CP2")
            yield Finding("test_crashes_on_cp2", "info", None, cp, None, None, f"judged {cp}")

    yield
    CHECKS.clear()
    CHECKS.update(before)


def test_a_check_crashing_on_one_charge_point_is_a_finding_and_exit_3(
        two_chargers: Path, crashing_on_cp2, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["analyze", str(two_chargers), "--out", str(out)]) == 4
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        "ocpp-workbench analyze: analysis incomplete: 1 check(s) crashed (test_crashes_on_cp2) (see the error findings)"]
    assert "Traceback" not in captured.out + captured.err
    assert main(["analyze", str(two_chargers), "--format", "json"]) == 4
    assert json.loads(capsys.readouterr().out)["incomplete"] == "1 check(s) crashed (test_crashes_on_cp2)"
    findings = pd.read_parquet(out / "findings.parquet")
    mine = findings[findings["check"] == "test_crashes_on_cp2"]
    assert mine["charge_point_id"].tolist() == ["CP1", "CP2"]
    assert mine["message"].tolist()[0] == "judged CP1"
    assert mine["message"].tolist()[1].startswith("check test_crashes_on_cp2 crashed on CP2: RuntimeError")
    assert sorted(p.name for p in out.glob("*.parquet")) == sorted(f"{n}.parquet" for n in Capture.TABLES)


def test_a_table_that_cannot_be_built_or_written_is_a_finding_and_exit_3(
        two_chargers: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    import workbench.commands.analyze as analyze
    import workbench.tables.status as status

    def broken_status(frames):
        raise ValueError("status cannot be built")

    real_ready = analyze.parquet_ready

    def ready_but_not_calls(table):
        if "request_seq" in table.columns:
            raise TypeError("calls cannot be converted")
        return real_ready(table)

    monkeypatch.setattr(status, "build_status", broken_status)
    monkeypatch.setattr(analyze, "parquet_ready", ready_but_not_calls)
    out = tmp_path / "out"
    assert main(["analyze", str(two_chargers), "--out", str(out), "--fail-on", "warning"]) == 4
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1  # status and the transactions built from it; the checks that read them
    assert "analysis incomplete: 2 table(s) not built; 1 table(s) not written; " in err and "check(s) crashed" in err
    written = sorted(p.name for p in out.glob("*.parquet"))
    assert "status.parquet" not in written and "calls.parquet" not in written and "frames.parquet" in written
    findings = pd.read_parquet(out / "findings.parquet")
    assert {"table_build", "table_write"} <= set(findings["check"])
    assert findings[findings["check"] == "table_write"]["message"].iloc[0] == (
        "table calls could not be written: TypeError: calls cannot be converted")


def test_a_complete_analysis_still_exits_0(two_chargers: Path, capsys) -> None:
    assert main(["analyze", str(two_chargers)]) == 0
    assert capsys.readouterr().err == ""
    assert main(["analyze", str(two_chargers), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["incomplete"] is None


def test_import_of_a_cut_deep_frame_and_deep_array_elements_never_raise(tmp_path: Path) -> None:
    from workbench.capture.importers.jsonscan import slice_values

    log = tmp_path / "cut.log"
    log.write_text('2025-01-06T08:00:00Z CP1 send [2,"x","Heartbeat",' + "[" * 5000 + "...\n", encoding="utf-8")
    imported = import_file(log)  # raised RecursionError while judging the cut text
    frames = [r for r in imported.records if r.get("type") == "frame"]
    assert len(frames) == 1 and frames[0]["text"].startswith('[2,"x","Heartbeat",[[[')
    text = '[3,"x",' + "[" * 5000 + "]" * 5000 + "]"
    assert slice_values(text) == [(1, 2), (3, 6)]  # the elements before the one nested too deep
