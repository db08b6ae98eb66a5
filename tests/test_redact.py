"""Redaction: keyed pseudonyms that keep a capture schema-valid, analysable and replayable."""

from __future__ import annotations

import json
import re
import os
import stat
from pathlib import Path

import jsonschema
import ocpp.v16
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.analysis import load
from workbench.capture import CaptureWriter, read_capture
from workbench.capture import records as rec
from workbench.cli import main
from workbench.ocppj import MessageKind, parse_frame
from workbench.redact import redact_capture

SYNTH = Path(__file__).resolve().parents[1] / "captures" / "synth-small.ocpp.jsonl"
SCHEMAS = Path(ocpp.v16.__file__).parent / "schemas"

CP = "ACME-CP-000042"
SECRETS = {
    "charge point": CP, "idTag": "04A2B3C4D5E6F7", "parentIdTag": "FLEET-PARENT-9", "list idTag": "LOCALTAG77",
    "serial": "SN-ACME-2024-0042", "box serial": "BOX-SERIAL-77", "meter serial": "MTR-99887766",
    "iccid": "89490200001234567890", "imsi": "262011234567890", "basic auth user": "acme-basic-user",
    "url user": "diaguser", "url password": "diagpass123", "fw password": "fwpass456", "query token": "tok3n-xyz-987",
    "authorization key": "0123456789abcdef0123456789abcdef",
}


def _frames(t0: float) -> list[tuple[str, list]]:
    s = SECRETS
    return [
        ("charger_to_csms", [2, "1", "BootNotification", {
            "chargePointVendor": "Acme", "chargePointModel": "X1", "chargePointSerialNumber": s["serial"],
            "chargeBoxSerialNumber": s["box serial"], "meterSerialNumber": s["meter serial"],
            "iccid": s["iccid"], "imsi": s["imsi"]}]),
        ("csms_to_charger", [3, "1", {"status": "Accepted", "currentTime": "2024-05-01T10:00:00Z", "interval": 60}]),
        ("csms_to_charger", [2, "c1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": s["authorization key"]}]),
        ("charger_to_csms", [3, "c1", {"status": "Accepted"}]),
        ("csms_to_charger", [2, "c2", "SendLocalList", {"listVersion": 1, "updateType": "Full", "localAuthorizationList": [
            {"idTag": s["list idTag"], "idTagInfo": {"status": "Accepted", "parentIdTag": s["parentIdTag"]}}]}]),
        ("charger_to_csms", [3, "c2", {"status": "Accepted"}]),
        ("charger_to_csms", [2, "2", "Authorize", {"idTag": s["idTag"]}]),
        ("csms_to_charger", [3, "2", {"idTagInfo": {"status": "Accepted", "parentIdTag": s["parentIdTag"]}}]),
        ("charger_to_csms", [2, "3", "StartTransaction", {"connectorId": 1, "idTag": s["idTag"], "meterStart": 1000,
                                                          "timestamp": "2024-05-01T10:00:05Z"}]),
        ("csms_to_charger", [3, "3", {"idTagInfo": {"status": "Accepted"}, "transactionId": 42}]),
        ("charger_to_csms", [2, "4", "MeterValues", {"connectorId": 1, "transactionId": 42, "meterValue": [
            {"timestamp": "2024-05-01T10:01:05Z", "sampledValue": [{"value": "1500"}]}]}]),
        ("csms_to_charger", [3, "4", {}]),
        ("charger_to_csms", [2, "5", "DataTransfer", {"vendorId": "com.acme", "data": f"owner={s['idTag']};cp={CP}"}]),
        ("csms_to_charger", [3, "5", {"status": "Accepted"}]),
        ("csms_to_charger", [2, "c3", "GetDiagnostics", {
            "location": f"ftp://{s['url user']}:{s['url password']}@files.example/upload/"}]),
        ("charger_to_csms", [3, "c3", {"fileName": "diag.zip"}]),
        ("csms_to_charger", [2, "c4", "UpdateFirmware", {
            "location": f"https://fw:{s['fw password']}@updates.example/fw.bin?token={s['query token']}&v=2",
            "retrieveDate": "2024-05-02T00:00:00Z"}]),
        ("charger_to_csms", [3, "c4", {}]),
        ("charger_to_csms", [2, "6", "StopTransaction", {"transactionId": 42, "idTag": s["idTag"], "meterStop": 2500,
                                                         "timestamp": "2024-05-01T10:02:05Z", "reason": "Local"}]),
        ("csms_to_charger", [3, "6", {"idTagInfo": {"status": "Accepted"}}]),
        # Message ids built from identities, free text holding them, a URL path naming the charger.
        ("charger_to_csms", [2, f"{CP}-77", "Heartbeat", {}]),
        ("csms_to_charger", [3, f"{CP}-77", {"currentTime": "2024-05-01T10:03:00Z"}]),
        ("charger_to_csms", [2, f"{s['idTag']}-{s['serial']}", "StatusNotification", {
            "connectorId": 1, "errorCode": "OtherError", "status": "Faulted", "info": f"reader of {s['serial']}",
            "vendorErrorCode": s["meter serial"][:10]}]),
        ("csms_to_charger", [3, f"{s['idTag']}-{s['serial']}", {}]),
        ("csms_to_charger", [2, f"srv-{CP}", "TriggerMessage", {"requestedMessage": "Heartbeat"}]),
        ("charger_to_csms", [4, f"srv-{CP}", "NotSupported", f"{CP} does not trigger", {"cp": CP}]),
        ("csms_to_charger", [2, "c5", "GetDiagnostics", {
            "location": f"https://files.example/upload/{CP}/?station={CP}#{CP}"}]),
        ("charger_to_csms", [3, "c5", {"fileName": f"{CP}-diag.zip"}]),
    ]


