"""Rewriting (transaction ids, times) and the verdict (diff, formats, exit codes); no network."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET

from workbench.replay.rewrite import Rewriter, TransactionIds, map_transaction_ids, shift_time_text
from workbench.replay.verdict import Verdict, VerdictRow, diff_payloads


def test_times_shift_keeping_their_spelling() -> None:
    hour = dt.timedelta(hours=1, milliseconds=5)
    assert shift_time_text("2026-11-21T20:06:47.361Z", hour) == "2026-11-21T21:06:47.366Z"
    assert shift_time_text("2026-11-21T20:06:47Z", hour) == "2026-11-21T21:06:47Z"
    assert shift_time_text("2026-11-21T20:06:47.123456+01:00", hour) == "2026-11-21T21:06:47.128456+01:00"
    assert shift_time_text("not a time", hour) == "not a time"


def test_rewriter_maps_transaction_ids_in_every_later_request_and_shifts_times() -> None:
    rewriter = Rewriter(dt.timedelta(days=1))
    rewriter.transactions.learn({"transactionId": 7, "idTagInfo": {}}, {"transactionId": 4242})
    meter = rewriter.request("MeterValues", {"connectorId": 1, "transactionId": 7,
                                             "meterValue": [{"timestamp": "2026-01-01T00:00:00.000Z", "sampledValue": []}]})
    assert meter["transactionId"] == 4242
    assert meter["meterValue"][0]["timestamp"] == "2026-01-02T00:00:00.000Z"
    assert rewriter.request("StopTransaction", {"transactionId": 7, "meterStop": 1,
                                                "timestamp": "2026-01-01T00:00:00Z"})["transactionId"] == 4242
    assert rewriter.request("RemoteStopTransaction", {"transactionId": 7}) == {"transactionId": 4242}
    profile = rewriter.request("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 1, "transactionId": 7, "chargingProfilePurpose": "TxProfile"}})
    assert profile["csChargingProfiles"]["transactionId"] == 4242
    # an id never learnt passes unchanged; other actions are left alone
    assert rewriter.request("MeterValues", {"transactionId": 8})["transactionId"] == 8
    assert rewriter.request("DataTransfer", {"vendorId": "x", "transactionId": 7})["transactionId"] == 7


def test_stale_ids_are_kept_only_when_asked() -> None:
    ids = TransactionIds()
    ids.learn({"transactionId": 1}, {"transactionId": 2})
    payload = {"transactionId": 1}
    map_transaction_ids("StopTransaction", payload, ids)
    assert payload == {"transactionId": 2}
    assert Rewriter(None, map_transactions=False).request("StopTransaction", {"transactionId": 1}) == {"transactionId": 1}


def test_diff_ignores_volatile_fields_and_reports_leaves() -> None:
    recorded = {"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z", "interval": 300,
                "nested": {"timestamp": "a", "v": [1, 2]}}
    replayed = {"status": "Rejected", "currentTime": "2027-01-01T00:00:00Z", "interval": 300.0,
                "nested": {"timestamp": "b", "v": [1]}, "extra": True}
    diffs = {(d.pointer, json.dumps(d.recorded), json.dumps(d.replayed)) for d in diff_payloads(recorded, replayed)}
    assert diffs == {("/status", '"Accepted"', '"Rejected"'), ("/nested/v/1", "2", "null"),
                     ("/extra", "null", "true")}
    assert diff_payloads({"a": {"b": 1}}, {"a": {"b": 2}}, ignore=["/a/*"]) == []
    assert diff_payloads({"a": True}, {"a": 1}, ignore=[]) != []  # JSON true is not 1


def _verdict() -> Verdict:
    return Verdict(rows=[
        VerdictRow("CP-1", 1, "send", "BootNotification", "matched", 0, 1),
        VerdictRow("CP-1", 2, "send", "Authorize", "differs", 3, 4, diffs=[]),
        VerdictRow("CP-1", None, "expect", "Foo", "unexpected", None, 9, detail="ratio NaN"),
    ], duration_s=float("nan"), frames_sent=2, frames_received=3)


def test_formats_are_strict_and_parseable() -> None:
    verdict = _verdict()
    document = json.loads(verdict.to_json())  # strict: would fail on NaN
    assert document["duration_s"] is None and document["exit_code"] == 1
    assert document["counts"]["differs"] == 1 and len(document["rows"]) == 3
    suite = ET.fromstring(verdict.to_junit())
    assert suite.get("tests") == "3" and suite.get("failures") == "2"
    assert [case.find("failure") is not None for case in suite.iter("testcase")] == [False, True, True]
    text = verdict.to_text()
    assert text.splitlines()[-1].startswith("replay: DIFFERENCES: 3 rows (1 matched, 1 differs, 1 unexpected)")


def test_exit_codes() -> None:
    assert Verdict(rows=[VerdictRow("CP", 0, "send", "Heartbeat", "matched")]).exit_code == 0
    assert _verdict().exit_code == 1
    refused = Verdict(rows=[VerdictRow("CP", 0, "connect", None, "error")], connection_errors=1)
    assert refused.exit_code == 2


def test_rewrites_copy_only_what_they_change_and_never_touch_the_recorded_payload() -> None:
    """The rewrite of a request equals a full copy with times shifted and ids mapped, but shares the
    parts without a time (a MeterValues' sampled values) with the recording, which stays as it was."""
    import copy

    from workbench.replay.rewrite import copy_json

    shift = dt.timedelta(hours=1)
    sampled = [{"value": "1", "measurand": "Energy.Active.Import.Register"}, {"value": "2"}]
    recorded = {"connectorId": 1, "transactionId": 7, "meterValue": [
        {"timestamp": "2026-01-01T00:00:00.000Z", "sampledValue": sampled}]}
    before = copy.deepcopy(recorded)
    rewriter = Rewriter(shift)
    rewriter.transactions.learn({"transactionId": 7}, {"transactionId": 99})
    out = rewriter.request("MeterValues", recorded)
    full = copy_json(recorded, shift)
    map_transaction_ids("MeterValues", full, rewriter.transactions)
    assert out == full and out["transactionId"] == 99
    assert out["meterValue"][0]["timestamp"] == "2026-01-01T01:00:00.000Z"
    assert out["meterValue"][0]["sampledValue"] is sampled  # shared, not copied
    assert recorded == before  # the plan's payload is untouched
    profile = {"connectorId": 1, "csChargingProfiles": {"chargingProfileId": 1, "transactionId": 7}}
    assert rewriter.request("SetChargingProfile", profile)["csChargingProfiles"]["transactionId"] == 99
    assert rewriter.expected("RemoteStopTransaction", {"transactionId": 7}) == {"transactionId": 99}
    assert profile["csChargingProfiles"]["transactionId"] == 7
    untimed = {"idTag": "T1", "list": [{"a": 1}]}
    assert rewriter.request("Authorize", untimed) is untimed and rewriter.answer(untimed) is untimed


def test_equal_payloads_take_the_fast_path_without_changing_what_differs() -> None:
    from workbench.replay.verdict import diff_payloads, same_json

    reply = {"idTagInfo": {"status": "Accepted", "expiryDate": "2030-01-01T00:00:00Z"}, "n": [1, 2.5, None, "x"]}
    assert same_json(reply, json.loads(json.dumps(reply))) and diff_payloads(reply, json.loads(json.dumps(reply))) == []
    # what == alone would take as equal, and what the walk decides
    assert not same_json({"a": True}, {"a": 1})
    assert [d.pointer for d in diff_payloads({"a": True}, {"a": 1})] == ["/a"]
    assert not same_json({"a": 1}, {"a": 1.0}) and diff_payloads({"a": 1}, {"a": 1.0}) == []
    assert not same_json({"a": float("nan")}, {"a": None}) and diff_payloads({"a": float("nan")}, {"a": None})
    assert not same_json({"a": 2**70}, {"a": 2**70}) and diff_payloads({"a": 2**70}, {"a": 2**70}) == []
    assert diff_payloads({"a": 1, "b": 2}, {"b": 2, "a": 1}) == []


def test_shifted_times_are_written_as_strftime_writes_them() -> None:
    import random

    rng = random.Random(3)
    for _ in range(300):
        when = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=rng.uniform(0, 1e9))
        shift = dt.timedelta(seconds=rng.uniform(-1e8, 1e8))
        for digits, zone in ((0, "Z"), (3, "Z"), (6, "+02:00"), (1, "")):
            text = when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{when.microsecond:06d}"[: digits + 1] if digits else "") + zone
            moved = dt.datetime.fromisoformat(text.replace("Z", "+00:00")) + shift
            expected = moved.strftime("%Y-%m-%dT%H:%M:%S") + (f".{moved.microsecond:06d}"[: digits + 1] if digits else "")
            expected += "Z" if zone == "Z" else (zone and moved.strftime("%z")[:3] + ":" + moved.strftime("%z")[3:])
            assert shift_time_text(text, shift) == expected, text


