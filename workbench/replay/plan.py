"""The sans-io replay plan: what to send, what to expect back and how to answer the peer.

A :class:`Plan` is an ordered list of :class:`Step` built from a capture, pure data: no sockets, no
clocks. The engine (:mod:`.engine`) runs it over a transport. Steps of one charge point run in plan
order; charge points run side by side.

Step kinds, seen from the side the replayer plays (``role``):

* ``connect``: open the next connection of this charge point (as the charger: dial the target; as
  the CSMS: wait for the charger to dial in).
* ``send``: send a recorded request of our side (``action``, ``payload``); the peer must answer as
  recorded (``reply_kind`` and ``reply``).
* ``expect``: the peer sent this request in the recording; when it arrives, we answer with the
  recorded ``reply``. Later ``send`` steps wait for it (causal order, with a timeout).
* ``close``: close the connection with the recorded close code (1006: drop the link without a
  close frame, as a charger losing power does).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..capture.records import Direction
from ..ocppj import MessageKind, parse_frame

if TYPE_CHECKING:
    import pandas as pd

    from ..analysis import Capture

ROLES = ("charger", "csms")
STEP_KINDS = ("connect", "send", "expect", "close")


def our_direction(role: str) -> Direction:
    """The direction of the frames the replayer sends when playing ``role``."""
    if role not in ROLES:
        raise ValueError(f"role must be 'charger' or 'csms', not {role!r}")
    return Direction.CHARGER_TO_CSMS if role == "charger" else Direction.CSMS_TO_CHARGER


@dataclass
class Step:
    """One thing the replayer does or waits for. Times are seconds after the first recorded frame.

    ``seq`` is the ``frames.seq`` of the recorded request (send/expect), ``reply_seq`` that of its
    recorded reply (None when the recording has none, or for a step inserted by hand).
    ``reply_kind`` is ``CALLRESULT``, ``CALLERROR`` or None (no reply recorded); for a CALLERROR,
    ``reply`` holds ``{"errorCode", "errorDescription", "errorDetails"}``.
    """

    charge_point_id: str
    kind: str
    t_s: float = 0.0
    connection: int = 0
    action: str | None = None
    payload: dict[str, Any] | None = None
    seq: int | None = None
    reply_kind: str | None = None
    reply: dict[str, Any] | None = None
    reply_seq: int | None = None
    reply_t_s: float | None = None
    close_code: int | None = None
    closed_by: str | None = None
    """Who closed the connection in the recording (``charger``, ``csms``; None: unknown or the proxy).
    When it is the peer of the role played, the replayer waits for the peer to close (bounded)."""
    auth_user: str | None = None
    url_path: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in STEP_KINDS:
            raise ValueError(f"step kind must be one of {', '.join(STEP_KINDS)}, not {self.kind!r}")


@dataclass
class Plan:
    """An ordered list of steps for one role; see the module docstring. Edits return a new plan."""

    role: str
    steps: list[Step] = field(default_factory=list)
    source: str | None = None
    recorded_start: str | None = None
    """UTC ISO time of the first recorded frame (payload timestamps are shifted from it)."""

    def __post_init__(self) -> None:
        our_direction(self.role)  # validates the role

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def from_capture(cls, capture: Capture | str | os.PathLike[str], *, charge_point: str | Iterable[str] | None = None,
                     role: str = "charger") -> Plan:
        """A plan replaying ``capture`` (a :class:`~workbench.Capture` or a path) as ``role``.

        ``charge_point``: one id or several; None takes every charge point of the capture.
        """
        from ..analysis import Capture, load

        source = None
        if not isinstance(capture, Capture):
            source = str(capture)
            capture = load(capture)
        elif capture.paths:
            source = str(capture.paths[0])
        plan = cls.from_frames(capture.frames, capture.connections, charge_point=charge_point, role=role)
        plan.source = source
        return plan

    @classmethod
    def from_frames(cls, frames: pd.DataFrame, connections: pd.DataFrame | None = None, *,
                    charge_point: str | Iterable[str] | None = None, role: str = "charger") -> Plan:
        """A plan from a frames table (``wb.load(...).frames``, possibly edited: rows dropped, ``raw``
        changed). ``connections`` (the connections table) supplies close codes and Basic Auth users."""
        ours = our_direction(role).value
        wanted = _wanted_ids(charge_point)
        if len(frames) == 0:
            return cls(role=role)
        start = frames["ts"].min()
        closes: dict[str, int | None] = {}
        closers: dict[str, str | None] = {}
        users: dict[str, str | None] = {}
        paths: dict[str, str | None] = {}
        close_ts: dict[str, Any] = {}
        open_ts: dict[str, Any] = {}
        if connections is not None and len(connections):
            for row in connections.itertuples(index=False):
                code = getattr(row, "close_code", None)
                closes[row.connection_id] = None if _missing(code) else int(code)
                closers[row.connection_id] = _text_or_none(getattr(row, "closed_by", None))
                users[row.connection_id] = _text_or_none(getattr(row, "auth_user", None))
                paths[row.connection_id] = _text_or_none(getattr(row, "url_path", None))
                close_ts[row.connection_id] = getattr(row, "close_ts", None)
                open_ts[row.connection_id] = getattr(row, "ts", None)

        steps_by_cp: dict[str, list[Step]] = {}
        open_calls: dict[tuple[str, str, str], Step] = {}  # (connection, requester direction, id) -> step
        connection_index: dict[str, int] = {}
        last_connection: dict[str, str] = {}
        for row in frames.sort_values("seq", kind="stable").itertuples(index=False):
            cp = _text_or_none(row.charge_point_id)
            if cp is None or (wanted is not None and cp not in wanted):
                continue
            steps = steps_by_cp.setdefault(cp, [])
            t_s = (row.ts - start).total_seconds()
            conn = row.connection_id
            if last_connection.get(cp) != conn:
                if cp in last_connection:
                    steps.append(_close_step(cp, last_connection[cp], connection_index[cp], closes,
                                             closers, close_ts, start, steps[-1].t_s))
                connection_index[cp] = connection_index.get(cp, -1) + 1
                last_connection[cp] = conn
                opened = open_ts.get(conn)
                connect_t_s = t_s
                if opened is not None and not _missing(opened) and str(opened) != "NaT":
                    connect_t_s = max(steps[-1].t_s if steps else 0.0, min(t_s, (opened - start).total_seconds()))
                steps.append(Step(cp, "connect", t_s=connect_t_s, connection=connection_index[cp],
                                  auth_user=users.get(conn), url_path=paths.get(conn)))
            parsed = parse_frame(row.raw if isinstance(row.raw, str) else None)
            if parsed.kind is MessageKind.CALL:
                kind = "send" if row.direction == ours else "expect"
                step = Step(cp, kind, t_s=t_s, connection=connection_index[cp], action=parsed.action,
                            payload=parsed.payload, seq=int(row.seq))
                steps.append(step)
                open_calls[(conn, row.direction, parsed.unique_id)] = step
            elif parsed.kind in (MessageKind.CALLRESULT, MessageKind.CALLERROR):
                requester = Direction(row.direction).reverse.value
                step = open_calls.pop((conn, requester, parsed.unique_id), None)
                if step is None:
                    continue  # a reply to nothing recorded: nothing to replay or expect
                step.reply_seq = int(row.seq)
                step.reply_t_s = t_s
                step.reply_kind = parsed.kind.value
                if parsed.kind is MessageKind.CALLRESULT:
                    step.reply = parsed.payload
                else:
                    step.reply = {"errorCode": parsed.error_code, "errorDescription": parsed.error_description,
                                  "errorDetails": parsed.payload}
            # invalid frames are not replayed: the plan holds only what OCPP-J can carry
        for cp, conn in last_connection.items():
            end_t = steps_by_cp[cp][-1].t_s
            steps_by_cp[cp].append(_close_step(cp, conn, connection_index[cp], closes, closers, close_ts, start, end_t))
        # Interleave charge points by time, keeping each one's own order.
        merged = sorted((step for steps in steps_by_cp.values() for step in steps), key=lambda s: s.t_s)
        return cls(role=role, steps=merged, recorded_start=start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))

    # -- views ---------------------------------------------------------------------------------

    @property
    def charge_point_ids(self) -> list[str]:
        """Charge points of the plan, in order of first appearance."""
        return list(dict.fromkeys(step.charge_point_id for step in self.steps))

    def steps_of(self, charge_point_id: str) -> list[tuple[int, Step]]:
        """``(plan index, step)`` of one charge point, in plan order."""
        return [(i, s) for i, s in enumerate(self.steps) if s.charge_point_id == charge_point_id]

    def __len__(self) -> int:
        return len(self.steps)

    def to_frame(self) -> pd.DataFrame:
        """The plan as a table: one row per step, the plan index as the index."""
        import pandas as pd

        columns = list(Step.__dataclass_fields__)
        return pd.DataFrame([asdict(step) for step in self.steps], columns=columns)

    def to_text(self) -> str:
        """One line per step, for ``--plan`` and notebooks."""
        lines = [f"plan: role {self.role}, {len(self.steps)} steps, "
                 f"{len(self.charge_point_ids)} charge point(s)" + (f", from {self.source}" if self.source else "")]
        for i, s in enumerate(self.steps):
            head = f"{i:5d} {s.t_s:9.3f}s {s.charge_point_id} #{s.connection} {s.kind:7s}"
            if s.kind in ("send", "expect"):
                reply = s.reply_kind or "no reply recorded"
                body = json.dumps(s.payload, separators=(",", ":"))
                if len(body) > 80:
                    body = body[:77] + "..."
                lines.append(f"{head} {s.action} {body} -> {reply} (seq {s.seq})")
            elif s.kind == "close":
                lines.append(f"{head} code {s.close_code}" + (f" by the {s.closed_by}" if s.closed_by else ""))
            else:
                lines.append(f"{head} as {s.auth_user or s.charge_point_id}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    # -- editing (each returns a new plan; the original stays as it was) -----------------------

    def select(self, *, index: int | Iterable[int] | None = None, kind: str | None = None,
               action: str | None = None, charge_point_id: str | None = None,
               where: Callable[[Step], bool] | None = None) -> list[int]:
        """Plan indexes of the steps matching every given criterion."""
        indexes = {index} if isinstance(index, int) else (set(index) if index is not None else None)
        chosen = []
        for i, step in enumerate(self.steps):
            if indexes is not None and i not in indexes:
                continue
            if kind is not None and step.kind != kind:
                continue
            if action is not None and step.action != action:
                continue
            if charge_point_id is not None and step.charge_point_id != charge_point_id:
                continue
            if where is not None and not where(step):
                continue
            chosen.append(i)
        return chosen

    def drop(self, **criteria: Any) -> Plan:
        """A plan without the steps :meth:`select` picks (e.g. ``drop(action="StopTransaction")``)."""
        gone = set(self.select(**criteria))
        return replace(self, steps=[copy.deepcopy(s) for i, s in enumerate(self.steps) if i not in gone])

    def insert(self, position: int, step: Step) -> Plan:
        """A plan with ``step`` inserted before plan index ``position`` (``len(plan)`` appends)."""
        steps = [copy.deepcopy(s) for s in self.steps]
        steps.insert(position, step)
        return replace(self, steps=steps)

    def modify(self, change: Callable[[Step], Step | None], **criteria: Any) -> Plan:
        """A plan where ``change`` was applied to a copy of each selected step (it may edit the step
        in place and return None, or return a new step)."""
        chosen = set(self.select(**criteria))
        steps = []
        for i, s in enumerate(self.steps):
            s = copy.deepcopy(s)
            if i in chosen:
                s = change(s) or s
            steps.append(s)
        return replace(self, steps=steps)

    def set_field(self, pointer: str, value: Any, *, in_reply: bool = False, **criteria: Any) -> Plan:
        """A plan where the JSON pointer ``pointer`` of each selected step's payload (or recorded
        reply) is set to ``value``, e.g. ``set_field("/status", "Faulted", action="StatusNotification")``."""

        def change(step: Step) -> None:
            target = step.reply if in_reply else step.payload
            if target is None:
                raise ValueError(f"step {step.action} has no {'reply' if in_reply else 'payload'} to edit")
            set_pointer(target, pointer, value)

        return self.modify(change, **criteria)

    def scale_energy(self, factor: float, **criteria: Any) -> Plan:
        """A plan whose Energy.Active.Import.Register samples (MeterValues, transactionData) are
        multiplied by ``factor`` (0.001 turns Wh into kWh numbers still labelled Wh)."""

        def change(step: Step) -> None:
            for key in ("meterValue", "transactionData"):
                for meter_value in (step.payload or {}).get(key) or []:
                    for sample in meter_value.get("sampledValue") or []:
                        measurand = sample.get("measurand", "Energy.Active.Import.Register")
                        if measurand == "Energy.Active.Import.Register":
                            sample["value"] = _format_number(float(sample["value"]) * factor)

        criteria.setdefault("kind", "send")
        return self.modify(change, **criteria)

    def rebase_energy(self, start_wh: float = 0.0) -> Plan:
        """A plan whose energy register readings (meterStart, meterStop, Energy.Active.Import.Register
        samples) start at ``start_wh`` on every connector of every charge point, keeping each
        connector's differences, so energies stay as recorded (for a CSMS that checks readings
        against a meter it knows). Sent requests only; the register of a connector is shifted by
        ``start_wh`` minus its first recorded reading."""
        offsets: dict[tuple[str, int], float] = {}
        connector_of_transaction: dict[tuple[str, Any], int] = {}
        steps = [copy.deepcopy(s) for s in self.steps]
        for step in steps:
            payload = step.payload or {}
            if step.kind != "send" or step.action not in ("StartTransaction", "StopTransaction", "MeterValues"):
                continue
            if step.action == "StartTransaction":
                connector = payload.get("connectorId")
                if step.reply and "transactionId" in step.reply:
                    connector_of_transaction[(step.charge_point_id, step.reply["transactionId"])] = connector
            elif step.action == "MeterValues":
                connector = payload.get("connectorId")
            else:
                connector = connector_of_transaction.get((step.charge_point_id, payload.get("transactionId")))
            key = (step.charge_point_id, connector)
            readings = _register_readings(payload)
            if key not in offsets:
                first = payload.get("meterStart", readings[0][0][readings[0][1]] if readings else None)
                if first is None:
                    continue
                offsets[key] = start_wh - float(first)
            offset = offsets[key]
            for field_name in ("meterStart", "meterStop"):
                if field_name in payload:
                    payload[field_name] = int(round(float(payload[field_name]) + offset))
            for sample, name in readings:
                sample[name] = _format_number(float(sample[name]) + offset)
        return replace(self, steps=steps)

    def rename(self, charge_points: dict[str, str] | None = None, id_tags: dict[str, str] | None = None) -> Plan:
        """A plan with charge point ids (``OLD -> NEW``) and idTags/parentIdTags replaced everywhere."""
        charge_points = charge_points or {}
        id_tags = id_tags or {}

        def change(step: Step) -> None:
            new_id = charge_points.get(step.charge_point_id)
            if new_id is not None:
                if step.auth_user == step.charge_point_id:
                    step.auth_user = new_id
                step.charge_point_id = new_id
            if id_tags:
                for part in (step.payload, step.reply):
                    _replace_id_tags(part, id_tags)

        return self.modify(change)


# -- helpers ----------------------------------------------------------------------------------

def _wanted_ids(charge_point: str | Iterable[str] | None) -> set[str] | None:
    if charge_point is None:
        return None
    if isinstance(charge_point, str):
        return {charge_point}
    return set(charge_point)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _close_step(cp: str, conn: str, index: int, closes: dict[str, int | None], closers: dict[str, str | None],
                close_ts: dict[str, Any], start: Any, fallback_t_s: float) -> Step:
    when = close_ts.get(conn)
    t_s = fallback_t_s
    if when is not None and not _missing(when) and str(when) != "NaT":
        t_s = max(fallback_t_s, (when - start).total_seconds())
    closer = closers.get(conn)
    return Step(cp, "close", t_s=t_s, connection=index, close_code=closes.get(conn, 1000) or 1000,
                closed_by=closer if closer in ROLES else None)


def _pointer_parts(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"a JSON pointer starts with '/': {pointer!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


def set_pointer(document: Any, pointer: str, value: Any) -> None:
    """Set ``document[pointer] = value`` (RFC 6901 pointer; list items by index)."""
    parts = _pointer_parts(pointer)
    if not parts:
        raise ValueError("cannot replace the whole payload with a pointer; use modify()")
    target = document
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last = parts[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value


def _replace_id_tags(node: Any, id_tags: dict[str, str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("idTag", "parentIdTag") and isinstance(value, str) and value in id_tags:
                node[key] = id_tags[value]
            else:
                _replace_id_tags(value, id_tags)
    elif isinstance(node, list):
        for item in node:
            _replace_id_tags(item, id_tags)


def _register_readings(payload: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """``(sampled value, "value")`` of every Energy.Active.Import.Register sample in Wh of a payload."""
    found = []
    for key in ("meterValue", "transactionData"):
        for meter_value in payload.get(key) or []:
            for sample in meter_value.get("sampledValue") or []:
                if sample.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register" \
                        and sample.get("unit", "Wh") == "Wh":
                    found.append((sample, "value"))
    return found


def _format_number(value: float) -> str:
    """A sampled value as OCPP writes it: a decimal string without a needless exponent."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def recorded_start_datetime(plan: Plan) -> dt.datetime | None:
    """The UTC datetime of the plan's first recorded frame, or None."""
    if not plan.recorded_start:
        return None
    return dt.datetime.fromisoformat(plan.recorded_start.replace("Z", "+00:00"))