def write_identifying_capture(path: Path) -> None:
    t0 = 1714557600.0
    with CaptureWriter(path, rec.header(tool="test", tool_version="0", upstream_url=f"wss://csms.example/ocpp/{CP}")) as w:
        w.write(rec.connection_open(ts=rec.format_ts(t0), connection_id="c1", charge_point_id=CP,
                                    url_path=f"/ocpp/{CP}", auth_scheme="Basic", auth_user=SECRETS["basic auth user"],
                                    auth_password_present=True))
        for index, (direction, message) in enumerate(_frames(t0)):
            w.write(rec.frame(ts=rec.format_ts(t0 + index), connection_id="c1", direction=direction,
                              content=json.dumps(message)))
        w.write(rec.frame(ts=rec.format_ts(t0 + 59), connection_id="c1", direction="charger_to_csms",
                          content=b"\x00" + CP.encode() + b"\xff", is_text=False))
        w.write(rec.connection_close(ts=rec.format_ts(t0 + 60), connection_id="c1", close_code=1000,
                                     close_reason=f"bye {CP}", closed_by="charger"))


def schema_errors(path: Path) -> list[str]:
    """Validate every request and reply against the ocpp package's 1.6 schemas (Draft 4)."""
    _, records, problems = read_capture(path)
    assert problems == []
    errors, pending = [], {}
    for record in records:
        if record["type"] != "frame" or record.get("binary"):
            continue
        parsed = parse_frame(record["text"])
        assert parsed.kind is not MessageKind.INVALID, parsed.parse_error
        if parsed.kind is MessageKind.CALL:
            pending[(record["connection_id"], parsed.unique_id)] = parsed.action
            name = parsed.action
        elif parsed.kind is MessageKind.CALLRESULT:
            name = pending.pop((record["connection_id"], parsed.unique_id), None)
            if name is None:
                continue
            name += "Response"
        else:
            continue
        schema = json.loads((SCHEMAS / f"{name}.json").read_text())
        errors += [f"{name}: {e.message}" for e in jsonschema.Draft4Validator(schema).iter_errors(parsed.payload)]
    return errors


@pytest.fixture
def key_file(tmp_path):
    return tmp_path / "keys" / "redact.key"


