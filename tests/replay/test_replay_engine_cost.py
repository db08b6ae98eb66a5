"""What keeps the replayer's own CPU per request low, without weakening its behaviour: one reply
timer per charge point (not one per request) that still times out each request at its own
deadline, frame lines byte-identical to the writer's, the same verdict rows (issue 11, section 9)."""

from __future__ import annotations

import asyncio
import json

from workbench.replay import Plan, ReplayOptions, Step, run_plan
from workbench.replay.transports import MockConnector, MockTransport


def _heartbeats(count: int) -> Plan:
    steps = [Step("CP-1", "connect")]
    steps += [Step("CP-1", "send", t_s=0.01 * i, action="Heartbeat", payload={}, reply_kind="CALLRESULT", reply={})
              for i in range(count)]
    steps.append(Step("CP-1", "close", t_s=0.01 * count, close_code=1000))
    return Plan(role="charger", steps=steps, recorded_start="2026-01-01T00:00:00.000000Z")


def _answer_after(delays: list[float | None]):
    """A mock CSMS answering the n-th request ``[3, id, {}]`` after ``delays[n]`` s (None: never)."""
    seen = []

    def on_message(text: str, transport: MockTransport) -> None:
        message = json.loads(text)
        delay = delays[len(seen)]
        seen.append(message[1])
        if delay == 0:
            transport.deliver(json.dumps([3, message[1], {}]))
        elif delay is not None:
            asyncio.get_running_loop().call_later(delay, transport.deliver, json.dumps([3, message[1], {}]))

    return on_message


def test_one_reply_timer_per_charge_point_not_one_per_request() -> None:
    scheduled = []

    async def go(connector):
        loop = asyncio.get_running_loop()
        call_at = loop.call_at

        def counting(when, callback, *args, **kwargs):
            scheduled.append(callback)
            return call_at(when, callback, *args, **kwargs)

        loop.call_at = counting  # call_later goes through it too
        return await run_plan(_heartbeats(300), connector, options=ReplayOptions(reply_timeout_s=5))

    connector = MockConnector(_answer_after([0.0] * 300))
    result = asyncio.run(asyncio.wait_for(go(connector), 20))
    assert result.verdict.clean and len(result.verdict.rows) == 300
    ids = [json.loads(text)[1] for text in connector.transports[0].sent]
    assert len(set(ids)) == 300 and all(len(i) <= 36 for i in ids)  # fresh, unique, within OCPP's 36 chars
    assert len(scheduled) < 10  # asyncio.timeout per request scheduled 300


def test_each_request_still_times_out_at_its_own_deadline() -> None:
    """The timer armed by an earlier request fires before a later request's deadline: that request
    keeps waiting (and is matched); one never answered is a timeout row after reply_timeout_s."""
    async def go():
        options = ReplayOptions(reply_timeout_s=0.3)
        return await run_plan(_heartbeats(3), MockConnector(_answer_after([0.2, 0.2, None])), options=options)

    loop_started = asyncio.new_event_loop()
    try:
        started = loop_started.time()
        result = loop_started.run_until_complete(asyncio.wait_for(go(), 10))
        took = loop_started.time() - started
    finally:
        loop_started.close()
    assert [row.status for row in result.verdict.rows] == ["matched", "matched", "timeout"]
    assert result.verdict.rows[2].detail == "no reply within 0.3 s"
    assert 0.4 + 0.3 <= took < 2.0


def test_frame_lines_are_byte_identical_to_the_writers_encoding_of_records_frame() -> None:
    from workbench.capture import records as rec
    from workbench.capture.records import Direction
    from workbench.capture.writer import encode_record
    from workbench.replay.engine import frame_line

    texts = ['[2,"a","Heartbeat",{}]', '[3,"x",{"idTag":"T\\"1\\\\\u00e9\u2028\x01\U0001f50c"}]', "not json", ""]
    for text in texts:
        for direction in Direction:
            for replay_of in (None, 0, 17):
                record = rec.frame(ts="2026-12-04T15:30:00.123456Z", connection_id="r1", direction=direction,
                                   content=text, replay_of=replay_of)
                assert frame_line(record["ts"], "r1", direction, text, replay_of) == encode_record(record)


def test_frame_clock_writes_now_as_records_now_ts_does() -> None:
    import datetime as dt
    import re

    from workbench.capture import records as rec
    from workbench.replay.engine import FrameClock

    clock = FrameClock()
    for _ in range(3):
        before = dt.datetime.now(dt.timezone.utc)
        ts = clock.now_ts()
        after = dt.datetime.now(dt.timezone.utc)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", ts)
        assert len(ts) == len(rec.now_ts())
        assert before - dt.timedelta(microseconds=1) <= rec.parse_ts(ts) <= after + dt.timedelta(microseconds=1)


def _answer_with(payloads: list[dict]):
    """A mock CSMS answering the n-th request ``[3, id, payloads[n]]`` at once."""
    seen = []

    def on_message(text: str, transport: MockTransport) -> None:
        message = json.loads(text)
        payload = payloads[len(seen)]
        seen.append(message[1])
        transport.deliver(json.dumps([3, message[1], payload]))

    return on_message


