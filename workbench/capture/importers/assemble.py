"""Found frames -> capture v1 records: direction, charge point, time order and connections.

Every format's reader ends here, so inference is the same for all of them:

- direction: what the source says; ``sent``/``received`` resolved by voting on which side sends
  the CALLs whose sender the spec fixes (BootNotification, MeterValues come from the charger);
  unknown CALLs by their action; replies as the reverse of the request they answer.
- charge point: from the line, else ``charge_point_id`` given by the user, else the only one seen.
- time: the log line's time (never the payload's); a frame without one takes the previous
  frame's (order kept); a source read newest-first is put back in order and noted.
- connections: one synthesized ``connection_open`` per charge point and per session the source
  names, just before that connection's first frame.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from ocpp.v16.enums import Action

from .. import identity
from .. import records as rec
from ...ocppj import MessageKind, parse_frame
from .found import ConnectionFacts, FoundFrame, LineStatus, ReaderOutput, Said

Direction = rec.Direction
# Enum members as module constants: looked up once, not once per frame in the loops below.
CALL, INVALID = MessageKind.CALL, MessageKind.INVALID
SENT, RECEIVED = Said.SENT, Said.RECEIVED
SAID_CHARGER, SAID_CSMS = Said.CHARGER_TO_CSMS, Said.CSMS_TO_CHARGER
TO_CSMS, TO_CHARGER = Direction.CHARGER_TO_CSMS, Direction.CSMS_TO_CHARGER

# OCPP 1.6 (and its security whitepaper) messages initiated by the charge point. DataTransfer
# goes both ways, so it is in neither set. Every other action is initiated by the CSMS.
CHARGER_ACTIONS = frozenset({
    Action.authorize, Action.boot_notification, Action.diagnostics_status_notification,
    Action.firmware_status_notification, Action.heartbeat, Action.meter_values,
    Action.start_transaction, Action.status_notification, Action.stop_transaction,
    Action.security_event_notification, Action.sign_certificate, Action.log_status_notification,
    Action.signed_firmware_status_notification,
})
CSMS_ACTIONS = frozenset(Action) - CHARGER_ACTIONS - {Action.data_transfer}
CHARGER_ACTION_NAMES = frozenset(a.value for a in CHARGER_ACTIONS)
CSMS_ACTION_NAMES = frozenset(a.value for a in CSMS_ACTIONS)

# Who writes logs of each dialect when its words are relative ("send"/"receive").
LOGGER_IS = {"steve": "csms", "ocpp-python": "csms", "evcc": "csms", "microocpp": "charger"}
UNKNOWN_CHARGE_POINT = "unknown"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def action_side(action: str | None) -> Direction | None:
    """The direction a CALL of ``action`` travels by the spec, or None (DataTransfer, unknown)."""
    if action in CHARGER_ACTION_NAMES:
        return TO_CSMS
    if action in CSMS_ACTION_NAMES:
        return TO_CHARGER
    return None


def _logger_sides(frames: list[FoundFrame], parsed: list[Any], out: ReaderOutput) -> dict[str | None, str]:
    """Per dialect: is the log written by the charger or by the CSMS? Voted from CALL actions."""
    votes: dict[str | None, Counter[str]] = {}
    for frame, message in zip(frames, parsed):
        if frame.said not in (SENT, RECEIVED) or message is None or message.kind is not CALL:
            continue
        side = action_side(message.action)
        if side is None:
            continue
        charger_sent = side is TO_CSMS
        logger = "charger" if (frame.said is SENT) == charger_sent else "csms"
        votes.setdefault(frame.dialect, Counter())[logger] += 1
    sides: dict[str | None, str] = {}
    for dialect in sorted({f.dialect for f in frames if f.said in (SENT, RECEIVED)}, key=str):
        counted = votes.get(dialect)
        if counted and counted["charger"] != counted["csms"]:
            sides[dialect] = counted.most_common(1)[0][0]
        else:
            sides[dialect] = LOGGER_IS.get(dialect or "", "csms")
            out.note(None, f"{dialect} log: could not tell from the messages who wrote it; "
                           f"assumed the {sides[dialect]} ('sent' = {sides[dialect]} sent it)")
    return sides


def _directions(frames: list[FoundFrame], parsed: list[Any], cps: list[str], out: ReaderOutput) -> list[Direction]:
    sides = _logger_sides(frames, parsed, out)
    directions: list[Direction | None] = []
    for frame, message in zip(frames, parsed):
        if frame.said is SAID_CHARGER:
            directions.append(TO_CSMS)
        elif frame.said is SAID_CSMS:
            directions.append(TO_CHARGER)
        elif frame.said in (SENT, RECEIVED):
            charger_wrote = sides[frame.dialect] == "charger"
            sent = frame.said is SENT
            directions.append(TO_CSMS if sent == charger_wrote else TO_CHARGER)
        elif message is not None and message.kind is CALL:
            directions.append(action_side(message.action))
        else:
            directions.append(None)
    # Pair replies with requests (per charge point and message id) both ways until nothing changes.
    for _ in range(2 if None in directions else 0):
        requests: dict[tuple[str, str], int] = {}
        for index, message in enumerate(parsed):
            if message is None or message.unique_id is None:
                continue
            key = (cps[index], message.unique_id)
            if message.kind is CALL:
                requests[key] = index
            elif key in requests:
                request = requests[key]
                if directions[index] is None and directions[request] is not None:
                    directions[index] = directions[request].reverse
                elif directions[request] is None and directions[index] is not None:
                    directions[request] = directions[index].reverse
    _report_conflicts(frames, parsed, cps, out)
    unknown = [frame.line_no for frame, direction in zip(frames, directions) if direction is None]
    if unknown:
        # One note per file, not per frame: a log of bare frames can have many.
        shown = ", ".join(map(str, unknown[:20])) + (" ..." if len(unknown) > 20 else "")
        out.note(unknown[0], f"{len(unknown)} frames with no direction word, known action or request to pair "
                             f"with; assumed charger_to_csms", f"lines {shown}")
    return [direction or TO_CSMS for direction in directions]


def _stated(frame: FoundFrame) -> Direction | None:
    if frame.said is SAID_CHARGER:
        return TO_CSMS
    if frame.said is SAID_CSMS:
        return TO_CHARGER
    return None


def _report_conflicts(frames: list[FoundFrame], parsed: list[Any], cps: list[str], out: ReaderOutput) -> None:
    """Stated directions win over inference; where they contradict what inference would say (a
    CALL the spec has the other side send, a reply going the same way as its request), one note per
    kind says so, with the lines, so a wrong trace is not trusted silently."""
    against_action: list[str] = []
    same_as_request: list[str] = []
    requests: dict[tuple[str, str], int] = {}
    for index, (frame, message) in enumerate(zip(frames, parsed)):
        if message is None or message.unique_id is None:
            continue
        stated = _stated(frame)
        if message.kind is CALL:
            requests[(cps[index], message.unique_id)] = index
            side = action_side(message.action)
            if stated is not None and side is not None and stated is not side:
                against_action.append(f"{frame.line_no} ({message.action} stated {stated.value})")
        elif message.kind is not INVALID:
            request = requests.get((cps[index], message.unique_id))
            if request is not None and stated is not None and _stated(frames[request]) is stated:
                same_as_request.append(f"{frame.line_no} (reply to line {frames[request].line_no}, both {stated.value})")
    note_direction_conflicts(out, against_action, same_as_request)


def _charge_points(frames: list[FoundFrame], charge_point_id: str | None, out: ReaderOutput) -> list[str]:
    seen = {f.charge_point_id for f in frames if f.charge_point_id}
    fill = charge_point_id or (next(iter(seen)) if len(seen) == 1 else None)
    missing = sum(1 for f in frames if not f.charge_point_id)
    if missing and fill is None:
        fill = UNKNOWN_CHARGE_POINT
        out.note(None, f"{missing} frames name no charge point; give --charge-point-id; used {fill!r}")
    return [f.charge_point_id or fill for f in frames]  # type: ignore[misc]


def _times(frames: list[FoundFrame], out: ReaderOutput) -> list[dt.datetime]:
    known = [f.log_time for f in frames]
    if not any(known):
        if frames:
            out.note(None, "the source has no times; frames keep their order with synthetic times "
                           "1 microsecond apart from 1970-01-01T00:00:00Z")
        return [EPOCH + dt.timedelta(microseconds=i) for i in range(len(frames))]
    first = next(t for t in known if t is not None)
    times, last = [], first
    untimed = 0
    for when in known:
        if when is None:
            untimed += 1
            times.append(last)
        else:
            times.append(when)
            last = when
    if untimed:
        out.note(None, f"{untimed} frames have no time of their own; each takes the time of the frame before it "
                       "(the first timed frame's, at the start of the file)")
    return times


def _reverse_if_newest_first(frames: list[FoundFrame], out: ReaderOutput) -> list[FoundFrame]:
    times = [f.log_time for f in frames if f.log_time is not None]
    steps = list(zip(times, times[1:]))
    backwards = sum(1 for a, b in steps if b < a)
    forwards = sum(1 for a, b in steps if b > a)
    if backwards > forwards:
        out.note(None, f"frames were newest first ({backwards} of {len(steps)} steps go back in time); put in time order")
        return frames[::-1]
    return frames


def _id_source(frame: FoundFrame, given: str | None, cp: str) -> str:
    """How the charge point id of ``frame``'s connection was found (capture.identity.ID_SOURCES)."""
    if frame.charge_point_id:
        return frame.charge_point_id_source or identity.FROM_LOG
    if given:
        return identity.FROM_USER
    return identity.FROM_CONNECTION if cp == UNKNOWN_CHARGE_POINT else identity.FROM_LOG