def test_no_identifier_is_left_and_output_is_schema_valid(tmp_path, key_file, capsys):
    source, out = tmp_path / "in.ocpp.jsonl", tmp_path / "out.ocpp.jsonl"
    write_identifying_capture(source)
    assert schema_errors(source) == []
    assert main(["redact", str(source), "-o", str(out), "--key-file", str(key_file)]) == 0
    text = out.read_text()
    for what, value in SECRETS.items():
        assert value not in text, f"{what} {value!r} left in the output"
    assert schema_errors(out) == []
    printed = capsys.readouterr().out
    for field in ("idTag", "chargePointSerialNumber", "iccid", "imsi", "meterSerialNumber", "AuthorizationKey",
                  "charge_point_id", "auth_user", "location (password)"):
        assert f"{field}:" in printed
    assert str(key_file.read_text().strip()) not in printed


def readable_text(path: Path) -> str:
    """A file's content as text to search: Parquet (compressed) as its table's CSV, the rest decoded."""
    if path.suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(path).to_csv(index=False)
    return path.read_bytes().decode("utf-8", "replace")


def test_no_identifier_is_left_anywhere_in_the_output_or_what_is_made_from_it(tmp_path, key_file):
    """Identities inside message ids, free text, URL paths, error descriptions and binary frames are
    replaced too: the whole redacted capture, every export format and every table written by
    ``analyze --out --csv`` are searched, not only known fields."""
    source, out = tmp_path / "in.ocpp.jsonl", tmp_path / "outputs" / "out.ocpp.jsonl"
    out.parent.mkdir()
    write_identifying_capture(source)
    assert main(["redact", str(source), "-o", str(out), "--key-file", str(key_file)]) == 0
    for fmt in ("ndjson", "open-ocpp-trace", "har"):
        assert main(["export", str(out), "--to", fmt, "-o", str(out.parent / f"out.{fmt}")]) == 0
    main(["analyze", str(out), "--out", str(out.parent / "tables"), "--csv"])
    written = sorted(p for p in out.parent.rglob("*") if p.is_file())
    names = {p.name for p in written}
    assert {"frames.csv", "calls.csv", "findings.csv", "out.har", "out.ndjson", "out.open-ocpp-trace"} <= names
    for path in written:
        text = readable_text(path)
        for what, value in SECRETS.items():
            assert value not in text, f"{what} {value!r} left in {path.name}"
    # The binary frame is scrubbed in its bytes, not only where it is text.
    _, records, _ = read_capture(out)
    binary = [rec.frame_bytes(r) for r in records if r.get("binary")]
    assert binary and CP.encode() not in binary[0] and binary[0].startswith(b"\x00cp-")


def test_message_ids_are_scrubbed_alike_in_request_and_reply(tmp_path, key_file):
    source, out = tmp_path / "in.ocpp.jsonl", tmp_path / "out.ocpp.jsonl"
    write_identifying_capture(source)
    long_id = f"{SECRETS['idTag']}-{SECRETS['serial']}"  # 32 characters: its scrubbed form would pass 36
    redact_capture(source, out, key_file)
    before, after = load(source), load(out)
    assert len(after.calls) == len(before.calls)
    assert after.calls["outcome"].tolist() == before.calls["outcome"].tolist()
    assert not set(after.findings["check"]) & {"unanswered_request", "reply_without_request"}
    ids = [json.loads(r["text"])[1] for r in read_capture(out)[1] if r["type"] == "frame" and not r.get("binary")]
    assert all(len(i) <= 36 for i in ids)
    cp = read_capture(out)[1][0]["charge_point_id"]
    assert ids.count(f"{cp}-77") == 2 and ids.count(f"srv-{cp}") == 2
    pseudonym = [i for i in ids if i.startswith("id-")]
    assert len(pseudonym) == 2 and len(pseudonym[0]) == 36 and long_id not in ids


def test_key_file_is_created_private_and_reused(tmp_path, key_file):
    source = tmp_path / "in.ocpp.jsonl"
    write_identifying_capture(source)
    redact_capture(source, tmp_path / "a.ocpp.jsonl", key_file)
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    key = key_file.read_bytes()
    redact_capture(source, tmp_path / "b.ocpp.jsonl", key_file)
    assert key_file.read_bytes() == key
    assert (tmp_path / "a.ocpp.jsonl").read_text() == (tmp_path / "b.ocpp.jsonl").read_text()  # deterministic
    redact_capture(source, tmp_path / "c.ocpp.jsonl", tmp_path / "other.key")
    a = read_capture(tmp_path / "a.ocpp.jsonl")[1][0]["charge_point_id"]
    c = read_capture(tmp_path / "c.ocpp.jsonl")[1][0]["charge_point_id"]
    assert a != c and a.startswith("cp-") and c.startswith("cp-")


