"""The engine over the in-memory mock transport: peer faults become rows, never a hang.

Unit tests of the engine's logic only; the same behaviour over real websockets is in
test_replay_lab.py."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from workbench.capture.reader import read_capture
from workbench.capture.writer import CaptureWriter
from workbench.replay import Plan, ReplayOptions, replay_header, run_plan
from workbench.replay.transports import MockConnector, MockTransport
from workbench.testing import call, exchange, make_capture


def _plan(tmp_path: Path, with_csms_request: bool = False) -> Plan:
    script = exchange(0.0, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"},
                      {"status": "Accepted", "currentTime": "2025-01-06T08:00:00.000Z", "interval": 300})
    script += exchange(1.0, "h1", "Heartbeat", {}, {"currentTime": "2025-01-06T08:00:01.000Z"})
    if with_csms_request:
        script += exchange(1.5, "c1", "TriggerMessage", {"requestedMessage": "Heartbeat"},
                           {"status": "Accepted"}, from_charger=False)
    script += exchange(2.0, "a1", "Authorize", {"idTag": "T1"}, {"idTagInfo": {"status": "Accepted"}})
    return Plan.from_capture(make_capture(tmp_path / "c.ocpp.jsonl", "CP-1", script, close_at_s=3.0))


def _csms(answers: dict[str, object]):
    """A mock CSMS answering each action with ``answers[action]`` (a payload, or a callable)."""

    def on_message(text: str, transport: MockTransport) -> None:
        message = json.loads(text)
        if message[0] != 2:
            return
        answer = answers.get(message[2], {})
        if callable(answer):
            answer(message, transport)
        elif answer is not None:
            transport.deliver(json.dumps([3, message[1], answer]))

    return on_message


BOOT = {"status": "Accepted", "currentTime": "2030-01-01T00:00:00Z", "interval": 300}
OK = {"BootNotification": BOOT, "Heartbeat": {"currentTime": "2030-01-01T00:00:00Z"},
      "Authorize": {"idTagInfo": {"status": "Accepted"}}}


def _run(plan: Plan, connector: MockConnector, tmp_path: Path | None = None, **options: float):
    async def go():
        writer = CaptureWriter(tmp_path / "out.ocpp.jsonl", replay_header(plan, "mock")) if tmp_path else None
        try:
            return await run_plan(plan, connector, writer=writer,
                                  options=ReplayOptions(reply_timeout_s=0.3, peer_timeout_s=0.3, **options))
        finally:
            if writer:
                writer.close()

    started = time.monotonic()
    result = asyncio.run(asyncio.wait_for(go(), 10))
    return result, time.monotonic() - started


def test_clean_replay_tags_every_frame_with_the_recorded_seq(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    result, _ = _run(plan, MockConnector(_csms(OK)), tmp_path)
    assert result.verdict.clean and [r.action for r in result.verdict.rows] == ["BootNotification", "Heartbeat", "Authorize"]
    _header, records, _ = read_capture(tmp_path / "out.ocpp.jsonl")
    frames = [r for r in records if r["type"] == "frame"]
    assert [f["replay_of"] for f in frames] == [0, 1, 2, 3, 4, 5]  # request, reply, request, reply ...
    assert records[0]["type"] == "connection_open" and records[-1]["type"] == "connection_close"


def test_callerror_and_changed_fields_are_differs_rows(tmp_path: Path) -> None:
    def refuse(message, transport):
        transport.deliver(json.dumps([4, message[1], "NotSupported", "no", {}]))

    answers = {**OK, "Heartbeat": refuse, "Authorize": {"idTagInfo": {"status": "Blocked"}}}
    result, _ = _run(_plan(tmp_path), MockConnector(_csms(answers)))
    rows = {r.action: r for r in result.verdict.rows}
    assert rows["BootNotification"].status == "matched"  # currentTime ignored
    assert rows["Heartbeat"].status == "differs" and "CALLERROR NotSupported" in rows["Heartbeat"].detail
    assert rows["Authorize"].status == "differs"
    assert [(d.pointer, d.recorded, d.replayed) for d in rows["Authorize"].diffs] == [
        ("/idTagInfo/status", "Accepted", "Blocked")]
    assert result.verdict.exit_code == 1


def test_a_silent_peer_gives_timeout_rows_in_bounded_time(tmp_path: Path) -> None:
    result, elapsed = _run(_plan(tmp_path), MockConnector(_csms({**OK, "Heartbeat": None})))
    rows = {r.action: r.status for r in result.verdict.rows}
    assert rows == {"BootNotification": "matched", "Heartbeat": "timeout", "Authorize": "matched"}
    assert elapsed < 3


def test_a_peer_that_closes_mid_plan_gives_rows_and_the_replay_ends(tmp_path: Path) -> None:
    def close(message, transport):
        transport.peer_close(1011)

    result, elapsed = _run(_plan(tmp_path), MockConnector(_csms({**OK, "Heartbeat": close})))
    statuses = [(r.action, r.status) for r in result.verdict.rows]
    assert statuses[:3] == [("BootNotification", "matched"), ("Heartbeat", "missing"), ("Authorize", "missing")]
    assert ("close" in {r.kind for r in result.verdict.rows if r.status == "unexpected"})
    assert elapsed < 3


def test_peer_requests_answered_as_recorded_unknown_ones_refused(tmp_path: Path) -> None:
    plan = _plan(tmp_path, with_csms_request=True)

    def on_open(transport: MockTransport) -> None:
        transport.deliver(json.dumps([2, "x1", "TriggerMessage", {"requestedMessage": "Heartbeat"}]))
        transport.deliver(json.dumps([2, "x2", "FlyToTheMoon", {}]))
        transport.deliver(json.dumps([2, "x3", "Reset", {"type": "Hard"}]))

    connector = MockConnector(_csms(OK), on_open)
    result, _ = _run(plan, connector)
    replies = {json.loads(t)[1]: json.loads(t) for t in connector.transports[0].sent if json.loads(t)[0] != 2}
    assert replies["x1"] == [3, "x1", {"status": "Accepted"}]  # the recorded answer
    assert replies["x2"][:3] == [4, "x2", "NotImplemented"]  # not an OCPP action
    assert replies["x3"] == [3, "x3", {"status": "Rejected"}]  # a default, stated in the verdict
    rows = [(r.action, r.status) for r in result.verdict.rows]
    assert ("TriggerMessage", "matched") in rows
    assert ("FlyToTheMoon", "unexpected") in rows and ("Reset", "unexpected") in rows


def test_an_expected_peer_request_that_never_comes_is_a_timeout_row(tmp_path: Path) -> None:
    result, elapsed = _run(_plan(tmp_path, with_csms_request=True), MockConnector(_csms(OK)))
    rows = [(r.action, r.status) for r in result.verdict.rows]
    assert ("TriggerMessage", "timeout") in rows
    assert [a for a, s in rows if s == "matched"] == ["BootNotification", "Heartbeat", "Authorize"]
    assert elapsed < 3


def test_speed_keeps_recorded_gaps(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    _result, elapsed = _run(plan, MockConnector(_csms(OK)), speed=4.0)
    assert 0.7 <= elapsed < 2.0  # 3 s recorded (last request at 2 s, close at 3 s) / 4
    _ = call


def test_a_peer_closing_after_the_last_step_is_as_recorded(tmp_path: Path) -> None:
    def close_after_authorize(text: str, transport: MockTransport) -> None:
        _csms(OK)(text, transport)
        if json.loads(text)[2] == "Authorize":
            transport.peer_close(1000)

    result, _ = _run(_plan(tmp_path), MockConnector(close_after_authorize))
    assert result.verdict.clean, result.verdict.to_text()


def test_a_failed_connection_is_exit_2_and_counts_the_steps_not_run(tmp_path: Path) -> None:
    from workbench.replay.transports import ReplayConnectError

    class Refusing(MockConnector):
        async def connect(self, charge_point_id, auth_user, timeout_s):
            raise ReplayConnectError(f"{charge_point_id}: the CSMS refused the upgrade with HTTP 404")

    result, _ = _run(_plan(tmp_path), Refusing(_csms(OK)))
    assert [(r.status, r.detail) for r in result.verdict.rows] == [
        ("error", "CP-1: the CSMS refused the upgrade with HTTP 404; 3 later step(s) of CP-1 not run")]
    assert result.verdict.exit_code == 2


def test_before_step_hook_runs_the_plan_step_by_step(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    seen: list[tuple[int, str, int]] = []

    async def go():
        gate: asyncio.Queue[None] = asyncio.Queue()
        connector = MockConnector(_csms(OK))

        async def before_step(index, step):
            await gate.get()  # a notebook would put() when the user says "next"
            sent = len(connector.transports[0].sent) if connector.transports else 0
            seen.append((index, step.kind, sent))

        task = asyncio.create_task(run_plan(plan, connector, options=ReplayOptions(before_step=before_step)))
        await asyncio.sleep(0.05)
        assert not connector.transports  # nothing happens without a go-ahead
        for _ in plan.steps:
            gate.put_nowait(None)
            await asyncio.sleep(0.01)
        return await asyncio.wait_for(task, 5)

    result = asyncio.run(go())
    assert result.verdict.clean
    assert [(i, k) for i, k, _ in seen] == [(i, s.kind) for i, s in enumerate(plan.steps)]
    assert [sent for _i, _k, sent in seen] == [0, 0, 1, 2, 3]  # one request out per step


def test_frame_lines_are_the_writers_lines_and_every_frame_reaches_the_file(tmp_path: Path) -> None:
    """Frame lines are batched (one write per FLUSH_EVERY_S or FLUSH_LINES) and encoded by orjson:
    the file still holds every frame, in order, byte for byte what the writer's own encoder makes,
    each on disk within FLUSH_EVERY_S even while the replay waits."""
    from workbench.capture.writer import encode_record
    from workbench.replay.engine import FLUSH_EVERY_S

    odd = {"idTag": 'T"1\\\u00e9\u2028\x01\U0001f50c'}  # quotes, escapes, non-ASCII, a control char, astral
    script = exchange(0.0, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"},
                      {"status": "Accepted", "currentTime": "2025-01-06T08:00:00.000Z", "interval": 300})
    script += exchange(1.0, "a1", "Authorize", odd, {"idTagInfo": {"status": "Accepted"}})
    plan = Plan.from_capture(make_capture(tmp_path / "c.ocpp.jsonl", "CP-1", script, close_at_s=2.0))
    out = tmp_path / "out.ocpp.jsonl"
    on_disk: list[int] = []

    async def before_step(index, step):
        if step.kind == "send" and step.action == "Authorize":
            await asyncio.sleep(FLUSH_EVERY_S * 3)  # the replay is idle: the boot exchange must be on disk
            on_disk.append(sum(1 for line in out.read_bytes().splitlines() if b'"type":"frame"' in line))

    result, _ = _run(plan, MockConnector(_csms({**OK, "Authorize": {"idTagInfo": {"status": "Accepted"}}})), tmp_path,
                     before_step=before_step)
    assert result.verdict.clean, result.verdict.to_text()
    assert on_disk == [2]  # BootNotification and its reply, flushed by the timer
    lines = out.read_bytes().splitlines(keepends=True)
    _header, records, problems = read_capture(out)
    assert problems == []
    frames = [(line, record) for line, record in zip(lines[1:], records, strict=True) if record["type"] == "frame"]
    assert len(frames) == result.verdict.frames_sent + result.verdict.frames_received == 4
    assert all(line == encode_record(record) for line, record in frames)
    assert json.loads(frames[2][1]["text"])[3] == odd
    assert [r["type"] for r in records] == ["connection_open", "frame", "frame", "frame", "frame", "connection_close"]


def _csms_plan_charger_closes() -> Plan:
    from workbench.replay import Step

    steps = [Step("CP-1", "connect"),
             Step("CP-1", "send", t_s=0.1, action="Reset", payload={"type": "Soft"}, reply_kind="CALLRESULT",
                  reply={"status": "Accepted"}),
             Step("CP-1", "close", t_s=0.2, close_code=1000, closed_by="charger")]
    return Plan(role="csms", steps=steps, recorded_start="2026-01-01T00:00:00.000000Z")


def test_as_the_csms_a_close_the_charger_made_is_awaited_not_made(tmp_path: Path) -> None:
    """The recording has the charger closing (it reboots after Reset): the replayer waits for the live
    charger's close instead of closing first; a charger that stays is a timeout row, then closed."""
    def rebooting(text: str, transport: MockTransport) -> None:
        message = json.loads(text)
        transport.deliver(json.dumps([3, message[1], {"status": "Accepted"}]))
        asyncio.get_running_loop().call_later(0.1, transport.peer_close, 1000)

    plan = _csms_plan_charger_closes()
    assert "close   code 1000 by the charger" in plan.to_text()
    result, _took = _run(plan, MockConnector(rebooting), tmp_path)
    assert result.verdict.clean, result.verdict.to_text()
    closes = [r for r in read_capture(tmp_path / "out.ocpp.jsonl")[1] if r["type"] == "connection_close"]
    assert [(c["closed_by"], c["close_code"]) for c in closes] == [("charger", 1000)]

    def staying(text: str, transport: MockTransport) -> None:
        message = json.loads(text)
        transport.deliver(json.dumps([3, message[1], {"status": "Accepted"}]))

    connector = MockConnector(staying)
    result, took = _run(plan, connector)  # peer_timeout_s 0.3
    assert 0.3 <= took < 3
    assert [(r.kind, r.status) for r in result.verdict.rows] == [("send", "matched"), ("close", "timeout")]
    assert result.verdict.rows[1].detail == ("the charger did not close the connection within 0.3 s as recorded "
                                             "(code 1000); the replayer closed it")
    assert connector.transports[0].closed_with == 1000
