"""The replay engine: runs a :class:`~.plan.Plan` over a :class:`~.transports.Connector`.

Every charge point runs as its own task on its own connection(s), so a fleet plan is a load test
that keeps the charge points' relative timing. Per charge point, a reader task takes whatever the
peer sends: replies resolve the request waiting for them, requests are matched to ``expect`` steps
and answered (:mod:`.answers`). Every frame both ways goes into the replay's capture (format v1, the
same writer), tagged ``replay_of`` with the ``seq`` of the recorded frame it replays or answers.

Every wait is bounded: a connection (``connect_timeout_s``), a reply (``reply_timeout_s``), a peer
request the next step depends on (``peer_timeout_s``). A wait that runs out is a ``timeout`` row;
a peer that closes, answers CALLERROR or sends what was not recorded produces rows, never a hang.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from .. import __version__
from ..capture import records as rec
from ..capture.records import ClosedBy, Direction
from ..capture.writer import CaptureWriter
from ..errors import CaptureWriteError
from ..ocppj import MessageKind, call, call_error, call_result, parse_frame
from .answers import AnswerBook, default_answer
from .plan import Plan, Step, our_direction, recorded_start_datetime
from .rewrite import Rewriter
from .transports import Connector, ReplayConnectError, Transport, TransportClosed
from .verdict import DEFAULT_IGNORE, STATUSES, Verdict, VerdictRow, diff_payloads, ignore_for

ProgressCallback = Callable[["ReplayProgress"], None]

FLUSH_EVERY_S = 0.05
"""Frame lines wait at most this long (s) in memory before they go to the capture file in one write."""
FLUSH_LINES = 256
"""... or until this many are waiting. Opens, closes and the end of the replay flush at once."""


@dataclass
class ReplayOptions:
    """How to run a plan. ``speed``: None replays as fast as the peer answers (``--pace reply``,
    also what ``--speed max`` means); a number scales the recorded timing (1 = real time, 60 = a
    minute per second). Times in seconds."""

    speed: float | None = None
    reply_timeout_s: float = 10.0
    peer_timeout_s: float = 10.0
    connect_timeout_s: float = 10.0
    ignore: tuple[str, ...] = DEFAULT_IGNORE
    shift_times: bool = True
    map_transactions: bool = True
    progress: ProgressCallback | None = None
    before_step: Callable[[int, Step], Awaitable[None]] | None = None
    """Awaited before each step with (plan index, step): step-by-step control from a notebook (await
    a user's go-ahead), breakpoints, or logging. The step's timeouts start after it returns."""


@dataclass
class ReplayProgress:
    """Passed to the progress callback after every step: steps done of total, rows so far, rate."""

    steps_done: int
    steps_total: int
    counts: dict[str, int]
    elapsed_s: float
    frames: int

    def line(self) -> str:
        rate = self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0
        counts = " ".join(f"{k} {v}" for k, v in self.counts.items() if v)
        return (f"replay: {self.steps_done}/{self.steps_total} steps, {counts or 'no rows yet'}, "
                f"{rate:,.0f} frames/s")


@dataclass
class ReplayResult:
    """The verdict and, when one was written, the replay's capture path(s)."""

    verdict: Verdict
    capture_paths: list[str] = field(default_factory=list)
    transaction_ids: dict[int, int] = field(default_factory=dict)
    """recorded transactionId -> live one, as learnt from StartTransaction.conf."""


class FrameClock:
    """``records.now_ts()`` (UTC, microseconds, ``Z``) at a fraction of its cost: the date and time
    of day are formatted once per second, the microseconds appended. Called for every frame."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now_ts(self) -> str:
        second, micro = divmod(time.time_ns() // 1000, 1_000_000)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{micro:06d}Z"


_FRAME_TYPE = rec.RecordType.FRAME.value


def frame_line(ts: str, connection_id: str, direction: Direction, text: str, replay_of: int | None) -> bytes:
    """The capture line of a text frame: what ``encode_record(records.frame(...))`` writes, byte for
    byte (same keys, same order; a test pins it), built without records.frame's checks for binary
    content. orjson writes the same line as the writer's json.dumps (compact, no ASCII escaping)."""
    record = {"type": _FRAME_TYPE, "ts": ts, "connection_id": connection_id, "direction": direction.value,
              "text": text}
    if replay_of is not None:
        record["replay_of"] = replay_of
    return orjson.dumps(record) + b"\n"


class _Run:
    """State shared by the charge points of one replay."""

    def __init__(self, plan: Plan, connector: Connector, writer: CaptureWriter | None, options: ReplayOptions) -> None:
        self.plan = plan
        self.connector = connector
        self.writer = writer
        self.options = options
        self.verdict = Verdict()
        self.counts = dict.fromkeys(STATUSES, 0)  # of verdict.rows, by status
        self.ours = our_direction(plan.role)
        self.theirs = self.ours.reverse
        start = recorded_start_datetime(plan)
        shift = None
        if options.shift_times and start is not None:
            shift = dt.datetime.now(dt.timezone.utc) - start
            # Whole seconds (the first frame within a second before now): fractions of a second are
            # then kept as written, and shifting a time costs a third (rewrite.shift_time_text).
            shift -= dt.timedelta(microseconds=shift.microseconds)
        self.rewriter = Rewriter(shift, map_transactions=options.map_transactions)
        self.replay_seq = itertools.count()
        self.connection_ids = itertools.count(1)
        self.default_transaction_ids = itertools.count(1)
        self.steps_done = 0
        self._lines: list[bytes] = []  # frame lines not yet written (see flush)
        self._flush_timer: asyncio.TimerHandle | None = None
        self._write_error: CaptureWriteError | None = None
        self.clock = FrameClock()
        # Fresh message ids: random per run, a counter within it (unique on every connection, as
        # OCPP-J asks), instead of a uuid4 per request.
        self.message_id_prefix = secrets.token_hex(6)
        self.message_numbers = itertools.count(1)
        self.started = time.monotonic()
        self.first_t_s = plan.steps[0].t_s if plan.steps else 0.0

    # -- capture ---------------------------------------------------------------------------------

    def write_frame(self, connection_id: str, direction: Direction, text: str, replay_of: int | None) -> int:
        seq = next(self.replay_seq)
        if direction == self.ours:
            self.verdict.frames_sent += 1
        else:
            self.verdict.frames_received += 1
        if self.writer is not None:
            if self._write_error is not None:
                raise self._write_error
            self._lines.append(frame_line(self.clock.now_ts(), connection_id, direction, text, replay_of))
            if len(self._lines) >= FLUSH_LINES:
                self.flush()
            elif self._flush_timer is None:
                self._flush_timer = asyncio.get_running_loop().call_later(FLUSH_EVERY_S, self._flush_soon)
        return seq

    def flush(self) -> None:
        """Write the waiting frame lines in one write(2). Batched, not one write per frame: at a few
        thousand frames/s the syscalls were a large part of the replayer's CPU. Every frame still
        reaches the file: at the latest FLUSH_EVERY_S later, before any open or close record (so
        the order is kept), and when the replay ends (run_plan flushes before it returns)."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if self._write_error is not None:
            raise self._write_error
        if not self._lines or self.writer is None:
            return
        lines, self._lines = self._lines, []
        if self.writer.rotate_bytes:  # a rotated file must start on a whole line: one at a time
            for line in lines:
                self.writer.write_frame_line(line)
        else:
            self.writer.write_frame_line(b"".join(lines))
            self.writer.records_written += len(lines) - 1  # it counted the batch as one record

    def _flush_soon(self) -> None:
        self._flush_timer = None
        try:
            self.flush()
        except CaptureWriteError as error:  # raised in the replay's own tasks at their next write
            self._write_error = error

    def write(self, record: dict[str, Any]) -> None:
        if self.writer is not None:
            self.flush()
            self.writer.write(record)

    def row(self, row: VerdictRow) -> None:
        self.verdict.rows.append(row)
        self.counts[row.status] += 1

    def step_done(self) -> None:
        self.steps_done += 1
        if self.options.progress is not None:
            # Counted as rows come (Verdict.counts() walks every row: once per step, a fleet's replay
            # was quadratic in its steps).
            self.options.progress(ReplayProgress(self.steps_done, len(self.plan.steps), dict(self.counts),
                                                 time.monotonic() - self.started,
                                                 self.verdict.frames_sent + self.verdict.frames_received))

    async def pace(self, step: Step) -> None:
        """With a speed, sleep until the step's recorded offset scaled by it."""
        if self.options.speed is None:
            return
        due = self.started + (step.t_s - self.first_t_s) / self.options.speed
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


class _ChargePointRun:
    """One charge point's steps, connection by connection."""

    def __init__(self, run: _Run, charge_point_id: str) -> None:
        self.run = run
        self.cp = charge_point_id
        self.steps = run.plan.steps_of(charge_point_id)
        self.book = AnswerBook(self.steps)
        self.arrived: dict[int, asyncio.Event] = {i: asyncio.Event() for i, s in self.steps if s.kind == "expect"}
        # (position in self.steps, step) of the expect steps: waits look at these only, not at every step
        self.expects = [(p, i, s) for p, (i, s) in enumerate(self.steps) if s.kind == "expect"]
        self.given_up: set[int] = set()
        self._settled = 0  # self.expects[:_settled] have arrived or were given up
        self.transport: Transport | None = None
        self.connection_id = ""
        self.reader: asyncio.Task[None] | None = None
        self.pending: dict[str, tuple[int, Step, asyncio.Future[tuple[Any, int]]]] = {}
        self.closed: TransportClosed | None = None
        self.closing = False
        self.position = 0  # position in self.steps of the step running now
        self._done_sends: set[int] = set()  # plan indexes of sends whose reply came (or ended)
        # The reply wait: one outstanding request per charge point at a time, so one deadline and at
        # most one timer handle (re-armed only when it fires early), not a timer and a cancel scope
        # per request (asyncio.timeout): that was a large part of the replayer's own CPU per request.
        self._reply_waiter: asyncio.Future[tuple[Any, int]] | None = None
        self._reply_deadline = 0.0
        self._reply_timer: asyncio.TimerHandle | None = None

    async def execute(self) -> None:
        try:
            for position, (index, step) in enumerate(self.steps):
                self.position = position
                if self.run.options.before_step is not None:
                    await self.run.options.before_step(index, step)
                if step.kind == "connect":
                    if not await self._connect(index, step, position):
                        return
                elif step.kind == "send":
                    await self._send(index, step, position)
                elif step.kind == "close":
                    await self._close(index, step, position)
                self.run.step_done()
            await self._wait_expected(len(self.steps))
        finally:
            self._cancel_reply_timer()
            await self._stop_reader()
            for index, step in self.book.pending:
                if index not in self.given_up:
                    self.run.row(VerdictRow(self.cp, index, step.kind, step.action, "missing",
                                            recorded_seq=step.seq, detail="the peer never sent this request"))

    # -- steps -----------------------------------------------------------------------------------

    async def _connect(self, index: int, step: Step, position: int) -> bool:
        await self.run.pace(step)
        await self._wait_expected(position)
        try:
            self.transport = await self.run.connector.connect(self.cp, step.auth_user, self.run.options.connect_timeout_s)
        except ReplayConnectError as exc:
            self.run.verdict.connection_errors += 1
            not_run = sum(1 for _i, later in self.steps[position + 1:] if later.kind in ("send", "expect"))
            self.run.row(VerdictRow(self.cp, index, "connect", None, "error",
                                    detail=f"{exc}; {not_run} later step(s) of {self.cp} not run"))
            for later_index, later in self.steps[position + 1:]:
                if later.kind == "expect":
                    self.given_up.add(later_index)  # reported once, by this error row
            return False
        self.closed = None
        self.closing = False
        self.connection_id = f"r{next(self.run.connection_ids)}"
        facts = self.transport.facts
        self.run.write(rec.connection_open(
            ts=rec.now_ts(), connection_id=self.connection_id, charge_point_id=self.cp, url_path=facts.url_path,
            client_address=facts.client_address, subprotocols_offered=facts.subprotocols_offered,
            subprotocol=facts.subprotocol, charger_tls=facts.charger_tls, auth_scheme="Basic" if facts.auth_user else None,
            auth_user=facts.auth_user, auth_password_present=facts.auth_password_present))
        self.reader = asyncio.get_running_loop().create_task(self._read(self.transport))
        return True

    async def _send(self, index: int, step: Step, position: int) -> None:
        run = self.run
        # Both only when they can have something to do: two coroutines fewer per request at max speed.
        if run.options.speed is not None:
            await run.pace(step)
        if self._settled < len(self.expects):  # else every expect has arrived or was given up
            await self._wait_expected(position)
        if self.transport is None or self.closed is not None:
            why = f"the connection was closed by the peer ({self.closed.code})" if self.closed else "no connection"
            run.row(VerdictRow(self.cp, index, "send", step.action, "missing", recorded_seq=step.reply_seq,
                               detail=f"not sent: {why}"))
            return
        payload = run.rewriter.request(step.action, step.payload)
        message_id = f"{run.message_id_prefix}-{next(run.message_numbers)}"
        future: asyncio.Future[tuple[Any, int]] = asyncio.get_running_loop().create_future()
        self.pending[message_id] = (index, step, future)
        text = call(message_id, step.action or "", payload)
        sent_seq = run.write_frame(self.connection_id, run.ours, text, step.seq)
        try:
            await self.transport.send(text)
            self._await_reply_by(future, run.options.reply_timeout_s)
            parsed, reply_seq = await future  # TimeoutError from _reply_deadline_passed
        except TimeoutError:
            run.row(VerdictRow(self.cp, index, "send", step.action, "timeout", recorded_seq=step.reply_seq,
                               replayed_seq=sent_seq,
                               detail=f"no reply within {run.options.reply_timeout_s:g} s"))
            return
        except TransportClosed as closed:
            run.row(VerdictRow(self.cp, index, "send", step.action, "missing", recorded_seq=step.reply_seq,
                               replayed_seq=sent_seq,
                               detail=f"no reply: the connection was closed ({closed.code})"))
            return
        finally:
            self._reply_waiter = None
            self.pending.pop(message_id, None)
            self._done_sends.add(index)
        self._judge_reply(index, step, parsed, reply_seq)

    def _await_reply_by(self, future: asyncio.Future[tuple[Any, int]], timeout_s: float) -> None:
        """Fail ``future`` with TimeoutError if it is not done within ``timeout_s`` seconds."""
        loop = asyncio.get_running_loop()
        self._reply_waiter = future
        self._reply_deadline = loop.time() + timeout_s
        if self._reply_timer is None:
            self._reply_timer = loop.call_at(self._reply_deadline, self._reply_deadline_passed)

    def _reply_deadline_passed(self) -> None:
        self._reply_timer = None
        future = self._reply_waiter
        if future is None or future.done():
            return  # the next request arms a new timer
        loop = asyncio.get_running_loop()
        if loop.time() >= self._reply_deadline:
            future.set_exception(TimeoutError())
        else:  # armed for an earlier request: the waiting one has until its own deadline
            self._reply_timer = loop.call_at(self._reply_deadline, self._reply_deadline_passed)

    def _cancel_reply_timer(self) -> None:
        if self._reply_timer is not None:
            self._reply_timer.cancel()
            self._reply_timer = None

    def _judge_reply(self, index: int, step: Step, parsed: Any, reply_seq: int) -> None:
        run = self.run
        row = VerdictRow(self.cp, index, "send", step.action, "matched", recorded_seq=step.reply_seq,
                         replayed_seq=reply_seq)
        if step.reply_kind is None:
            row.status, row.detail = "unexpected", f"a {parsed.kind.value} where the recording has no reply"
        elif parsed.kind is MessageKind.CALLERROR:
            if step.reply_kind != "CALLERROR":
                row.status = "differs"
                row.detail = f"CALLERROR {parsed.error_code}: {parsed.error_description}".rstrip(": ")
            elif parsed.error_code != (step.reply or {}).get("errorCode"):
                row.status = "differs"
                row.detail = f"CALLERROR {parsed.error_code}, recorded {(step.reply or {}).get('errorCode')}"
        elif step.reply_kind == "CALLERROR":
            row.status, row.detail = "differs", f"a CALLRESULT where the recording has CALLERROR {(step.reply or {}).get('errorCode')}"
        else:
            ignore = ignore_for(step.action, run.options.ignore)
            if step.action == "StartTransaction":
                run.rewriter.transactions.learn(step.reply, parsed.payload)
                ignore = (*ignore, "/transactionId")  # the live CSMS assigns its own; mapped from here on
            row.diffs = diff_payloads(step.reply, parsed.payload, ignore)
            if row.diffs:
                row.status = "differs"
        run.row(row)

    async def _close(self, index: int, step: Step, position: int) -> None:
        await self.run.pace(step)
        await self._wait_expected(position)
        peer = "csms" if self.run.plan.role == "charger" else "charger"
        if step.closed_by == peer and self.transport is not None and self.closed is None:
            # The peer closed in the recording: let it (a replayer closing first would be what differs).
            timeout_s = self.run.options.peer_timeout_s
            if self.reader is not None:
                await asyncio.wait({self.reader}, timeout=timeout_s)
            if self.closed is None:
                self.run.row(VerdictRow(self.cp, index, "close", None, "timeout",
                                        detail=f"the {peer} did not close the connection within {timeout_s:g} s "
                                               f"as recorded (code {step.close_code}); the replayer closed it"))
        if self.transport is not None and self.closed is None:
            self.closing = True
            code = step.close_code or 1000
            try:
                await asyncio.wait_for(self.transport.close(code), self.run.options.connect_timeout_s)
            except (TimeoutError, TransportClosed, OSError):
                pass
            self.run.write(rec.connection_close(
                ts=rec.now_ts(), connection_id=self.connection_id, close_code=code,
                closed_by=ClosedBy.CHARGER if self.run.plan.role == "charger" else ClosedBy.CSMS))
        await self._stop_reader()
        self.transport = None

    async def _wait_expected(self, position: int) -> None:
        """Wait (bounded) for the peer requests recorded before plan position ``position``."""
        # Arrived and given up are for good: the expects before the cursor are settled, so each
        # step looks at the unsettled ones only (not at every expect before it, step after step).
        expects = self.expects
        while (self._settled < len(expects) and (expects[self._settled][1] in self.given_up
                                                 or self.arrived[expects[self._settled][1]].is_set())):
            self._settled += 1
        waiting = []
        for k in range(self._settled, len(expects)):  # (no slice: that would copy the rest each step)
            expect_position, i, s = expects[k]
            if expect_position >= position:
                break
            if i not in self.given_up and not self.arrived[i].is_set():
                waiting.append((i, s))
        if not waiting:
            return
        if self.closed is not None or self.transport is None:
            return  # nothing can arrive; reported as missing at the end
        events = [asyncio.ensure_future(self.arrived[i].wait()) for i, _ in waiting]
        _done, not_done = await asyncio.wait(events, timeout=self.run.options.peer_timeout_s)
        for task in not_done:
            task.cancel()
        for i, s in waiting:
            if not self.arrived[i].is_set():
                self.given_up.add(i)
                self.book.pending = [(j, t) for j, t in self.book.pending if j != i]
                self.run.row(VerdictRow(self.cp, i, "expect", s.action, "timeout", recorded_seq=s.seq,
                                        detail=f"the peer did not send it within {self.run.options.peer_timeout_s:g} s"))

    # -- the reader ------------------------------------------------------------------------------

    async def _stop_reader(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            try:
                await self.reader
            except (asyncio.CancelledError, Exception):  # noqa: S110 - its rows are already written
                pass
            self.reader = None

    async def _read(self, transport: Transport) -> None:
        run = self.run
        try:
            while True:
                text = await transport.recv()
                await self._take(transport, text)
        except TransportClosed as closed:
            self.closed = closed
            if not self.closing:
                expected = self._close_was_recorded_here()
                run.write(rec.connection_close(
                    ts=rec.now_ts(), connection_id=self.connection_id, close_code=closed.code,
                    close_reason=closed.reason,
                    closed_by=ClosedBy.CSMS if run.plan.role == "charger" else ClosedBy.CHARGER))
                if not expected:
                    run.row(VerdictRow(self.cp, None, "close", None, "unexpected",
                                       detail=f"the peer closed the connection ({closed.code} {closed.reason})".strip()))
            for _index, _step, future in list(self.pending.values()):
                if not future.done():
                    future.set_exception(closed)

    def _close_was_recorded_here(self) -> bool:
        """Whether the connection may end now: nothing of it is left to send or to receive, so the
        recording ended here too (e.g. a charger that leaves after its last request, as recorded)."""
        for offset, (index, step) in enumerate(self.steps[self.position:]):
            if step.kind == "close" or (step.kind == "connect" and offset > 0):
                break
            if step.kind == "send" and index not in self._done_sends:
                return False
            if step.kind == "expect" and index not in self.given_up and not self.arrived[index].is_set():
                return False
        return True

    async def _take(self, transport: Transport, text: str) -> None:
        run = self.run
        parsed = parse_frame(text)
        if parsed.kind in (MessageKind.CALLRESULT, MessageKind.CALLERROR):
            waiting = self.pending.get(parsed.unique_id or "")
            replay_of = waiting[1].reply_seq if waiting else None
            seq = run.write_frame(self.connection_id, run.theirs, text, replay_of)
            if waiting is None:
                run.row(VerdictRow(self.cp, None, "reply", None, "unexpected", replayed_seq=seq,
                                   detail=f"a {parsed.kind.value} to no outstanding request ({parsed.unique_id})"))
            elif not waiting[2].done():
                self._done_sends.add(waiting[0])  # now, not when the sender wakes: a close may follow at once
                waiting[2].set_result((parsed, seq))
            return
        if parsed.kind is not MessageKind.CALL:
            seq = run.write_frame(self.connection_id, run.theirs, text, None)
            run.row(VerdictRow(self.cp, None, "request", None, "unexpected", replayed_seq=seq,
                               detail=f"not an OCPP-J message: {parsed.parse_error}"))
            return
        action = parsed.action or ""
        taken = self.book.match(action, parsed.payload, lambda s: run.rewriter.expected(s.action, s.payload))
        if taken is not None:
            index, step = taken
            seq = run.write_frame(self.connection_id, run.theirs, text, step.seq)
            expected = run.rewriter.expected(step.action, step.payload)
            diffs = diff_payloads(expected, parsed.payload, ignore_for(action, run.options.ignore))
            run.row(VerdictRow(self.cp, index, "expect", action, "differs" if diffs else "matched",
                               recorded_seq=step.seq, replayed_seq=seq, diffs=diffs))
            answer = self._recorded_answer(parsed.unique_id or "", step)
            answer_of = step.reply_seq
            arrived: asyncio.Event | None = self.arrived[index]
        else:
            seq = run.write_frame(self.connection_id, run.theirs, text, None)
            again = self.book.recorded_answer_for(action)
            if again is not None:
                answer = self._recorded_answer(parsed.unique_id or "", again)
                how = "answered as recorded before"
            else:
                answer, how = self._default_answer(parsed.unique_id or "", action)
            answer_of, arrived = None, None
            run.row(VerdictRow(self.cp, None, "expect", action, "unexpected", replayed_seq=seq,
                               detail=f"a request the recording does not have; {how}"))
        run.write_frame(self.connection_id, run.ours, answer, answer_of)
        try:
            await transport.send(answer)
        except TransportClosed:
            pass  # the reader sees the close next
        if arrived is not None:
            arrived.set()  # after the answer left: a close waiting for it cannot overtake it

    def _recorded_answer(self, message_id: str, step: Step) -> str:
        if step.reply_kind == "CALLERROR":
            reply = step.reply or {}
            return call_error(message_id, reply.get("errorCode") or "GenericError",
                              reply.get("errorDescription") or "", reply.get("errorDetails") or {})
        if step.reply_kind is None:
            return self._default_answer(message_id, step.action or "")[0]
        return call_result(message_id, self.run.rewriter.answer(step.reply))

    def _default_answer(self, message_id: str, action: str) -> tuple[str, str]:
        payload = default_answer(action)
        if payload is None:
            return (call_error(message_id, "NotImplemented", f"unknown action {action}"),
                    "answered CALLERROR NotImplemented")
        if "currentTime" in payload:
            payload["currentTime"] = rec.now_ts()[:-4] + "Z"  # milliseconds, as OCPP peers write
        if "transactionId" in payload:
            payload["transactionId"] = next(self.run.default_transaction_ids)
        return call_result(message_id, payload), "answered with a default answer"


def replay_header(plan: Plan, target: str | None, **extra: Any) -> dict[str, Any]:
    """The header of a replay's capture (``proxy_mode`` ``replay``; the source and role recorded)."""
    return rec.header(tool="ocpp-workbench replay", tool_version=__version__, proxy_mode="replay",
                      upstream_url=target, replay_source=plan.source, replay_role=plan.role, **extra)


async def run_plan(plan: Plan, connector: Connector, *, writer: CaptureWriter | None = None,
                   options: ReplayOptions | None = None) -> ReplayResult:
    """Run every charge point of ``plan`` at once over ``connector``; returns the verdict.

    ``writer``: where the replay's capture goes (None: no capture). Never raises for what the peer
    does; a connection that cannot be made is an ``error`` row (exit code 2 when nothing else ran).
    """
    options = options or ReplayOptions()
    run = _Run(plan, connector, writer, options)
    runs = [_ChargePointRun(run, cp) for cp in plan.charge_point_ids]
    try:
        await asyncio.gather(*(r.execute() for r in runs))
    finally:
        run.flush()  # every frame in the file before the caller closes it
    run.verdict.duration_s = time.monotonic() - run.started
    # Rows in plan order; surprises (no step) last, in the order they came.
    run.verdict.rows.sort(key=lambda row: (row.step is None, row.step if row.step is not None else 0))
    paths = [str(p) for p in writer.paths] if writer is not None else []
    return ReplayResult(run.verdict, paths, dict(run.rewriter.transactions.live_by_recorded))