def test_consistent_pseudonyms_and_kept_values(tmp_path, key_file):
    source, out = tmp_path / "in.ocpp.jsonl", tmp_path / "out.ocpp.jsonl"
    write_identifying_capture(source)
    redact_capture(source, out, key_file)
    header, records, _ = read_capture(out)
    opened = records[0]
    assert opened["url_path"] == f"/ocpp/{opened['charge_point_id']}"
    assert header["upstream_url"].endswith(opened["charge_point_id"])
    payloads = [json.loads(r["text"]) for r in records if r["type"] == "frame" and not r.get("binary")]
    calls = {p[2]: p[3] for p in payloads if p[0] == 2}
    tag = calls["Authorize"]["idTag"]
    assert tag == calls["StartTransaction"]["idTag"] == calls["StopTransaction"]["idTag"] and len(tag) <= 20
    assert tag in calls["DataTransfer"]["data"] and opened["charge_point_id"] in calls["DataTransfer"]["data"]
    assert calls["StartTransaction"]["meterStart"] == 1000 and calls["StopTransaction"]["meterStop"] == 2500
    assert calls["StopTransaction"]["transactionId"] == 42 and calls["MeterValues"]["transactionId"] == 42
    key = calls["ChangeConfiguration"]["value"]
    assert len(key) == len(SECRETS["authorization key"]) and int(key, 16) >= 0
    assert calls["UpdateFirmware"]["location"].startswith("https://") and "v=2" in calls["UpdateFirmware"]["location"]
    assert [r["ts"] for r in records] == [r["ts"] for r in read_capture(source)[1]]


def test_real_capture_keeps_sessions_and_energy(tmp_path, key_file):
    out = tmp_path / "synth.redacted.ocpp.jsonl"
    redact_capture(SYNTH, out, key_file)
    assert schema_errors(out) == []
    before, after = load(SYNTH), load(out)
    columns = ["connector_id", "transaction_id", "start_ts", "stop_ts", "meter_start_wh", "meter_stop_wh",
               "energy_wh", "energy_register_wh", "completeness"]
    tx_before, tx_after = before.transactions, after.transactions
    assert len(tx_before) > 0
    pd_equal = tx_before[columns].reset_index(drop=True).equals(tx_after[columns].reset_index(drop=True))
    assert pd_equal
    # Charge points map one to one, and none of the originals survive anywhere in the file.
    originals = sorted(before.connections["charge_point_id"].unique())
    assert len(set(after.connections["charge_point_id"])) == len(originals)
    text = out.read_text()
    tags = set(before.transactions["id_tag"].dropna())
    assert tags and not any(t in text for t in tags)
    assert not any(cp in text for cp in originals)


def test_same_input_and_output_is_refused(tmp_path, key_file):
    source = tmp_path / "in.ocpp.jsonl"
    write_identifying_capture(source)
    assert main(["redact", str(source), "-o", str(source), "--key-file", str(key_file)]) == 2


def test_time_shift_moves_every_time_by_one_constant(tmp_path, key_file):
    source, out = tmp_path / "in.ocpp.jsonl", tmp_path / "out.ocpp.jsonl"
    write_identifying_capture(source)
    shift = 86400 * 100 + 7
    assert main(["redact", str(source), "-o", str(out), "--key-file", str(key_file), "--shift-s", str(shift)]) == 0
    _, original, _ = read_capture(source)
    header, shifted, _ = read_capture(out)
    for before, after in zip(original, shifted):
        assert (rec.parse_ts(after["ts"]) - rec.parse_ts(before["ts"])).total_seconds() == shift
    payloads = {json.loads(r["text"])[2]: json.loads(r["text"])[3] for r in shifted
                if r["type"] == "frame" and not r.get("binary") and json.loads(r["text"])[0] == 2}
    assert payloads["StartTransaction"]["timestamp"] == "2024-08-09T10:00:12Z"
    assert payloads["StartTransaction"]["meterStart"] == 1000
    assert "2024-05-01" not in out.read_text() and schema_errors(out) == []
    assert str(shift) not in json.dumps(header)