def _ts_text(when: dt.datetime) -> str:
    """:func:`records.format_ts` of a UTC time, by ``isoformat`` (a quarter of ``strftime``'s cost)."""
    if when.tzinfo is dt.timezone.utc and when.year >= 1000:
        return when.isoformat(timespec="microseconds")[:-6] + "Z"
    return rec.format_ts(when)


def assemble(out: ReaderOutput, *, fmt: str, source: str, charge_point_id: str | None) -> tuple[dict, list[dict]]:
    """Build (header, records) from what a reader found; adds its notes to ``out.rows``."""
    frames = _reverse_if_newest_first(out.frames, out)
    parsed = [None if f.binary is not None else f.parsed or parse_frame(f.text) for f in frames]
    cps = _charge_points(frames, charge_point_id, out)
    directions = _directions(frames, parsed, cps, out)
    times = _times(frames, out)

    connection_ids: dict[tuple[str, str], str] = {}
    last_index: dict[str, int] = {}
    keys = []
    for index, (frame, cp) in enumerate(zip(frames, cps)):
        key = (cp, frame.connection_key or "")
        if key not in connection_ids:
            connection_ids[key] = f"import-{len(connection_ids) + 1}"
        keys.append(key)
        last_index[connection_ids[key]] = index

    records: list[dict] = []
    opened: set[str] = set()
    no_facts = ConnectionFacts()
    facts_of = {key: out.connections.get(key[1], no_facts) for key in connection_ids}
    direction_text = {d: d.value for d in Direction}
    for index, frame in enumerate(frames):
        key = keys[index]
        connection_id = connection_ids[key]
        facts = facts_of[key]
        ts = times[index]
        if connection_id not in opened:
            opened.add(connection_id)
            cp = cps[index]
            open_ts = min(ts, facts.opened) if facts.opened else ts
            records.append(rec.connection_open(
                ts=rec.format_ts(open_ts), connection_id=connection_id, charge_point_id=cp,
                charge_point_id_source=_id_source(frame, charge_point_id, cp),
                url_path=facts.url_path or f"/{cp}", client_address=facts.client_address,
                subprotocols_offered=[facts.subprotocol] if facts.subprotocol else ["ocpp1.6"],
                subprotocol=facts.subprotocol or "ocpp1.6", auth_scheme=facts.auth_scheme,
                auth_user=facts.auth_user, auth_password_present=facts.auth_password_present,
            ))
        if frame.binary is None and frame.proxy_action is None:
            # rec.frame's record for a text frame, built inline: this loop runs once per frame.
            ts_text = frame.ts_text if frame.ts_text is not None and ts is frame.log_time else _ts_text(ts)
            record = {"type": "frame", "ts": ts_text, "connection_id": connection_id,
                      "direction": direction_text[directions[index]], "text": frame.text}
        else:
            record = rec.frame(
                ts=_ts_text(ts), connection_id=connection_id, direction=directions[index],
                content=frame.binary if frame.binary is not None else frame.text,
                is_text=frame.binary is None, proxy_action=frame.proxy_action,
            )
        record["source_line"] = frame.line_no  # where the frame is in the imported file
        records.append(record)
        if facts.close_code is not None and last_index[connection_id] == index:
            close_ts = max(ts, facts.closed) if facts.closed else ts
            records.append(rec.connection_close(
                ts=rec.format_ts(close_ts), connection_id=connection_id, close_code=facts.close_code,
                close_reason=facts.close_reason, closed_by=facts.closed_by,
            ))
    out.frames = frames
    damaged = sum(1 for f in frames if f.problem is not None)
    header = import_header(records, fmt, source, out, frames=len(frames), damaged=damaged)
    return header, records


