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

    async def go():
        loop = asyncio.get_running_loop()
        call_at = loop.call_at

        def counting(when, callback, *args, **kwargs):
            scheduled.append(callback)
            return call_at(when, callback, *args, **kwargs)

        loop.call_at = counting  # call_later goes through it too
        return await run_plan(_heartbeats(300), MockConnector(_answer_after([0.0] * 300)),
                              options=ReplayOptions(reply_timeout_s=5))

    result = asyncio.run(asyncio.wait_for(go(), 20))
    assert result.verdict.clean and len(result.verdict.rows) == 300
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