def test_identifier_that_looks_like_a_json_key_does_not_break_payloads(tmp_path, key_file):
    source, out = tmp_path / "in.ocpp.jsonl", tmp_path / "out.ocpp.jsonl"
    with CaptureWriter(source, rec.header(tool="test", tool_version="0")) as w:
        w.write(rec.connection_open(ts=rec.format_ts(0), connection_id="c", charge_point_id="status",
                                    url_path="/ocpp/status"))
        w.write(rec.frame(ts=rec.format_ts(1), connection_id="c", direction="charger_to_csms",
                          content='[2,"1","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available"}]'))
        w.write(rec.frame(ts=rec.format_ts(2), connection_id="c", direction="csms_to_charger", content='[3,"1",{}]'))
    redact_capture(source, out, key_file)
    assert schema_errors(out) == []
    _, records, _ = read_capture(out)
    assert records[0]["charge_point_id"].startswith("cp-") and records[0]["url_path"].startswith("/ocpp/cp-")


@pytest.mark.parametrize("fixture", ["damaged.log", "flows.mitm", "steve.log", "charger_wrapped.log"])
def test_redacting_imported_logs_never_fails(tmp_path, key_file, fixture):
    from workbench.capture.importers import import_file

    result = import_file(Path(__file__).parent / "importers" / "fixtures" / fixture, charge_point_id="CP-FIXTURE")
    source, out = tmp_path / "in.ocpp.jsonl", tmp_path / "out.ocpp.jsonl"
    with CaptureWriter(source, result.header) as writer:
        for record in result.records:
            writer.write(record)
    redact_capture(source, out, key_file)
    text = out.read_text()
    for record in result.records:
        if record["type"] == "connection_open":
            assert record["charge_point_id"] not in text
    _, records, problems = read_capture(out)
    assert problems == [] and len(records) == len(result.records)

ID_TAGS = st.text(st.characters(codec="ascii", categories=("L", "N", "P")), min_size=1, max_size=20)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tags=st.lists(ID_TAGS, min_size=1, max_size=4, unique=True))
def test_any_id_tags_are_replaced_consistently_and_stay_valid(tmp_path, key_file, tags):
    source, out = tmp_path / "p.ocpp.jsonl", tmp_path / "p.out.ocpp.jsonl"
    with CaptureWriter(source, rec.header(tool="test", tool_version="0")) as w:
        w.write(rec.connection_open(ts=rec.format_ts(0), connection_id="c", charge_point_id="CP-PROP",
                                    url_path="/ocpp/CP-PROP"))
        for n, tag in enumerate(tags + tags):  # every tag twice: pseudonyms must agree
            w.write(rec.frame(ts=rec.format_ts(n), connection_id="c", direction="charger_to_csms",
                              content=json.dumps([2, str(n), "Authorize", {"idTag": tag}])))
            w.write(rec.frame(ts=rec.format_ts(n + 0.5), connection_id="c", direction="csms_to_charger",
                              content=json.dumps([3, str(n), {"idTagInfo": {"status": "Accepted"}}])))
    redact_capture(source, out, key_file)
    assert schema_errors(out) == []
    sent = [json.loads(r["text"])[3]["idTag"] for r in read_capture(out)[1]
            if r["type"] == "frame" and json.loads(r["text"])[0] == 2]
    assert sent[: len(tags)] == sent[len(tags):]
    assert len(set(sent)) == len(tags) and not set(sent) & set(tags)