def import_header(records: list[dict], fmt: str, source: str, out: ReaderOutput, *, frames: int,
                  damaged: int) -> dict:
    """The header of an imported capture: where it came from and what the import found."""
    from ... import __version__

    return rec.header(
        tool="ocpp-workbench import",
        tool_version=__version__,
        started_at=records[0]["ts"] if records else None,
        proxy_mode=f"import:{fmt}",
        upstream_url=out.server_url,
        source_file=source,
        import_dialects=sorted(d for d in out.dialects if d),
        import_summary={
            "lines_read": out.lines_read,
            "frames_recovered": frames - damaged,
            "frames_damaged": damaged,
            "lines_skipped": sum(1 for r in out.rows if r["status"] == LineStatus.SKIPPED.value),
        },
    )


def note_direction_conflicts(out: ReaderOutput, against_action: list[str], same_as_request: list[str]) -> None:
    """One import-report note per kind of conflict between a stated direction and what the spec (a
    CALL's sender) or the request (its reply goes the other way) says; each lists up to 20 lines."""
    for lines, why in ((against_action, "CALLs stated to go the way the spec does not send them"),
                       (same_as_request, "replies stated to go the same way as their request")):
        if lines:
            shown = ", ".join(lines[:20]) + (" ..." if len(lines) > 20 else "")
            out.note(None, f"direction conflict: {len(lines)} {why}; kept the stated direction", f"lines {shown}")