def test_every_reply_is_judged_in_plan_order_the_last_one_too() -> None:
    """Every reply gets its row, in plan order: one before a close, and the last one of a plan that
    ends without a close."""
    plan = _heartbeats(5)
    answers = [{}, {"x": 1}, {}, {}, {"y": 2}]  # the 2nd and the last differ from the recorded {}
    result = asyncio.run(asyncio.wait_for(run_plan(plan, MockConnector(_answer_with(answers))), 10))
    assert [(row.step, row.status) for row in result.verdict.rows] == [
        (1, "matched"), (2, "differs"), (3, "matched"), (4, "matched"), (5, "differs")]
    assert [d.pointer for d in result.verdict.rows[4].diffs] == ["/y"]
    # without a close step: the run ends on the last reply, which is still judged
    plan.steps.pop()
    result = asyncio.run(asyncio.wait_for(run_plan(plan, MockConnector(_answer_with(answers))), 10))
    assert [row.status for row in result.verdict.rows][-1] == "differs"


def test_progress_counts_rows_as_they_come_without_walking_the_verdict(monkeypatch) -> None:
    """The progress callback's counts are the verdict's, kept as rows come: Verdict.counts() (a walk
    over every row) once per step made a fleet replay quadratic in its steps."""
    from workbench.replay.verdict import Verdict

    walks = []
    counts = Verdict.counts
    monkeypatch.setattr(Verdict, "counts", lambda self: walks.append(1) or counts(self))
    seen = []
    answers = [{}, {"x": 1}, {}, {}, {"y": 2}]
    result = asyncio.run(asyncio.wait_for(run_plan(_heartbeats(5), MockConnector(_answer_with(answers)),
                                                   options=ReplayOptions(progress=seen.append)), 10))
    assert walks == []
    assert len(seen) == len(_heartbeats(5).steps)
    assert seen[-1].counts == counts(result.verdict) and seen[-1].counts["differs"] == 2


def test_a_notebook_stepping_through_sees_each_reply_judged_before_the_next_step() -> None:
    rows_at_step = []
    result_box = []

    async def go():
        async def before_step(index, step):
            rows_at_step.append(len(result_box[0].verdict.rows) if result_box else None)

        from workbench.replay import engine

        original = engine._Run.__init__

        def remember(self, *args, **kwargs):
            original(self, *args, **kwargs)
            result_box.append(self)

        engine._Run.__init__ = remember
        try:
            return await run_plan(_heartbeats(3), MockConnector(_answer_with([{}, {}, {}])),
                                  options=ReplayOptions(before_step=before_step))
        finally:
            engine._Run.__init__ = original

    result = asyncio.run(asyncio.wait_for(go(), 10))
    assert result.verdict.clean
    assert rows_at_step == [0, 0, 1, 2, 3]  # connect, 3 sends, close: each reply's row before the next step


def test_a_request_right_after_start_transaction_carries_the_live_transaction_id() -> None:
    """A MeterValues right after a StartTransaction carries the live transactionId its
    StartTransaction.conf brought (the mapping is learnt before the next request is encoded)."""
    def step(action, payload, reply):
        return Step("CP-1", "send", action=action, payload=payload, reply_kind="CALLRESULT", reply=reply)

    meter = {"connectorId": 1, "transactionId": 7, "meterValue": [
        {"timestamp": "2026-01-01T00:00:01Z", "sampledValue": [{"value": "10"}]}]}
    steps = [Step("CP-1", "connect"),
             step("Heartbeat", {}, {}),
             step("StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"},
                  {"transactionId": 7, "idTagInfo": {"status": "Accepted"}}),
             step("MeterValues", meter, {}),
             step("StopTransaction", {"transactionId": 7, "meterStop": 10, "timestamp": "2026-01-01T00:00:02Z"}, {}),
             Step("CP-1", "close", close_code=1000)]
    plan = Plan(role="charger", steps=steps, recorded_start="2026-01-01T00:00:00.000000Z")

    def on_message(text: str, transport: MockTransport) -> None:
        message = json.loads(text)
        answer = {"transactionId": 4242, "idTagInfo": {"status": "Accepted"}} if message[2] == "StartTransaction" else {}
        transport.deliver(json.dumps([3, message[1], answer]))

    connector = MockConnector(on_message)
    result = asyncio.run(asyncio.wait_for(run_plan(plan, connector), 10))
    assert result.verdict.clean, result.verdict.to_text()
    sent = [json.loads(text) for text in connector.transports[0].sent]
    assert [m[2] for m in sent] == ["Heartbeat", "StartTransaction", "MeterValues", "StopTransaction"]
    assert sent[2][3]["transactionId"] == 4242 and sent[3][3]["transactionId"] == 4242
    assert len({m[1] for m in sent}) == 4  # message ids still unique