def test_connection_ids_named_after_the_charger_are_scrubbed_consistently(tmp_path, key_file):
    source, out = tmp_path / "in.ocpp.jsonl", tmp_path / "out.ocpp.jsonl"
    with CaptureWriter(source, rec.header(tool="test", tool_version="0")) as w:
        w.write(rec.connection_open(ts=rec.format_ts(0), connection_id=f"{CP}#1", charge_point_id=CP,
                                    url_path=f"/{CP}"))
        w.write(rec.frame(ts=rec.format_ts(1), connection_id=f"{CP}#1", direction="charger_to_csms",
                          content='[2,"1","Heartbeat",{}]'))
        w.write(rec.connection_close(ts=rec.format_ts(2), connection_id=f"{CP}#1", close_code=1000))
    redact_capture(source, out, key_file)
    assert CP not in out.read_text()
    _, records, _ = read_capture(out)
    assert len({r["connection_id"] for r in records}) == 1


def test_key_creation_is_announced_on_stderr_once(tmp_path, key_file, capsys):
    source = tmp_path / "in.ocpp.jsonl"
    write_identifying_capture(source)
    assert main(["redact", str(source), "-o", str(tmp_path / "a.ocpp.jsonl"), "--key-file", str(key_file)]) == 0
    first = capsys.readouterr()
    assert f"created a new redaction key {key_file}" in first.err and "never send it" in first.err
    assert key_file.read_text().strip() not in first.err + first.out
    assert main(["redact", str(source), "-o", str(tmp_path / "b.ocpp.jsonl"), "--key-file", str(key_file)]) == 0
    assert "created" not in capsys.readouterr().err


def test_one_key_path_in_readme_docs_and_default(monkeypatch, tmp_path):
    from workbench.redact import default_key_file

    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_key_file() == tmp_path / ".config" / "ocpp-workbench" / "redact.key"
    root = Path(__file__).resolve().parents[1]
    for doc in ("README.md", "docs/redaction.md"):
        text = (root / doc).read_text()
        assert "~/.config/ocpp-workbench/redact.key" in text, doc
        named = set(re.findall(r"~/[\w./-]*\.key", text))
        assert named == {"~/.config/ocpp-workbench/redact.key"}, (doc, named)


def test_a_fleet_of_identifiers_is_scrubbed_from_ids_and_text_too(tmp_path, key_file):
    """Past 64 identifiers the substrings are found by their lengths (cost per text, not per
    identifier): the same result as searching for each."""
    source, out = tmp_path / "fleet.ocpp.jsonl", tmp_path / "fleet.out.ocpp.jsonl"
    originals = []
    with CaptureWriter(source, rec.header(tool="test", tool_version="0")) as w:
        for n in range(120):
            cp, tag = f"FLEET-CP-{n:04d}", f"FLEETTAG{n:05d}"
            originals += [cp, tag]
            w.write(rec.connection_open(ts=rec.format_ts(n), connection_id=f"c{n}", charge_point_id=cp,
                                        url_path=f"/ocpp/{cp}"))
            w.write(rec.frame(ts=rec.format_ts(n), connection_id=f"c{n}", direction="charger_to_csms",
                              content=json.dumps([2, f"{cp}-1", "Authorize", {"idTag": tag}])))
            w.write(rec.frame(ts=rec.format_ts(n + 0.5), connection_id=f"c{n}", direction="csms_to_charger",
                              content=json.dumps([3, f"{cp}-1", {"idTagInfo": {"status": "Accepted"}}])))
            w.write(rec.frame(ts=rec.format_ts(n + 0.6), connection_id=f"c{n}", direction="charger_to_csms",
                              content=json.dumps([2, f"s-{cp}", "StatusNotification", {
                                  "connectorId": 1, "errorCode": "NoError", "status": "Available",
                                  "info": f"{tag} seen at {cp}; next {originals[0]}"}])))
            w.write(rec.frame(ts=rec.format_ts(n + 0.7), connection_id=f"c{n}", direction="csms_to_charger",
                              content=json.dumps([3, f"s-{cp}", {}])))
    redact_capture(source, out, key_file)
    text = out.read_text()
    assert not [o for o in originals if o in text]
    after = load(out)
    assert len(after.calls) == 240 and set(after.calls["outcome"]) == set(load(source).calls["outcome"])
    assert not set(after.findings["check"]) & {"unanswered_request", "reply_without_request"}