def test_whole_second_shifts_take_the_fast_path_with_the_general_result() -> None:
    """The replay's shift is whole seconds: shift_time_text then only moves the date and time of day.
    Whatever the spelling (fractions of 0 to 9 digits, Z, offsets, -00:00, a space, no zone, years
    near 1 and 9999, garbage after a time), it gives what the general path gives."""
    import random

    from workbench.replay.rewrite import shifted_time_text_general

    rng = random.Random(11)
    texts = ["2026-11-21T20:06:47Z", "2026-11-21 20:06:47.5Z", "2026-11-21T20:06:47.123456789Z",
             "2026-11-21T20:06:47-00:00", "2026-11-21T20:06:47+0100", "2026-11-21T20:06:47.12x",
             "0999-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00Z", "2026-13-01T00:00:00Z",
             "2026-11-21T20:06:47Zjunk", "2026-11-21T20:06", "20261121T200647Z", "not a time at all, no"]
    for _ in range(400):
        when = dt.datetime(1990, 1, 1) + dt.timedelta(seconds=rng.uniform(0, 2e9), microseconds=rng.randrange(10**6))
        fraction = f".{when.microsecond:06d}{rng.randrange(1000):03d}"[: rng.randrange(0, 11)]
        zone = rng.choice(["Z", "", "+02:00", "-05:30", "+00:00", "-00:00"])
        texts.append(when.strftime("%Y-%m-%dT%H:%M:%S") + (fraction if len(fraction) > 1 else "") + zone)
    shifts = [dt.timedelta(seconds=s) for s in (0, 1, -1, 3600, 86400 * 700 + 17, -86400 * 9000)]
    shifts += [dt.timedelta(seconds=rng.randrange(-10**9, 10**9)) for _ in range(5)]
    for text in texts:
        for shift in shifts:
            assert shift_time_text(text, shift) == shifted_time_text_general(text, shift), (text, shift)
    # a time that cannot be moved (past year 9999) is sent as recorded, not a crash of the replay
    for shift in (dt.timedelta(days=1), dt.timedelta(days=1, microseconds=5)):
        assert shift_time_text("9999-12-31T23:59:59.999Z", shift) == "9999-12-31T23:59:59.999Z"


def test_times_under_subclassed_containers_and_strings_are_shifted_too() -> None:
    import collections
    import enum

    class Text(str, enum.Enum):
        WHEN = "2026-01-01T00:00:00Z"

    payload = collections.OrderedDict(meterValue=[collections.OrderedDict(timestamp=Text.WHEN)], timestamp=Text.WHEN)
    out = Rewriter(dt.timedelta(hours=2)).request("MeterValues", payload)
    assert out["timestamp"] == out["meterValue"][0]["timestamp"] == "2026-01-01T02:00:00Z"
