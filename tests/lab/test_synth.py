"""The synthetic generator on its own: valid capture records, valid OCPP, consistent truth, faults.

These tests read the generated capture back with the real reader, parse every frame with the
real OCPP-J parser and validate every payload against the ``ocpp`` package's 1.6 JSON schemas.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections import Counter, defaultdict

import pytest
from ocpp.messages import get_validator

from workbench.capture import CaptureWriter, read_capture
from workbench.capture.records import parse_ts
from workbench.cli import main
from workbench.lab import read_truth, synth
from workbench.ocppj import MessageKind, parse_frame

SECOND = dt.timedelta(seconds=1)

# [SPEC] §4.9 transition table (from -> allowed to), connectors > 0; 53 transitions.
ALLOWED = {
    "Available": {"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Reserved", "Unavailable", "Faulted"},
    "Preparing": {"Available", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Faulted"},
    "Charging": {"Available", "SuspendedEV", "SuspendedEVSE", "Finishing", "Unavailable", "Faulted"},
    "SuspendedEV": {"Available", "Charging", "SuspendedEVSE", "Finishing", "Unavailable", "Faulted"},
    "SuspendedEVSE": {"Available", "Charging", "SuspendedEV", "Finishing", "Unavailable", "Faulted"},
    "Finishing": {"Available", "Preparing", "Unavailable", "Faulted"},
    "Reserved": {"Available", "Preparing", "Unavailable", "Faulted"},
    "Unavailable": {"Available", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Faulted"},
    "Faulted": {"Available", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing",
                "Reserved", "Unavailable"},
}


class Parsed:
    """A generated capture read back and decoded once, indexed the ways the tests need."""

    def __init__(self, path):
        self.header, self.records, self.problems = read_capture(path)
        self.truth = read_truth(synth.truth_path(path))
        self.cp_of = {}
        self.frames = []  # (record, parsed, charge_point_id)
        for record in self.records:
            if record["type"] == "connection_open":
                self.cp_of[record["connection_id"]] = record["charge_point_id"]
            elif record["type"] == "frame":
                self.frames.append((record, parse_frame(record["text"]), self.cp_of[record["connection_id"]]))
        self.pairs = {}  # (connection, request direction, unique id) -> [request, call, reply]
        self.orphan_replies = []
        for record, parsed, _cp in self.frames:
            key_dir = record["direction"]
            if parsed.kind is MessageKind.CALL:
                self.pairs.setdefault((record["connection_id"], key_dir, parsed.unique_id), [record, parsed, None])
            elif parsed.kind in (MessageKind.CALLRESULT, MessageKind.CALLERROR):
                request_dir = "csms_to_charger" if key_dir == "charger_to_csms" else "charger_to_csms"
                pair = self.pairs.get((record["connection_id"], request_dir, parsed.unique_id))
                if pair is None:
                    self.orphan_replies.append((record, parsed))
                else:
                    pair[2] = (record, parsed)

    def calls(self, action):
        return [(record, parsed, cp) for record, parsed, cp in self.frames
                if parsed.kind is MessageKind.CALL and parsed.action == action]


@pytest.fixture(scope="module", params=[(8, 1, 11), (3, 3, 12)], ids=["8x1day", "3x3days"])
def clean(request, tmp_path_factory):
    chargers, days, seed = request.param
    path = tmp_path_factory.mktemp("synth") / "clean.ocpp.jsonl"
    result = synth.generate(path, chargers=chargers, days=days, seed=seed)
    return result, Parsed(path)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    path = tmp_path_factory.mktemp("synth") / "faults.ocpp.jsonl"
    result = synth.generate(path, chargers=len(synth.FAULTS) + 2, days=0.5, seed=5, faults="all")
    return result, Parsed(path)


def test_records_are_what_the_capture_writer_writes(clean):
    result, _ = clean
    lines = result.path.read_text(encoding="utf-8").splitlines()
    for line in lines:
        assert json.dumps(json.loads(line), ensure_ascii=False, separators=(",", ":")) == line
    header = json.loads(lines[0])
    assert header["type"] == "header" and header["proxy_mode"] == "synthetic"
    assert header["synth"]["seed"] in (11, 12)


def test_capture_writer_writes_the_same_bytes(clean, tmp_path):
    result, parsed = clean
    with CaptureWriter(tmp_path / "again.ocpp.jsonl", parsed.header) as writer:
        for record in parsed.records:
            writer.write(record)
    assert (tmp_path / "again.ocpp.jsonl").read_bytes() == result.path.read_bytes()


def test_reads_back_without_problems_in_time_order(clean):
    result, parsed = clean
    assert parsed.problems == []
    times = [parse_ts(record["ts"]) for record in parsed.records]
    assert times == sorted(times)
    assert len(parsed.frames) == result.frames
    assert sum(record["type"] == "connection_open" for record in parsed.records) == result.connections
    # Every frame's connection was opened before it and closed after it.
    opened, closed = {}, {}
    for record in parsed.records:
        if record["type"] == "connection_open":
            opened[record["connection_id"]] = record["ts"]
        elif record["type"] == "connection_close":
            closed[record["connection_id"]] = record["ts"]
    for record, _, _ in parsed.frames:
        assert opened[record["connection_id"]] < record["ts"] < closed[record["connection_id"]]


def test_every_frame_is_schema_valid_ocpp16(clean):
    _, parsed = clean
    checked = Counter()
    for (connection, direction, unique_id), (request, call, reply) in parsed.pairs.items():
        assert call.kind is MessageKind.CALL and call.parse_error is None
        get_validator(2, call.action, "1.6").validate(call.payload)
        assert reply is not None, f"{call.action} {unique_id} unanswered"
        reply_record, result = reply
        assert result.kind is MessageKind.CALLRESULT
        assert reply_record["direction"] != direction
        assert reply_record["ts"] > request["ts"]
        get_validator(3, call.action, "1.6").validate(result.payload)
        checked[call.action] += 1
    for action in ("BootNotification", "StatusNotification", "Heartbeat", "Authorize", "StartTransaction",
                   "MeterValues", "StopTransaction", "ChangeConfiguration", "RemoteStartTransaction",
                   "RemoteStopTransaction"):
        assert checked[action] > 0, action
    replies = sum(1 for _, parsed_frame, _ in parsed.frames if parsed_frame.kind is not MessageKind.CALL)
    assert replies == sum(checked.values())


def test_unique_ids_are_unique_per_sender_and_short(clean):
    _, parsed = clean
    seen = Counter()
    for record, frame, cp in parsed.frames:
        if frame.kind is MessageKind.CALL:
            assert len(frame.unique_id) <= 36
            seen[(cp, record["direction"], frame.unique_id)] += 1
    assert max(seen.values()) == 1


def test_one_outstanding_call_per_side(clean):
    _, parsed = clean
    outstanding = defaultdict(set)  # (connection, direction of request) -> unique ids
    for record, frame, _ in parsed.frames:
        if frame.kind is MessageKind.CALL:
            key = (record["connection_id"], record["direction"])
            assert not outstanding[key], f"second CALL while {outstanding[key]} open"
            outstanding[key].add(frame.unique_id)
        else:
            request_dir = "csms_to_charger" if record["direction"] == "charger_to_csms" else "charger_to_csms"
            outstanding[(record["connection_id"], request_dir)].discard(frame.unique_id)


def test_status_sequences_follow_the_transition_table(clean):
    _, parsed = clean
    last = {}
    booted = set()
    for record, frame, cp in parsed.frames:
        if frame.kind is not MessageKind.CALL:
            continue
        if frame.action == "BootNotification":
            booted.add(cp)
        if frame.action != "StatusNotification":
            continue
        assert cp in booted  # nothing before the first BootNotification
        connector, status = frame.payload["connectorId"], frame.payload["status"]
        if connector == 0:
            assert status in {"Available", "Unavailable", "Faulted"}
            continue
        previous = last.get((cp, connector))
        if previous is not None and previous != status:
            assert status in ALLOWED[previous], f"{cp}/{connector}: {previous} -> {status}"
        last[(cp, connector)] = status
    assert set(last.values()) == {"Available"}  # every session ended before the capture did


def test_payload_timestamps_equal_capture_time(clean):
    _, parsed = clean
    for record, frame, _ in parsed.frames:
        if frame.kind is not MessageKind.CALL or frame.action not in ("StatusNotification", "StartTransaction",
                                                                     "StopTransaction"):
            continue
        stamp = frame.payload["timestamp"]
        assert stamp.endswith("Z")
        assert abs(parse_ts(stamp) - parse_ts(record["ts"])) < 0.01 * SECOND


def test_meter_values_every_interval_and_truth_energy_exact(clean):
    result, parsed = clean
    samples = defaultdict(list)  # transaction id -> [(capture ts, sample ts, register Wh, power W)]
    for record, frame, _ in parsed.calls("MeterValues"):
        payload = frame.payload
        (value,) = payload["meterValue"]
        by_measurand = defaultdict(list)
        for sampled in value["sampledValue"]:
            by_measurand[sampled["measurand"]].append(sampled)
        register = int(by_measurand["Energy.Active.Import.Register"][0]["value"])
        power = float(by_measurand["Power.Active.Import"][0]["value"])
        # V x I per phase reproduces the power (R4: either is enough to estimate power).
        v_times_i = sum(float(v["value"]) * float(i["value"])
                        for v, i in zip(by_measurand["Voltage"], by_measurand["Current.Import"]))
        assert v_times_i == pytest.approx(power, abs=0.1)
        samples[payload["transactionId"]].append((parse_ts(value["timestamp"]), register, power))
    starts = {reply[1].payload["transactionId"]: (parse_ts(call.payload["timestamp"]), call.payload["meterStart"])
              for (_, _, _), (_, call, reply) in parsed.pairs.items() if call.action == "StartTransaction"}
    stops = {frame.payload["transactionId"]: (parse_ts(frame.payload["timestamp"]), frame.payload["meterStop"])
             for _, frame, _ in parsed.calls("StopTransaction")}
    truth = {session.transaction_id: session for session in parsed.truth.sessions}
    assert set(truth) == set(starts) == set(stops)
    assert len(truth) >= len({session.charge_point_id for session in truth.values()}) >= 3
    for tx_id, session in truth.items():
        (t_start, meter_start), (t_stop, meter_stop) = starts[tx_id], stops[tx_id]
        assert session.meter_start_wh == meter_start and session.meter_stop_wh == meter_stop
        assert session.energy_wh == meter_stop - meter_start > 0
        series = samples[tx_id]
        times = [t_start] + [t for t, _, _ in series] + [t_stop]
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
        assert max(gaps) <= 60.01 and min(gaps) > 0
        registers = [meter_start] + [r for _, r, _ in series] + [meter_stop]
        assert registers == sorted(registers)
        # Each reading holds until the next (the first one back to the start): this matches the
        # register except where a status change switched power between two samples.
        powers = [series[0][2]] + [p for _, _, p in series] + [0.0] if series else [0.0, 0.0]
        integrated = sum(p * gap / 3600 for p, gap in zip(powers, gaps))
        changes = sum(1 for record, frame, cp in parsed.calls("StatusNotification")
                      if cp == session.charge_point_id and frame.payload["connectorId"] == session.connector_id
                      and t_start < parse_ts(record["ts"]) < t_stop)
        tolerance_wh = max(powers) * 60 / 3600 * changes + 0.1 * max(powers) * 60 / 3600 + 1
        assert integrated == pytest.approx(session.energy_wh, abs=tolerance_wh)
    assert sum(session.energy_wh for session in truth.values()) == sum(s["energy_wh"] for s in result.sessions)


def test_charger_never_silent_longer_than_heartbeat_interval(clean):
    _, parsed = clean
    last_call = {}
    for record, frame, _ in parsed.frames:
        if frame.kind is MessageKind.CALL and record["direction"] == "charger_to_csms":
            connection = record["connection_id"]
            now = parse_ts(record["ts"])
            if connection in last_call:
                assert (now - last_call[connection]).total_seconds() <= 300 + 1
            last_call[connection] = now
    assert len(parsed.calls("Heartbeat")) > 100


def test_reconnects_resend_status_and_boot_once_per_boot(clean):
    result, parsed = clean
    opens = [record for record in parsed.records if record["type"] == "connection_open"]
    assert len(opens) > len({record["charge_point_id"] for record in opens})  # some chargers reconnected
    for connection in {record["connection_id"] for record in opens}:
        frames = [frame for record, frame, _ in parsed.frames
                  if record["connection_id"] == connection and frame.kind is MessageKind.CALL
                  and record["direction"] == "charger_to_csms"]
        actions = [frame.action for frame in frames]
        boots = actions.count("BootNotification")
        assert boots <= 1 and (boots == 0 or actions[0] == "BootNotification")
        first_other = actions[boots]
        assert first_other == "StatusNotification" and frames[boots].payload["connectorId"] == 0
    for record in opens:
        assert record["auth_password_present"] is True
        assert set(record) == {"type", "ts", "connection_id", "charge_point_id", "url_path", "client_address",
                               "subprotocols_offered", "subprotocol", "charger_tls", "csms_tls", "auth_scheme",
                               "auth_user", "auth_password_present"}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    first = synth.generate(tmp_path / "a.ocpp.jsonl", chargers=3, days=0.5, seed=7, faults="meter_gap")
    second = synth.generate(tmp_path / "b.ocpp.jsonl", chargers=3, days=0.5, seed=7, faults="meter_gap")
    third = synth.generate(tmp_path / "c.ocpp.jsonl", chargers=3, days=0.5, seed=8, faults="meter_gap")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.truth_path.read_bytes() == second.truth_path.read_bytes()
    assert first.path.read_bytes() != third.path.read_bytes()


def test_gzip_output_has_the_same_records(tmp_path):
    plain = synth.generate(tmp_path / "a.ocpp.jsonl", chargers=2, days=0.3, seed=1)
    packed = synth.generate(tmp_path / "a.ocpp.jsonl.gz", chargers=2, days=0.3, seed=1)
    with gzip.open(packed.path, "rb") as stream:
        assert stream.read() == plain.path.read_bytes()


def test_every_fault_is_in_the_truth_once_with_its_time(faulty):
    result, parsed = faulty
    names = [fault.fault for fault in parsed.truth.faults]
    assert sorted(names) == sorted(synth.FAULTS)
    start = parse_ts(parsed.header["started_at"])
    for fault in parsed.truth.faults:
        assert start <= fault.ts <= start + dt.timedelta(days=1)
        assert fault.detail


def _fault(parsed, name):
    (fault,) = [fault for fault in parsed.truth.faults if fault.fault == name]
    return fault


def test_faults_are_visible_in_the_frames(faulty):
    _, parsed = faulty
    by_cp = defaultdict(list)
    for record, frame, cp in parsed.frames:
        by_cp[cp].append((record, frame))

    unanswered = [call for call, _, reply in
                  ((v[1], v[0], v[2]) for v in parsed.pairs.values()) if reply is None]
    assert [call.action for call in unanswered] == ["Heartbeat"]

    errors = sorted(frame.error_code for _, frame, _ in parsed.frames if frame.kind is MessageKind.CALLERROR)
    # callerror, unknown_action, bad_error_code, wrong_direction
    assert errors == ["NotImplemented", "NotImplemented", "NotSupported", "UnknownVendor"]
    assert len(parsed.orphan_replies) == 1  # reply_without_request
    invalid = [frame for _, frame, _ in parsed.frames if frame.kind is MessageKind.INVALID]
    assert len(invalid) == 1 and "JSON" in invalid[0].parse_error

    cp = _fault(parsed, "duplicate_id").charge_point_id
    ids = Counter(frame.unique_id for record, frame in by_cp[cp] if frame.kind is MessageKind.CALL)
    assert ids.most_common(1)[0][1] == 2

    cp = _fault(parsed, "long_unique_id").charge_point_id
    assert max(len(frame.unique_id) for _, frame in by_cp[cp]) == 40

    cp = _fault(parsed, "kwh_as_wh").charge_point_id
    registers = [sv["value"] for _, frame in by_cp[cp] if frame.action == "MeterValues"
                 and frame.kind is MessageKind.CALL for sv in frame.payload["meterValue"][0]["sampledValue"]
                 if sv["measurand"] == "Energy.Active.Import.Register"]
    assert any("." in value for value in registers)

    cp = _fault(parsed, "register_reset").charge_point_id
    starts = [frame.payload["meterStart"] for _, frame in by_cp[cp]
              if frame.kind is MessageKind.CALL and frame.action == "StartTransaction"
              and frame.payload["connectorId"] == 1]
    assert 0 in starts

    cp = _fault(parsed, "clock_skew").charge_point_id
    skews = {round((parse_ts(frame.payload["timestamp"]) - parse_ts(record["ts"])).total_seconds())
             for record, frame in by_cp[cp] if frame.kind is MessageKind.CALL
             and frame.action == "StatusNotification"}
    assert skews == {300}

    cp = _fault(parsed, "naive_timestamp").charge_point_id
    naive = [frame for _, frame in by_cp[cp] if frame.kind is MessageKind.CALL
             and frame.action == "StatusNotification" and not frame.payload["timestamp"].endswith("Z")]
    assert len(naive) == 1

    fault = _fault(parsed, "offline_queue")
    late = [(record, frame) for record, frame in by_cp[fault.charge_point_id]
            if frame.kind is MessageKind.CALL and frame.action == "MeterValues"
            and parse_ts(record["ts"]) - parse_ts(frame.payload["meterValue"][0]["timestamp"]) > 60 * SECOND]
    assert len(late) >= 14

    fault = _fault(parsed, "open_at_end")
    stops = {frame.payload["transactionId"] for _, frame in by_cp[fault.charge_point_id]
             if frame.kind is MessageKind.CALL and frame.action == "StopTransaction"}
    (running,) = [session for session in parsed.truth.sessions if session.stop_ts is None]
    assert running.charge_point_id == fault.charge_point_id and running.transaction_id not in stops
    assert running.meter_stop_wh is None and running.energy_wh > 0

    cp = _fault(parsed, "stop_without_start").charge_point_id
    stops = {frame.payload["transactionId"] for _, frame in by_cp[cp]
             if frame.kind is MessageKind.CALL and frame.action == "StopTransaction"}
    started = {frame.payload["transactionId"] for _, frame in by_cp[cp]
               if frame.kind is MessageKind.CALLRESULT and "transactionId" in (frame.payload or {})}
    assert len(stops - started) == 1


def test_clean_fleet_has_no_fault_traces(clean):
    _, parsed = clean
    assert parsed.truth.faults == ()
    assert not any(frame.kind is MessageKind.CALLERROR for _, frame, _ in parsed.frames)


def test_cli_writes_capture_and_truth(tmp_path, capsys):
    out = tmp_path / "cli.ocpp.jsonl"
    code = main(["synth", "--chargers", "2", "--days", "0.5", "--seed", "4", "--faults", "meter_gap,callerror",
                 "--start", "2026-03-01T00:00:00Z", "-o", str(out)])
    assert code == 0
    assert "frames" in capsys.readouterr().out
    header, records, problems = read_capture(out)
    assert problems == [] and header["started_at"] == "2026-03-01T00:00:00.000000Z"
    assert sorted(fault.fault for fault in read_truth(synth.truth_path(out)).faults) == ["callerror", "meter_gap"]


def test_cli_rejects_unknown_fault_with_one_line(tmp_path, capsys):
    code = main(["synth", "--faults", "kwh_as_wh,nonsense", "-o", str(tmp_path / "x.ocpp.jsonl")])
    assert code == 2
    err = capsys.readouterr().err
    assert "nonsense" in err and "Traceback" not in err
    assert not (tmp_path / "x.ocpp.jsonl").exists()


def test_cli_lists_faults(capsys):
    assert main(["synth", "--list-faults"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in synth.FAULTS)


def test_bad_arguments_are_value_errors(tmp_path):
    with pytest.raises(ValueError):
        synth.generate(tmp_path / "x.ocpp.jsonl", chargers=0)
    with pytest.raises(ValueError):
        synth.generate(tmp_path / "x.ocpp.jsonl", days=0)


def test_faulty_capture_breaks_the_schema_only_where_asked(faulty):
    _, parsed = faulty
    from jsonschema import ValidationError

    # MeterValues of chargers without a meter fault are the clean test's business (and most frames).
    meter_faulted = {fault.charge_point_id for fault in parsed.truth.faults if fault.fault in synth.SESSION_FAULTS}
    invalid = []
    for (connection, _, unique_id), (_, call, reply) in parsed.pairs.items():
        if call.action == "FirmwareReport":  # unknown_action: no schema to break
            continue
        if call.action == "MeterValues" and parsed.cp_of[connection] not in meter_faulted:
            continue
        messages = [(2, call.payload)] + ([(3, reply[1].payload)] if reply and reply[1].kind is MessageKind.CALLRESULT
                                          else [])
        for message_type, payload in messages:
            try:
                get_validator(message_type, call.action, "1.6").validate(payload)
            except ValidationError as error:
                invalid.append((call.action, error.validator))
    assert invalid == [("StatusNotification", "maxLength")]  # schema_violation
