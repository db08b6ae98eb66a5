"""The fast path of the structured formats (NDJSON objects, Open OCPP Trace v1.1, ``{metadata,
events}`` JSON traces): records that state everything (direction in words that need no viewpoint, a
time with its zone) become capture records column by column, with no per-frame objects and no
inference.

It gives exactly what the general path (:func:`.structured.read_json_lines` or
:func:`.structured.read_json_document`, then :func:`.assemble.assemble`) gives, and hands the file
back to it (returns None) the moment that could differ: a frame without a stated direction, a time
without a zone, a binary or (NDJSON) array message, frames newest first. Lines or items that hold no
frame (metadata, invalid JSON, chatter) are read by the general reader either way; they only add
report rows.

A file of uniform records (nearly every file) is read column by column by :mod:`.uniform`; any
other is read here record by record. Per frame either costs one decode of the record and one of the
frame text (orjson, to know whether the frame is whole: the import report counts damaged frames).
The frames come out as columns (:class:`ImportedFrames`): ``load()`` hands them to the frames table
as they are; capture records are made only when asked for (``ImportResult.records``).
"""

from __future__ import annotations

import datetime as dt
import operator
from collections import Counter
from collections.abc import Sequence
from itertools import compress, repeat
from typing import Any

import orjson

from ... import jsonfast
from .. import identity
from .. import records as rec
from . import open_ocpp_trace, timestamps
from .assemble import (CHARGER_ACTION_NAMES, CSMS_ACTION_NAMES, SAID_CHARGER, SAID_CSMS, UNKNOWN_CHARGE_POINT,
                       import_header, note_direction_conflicts)
from .direction import said_from_word
from .found import FoundFrame, ReaderOutput, split_lines
from .jsonscan import check_frame
from .ocpp_version import votes_version
from .structured import (_blank_note, _first_of, _json_line, _Lines, _naive_note,
                         _object_frame_is_naive, _scan_objects, _shape_of, document_items)

TO_CSMS, TO_CHARGER = rec.Direction.CHARGER_TO_CSMS.value, rec.Direction.CSMS_TO_CHARGER.value
_loads = jsonfast.loads
_orjson_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
_orjson_dumps = orjson.dumps
MAX_DEPTH = jsonfast.MAX_DEPTH
_DEEP_CHARS = 2 * MAX_DEPTH  # a shorter text cannot nest deeper than the limit
# The direction the spec has each CALL travel (assemble.action_side), as text: looked up per CALL.
_SPEC_DIRECTION = {**dict.fromkeys(CHARGER_ACTION_NAMES, TO_CSMS), **dict.fromkeys(CSMS_ACTION_NAMES, TO_CHARGER)}
_UNSET = object()


class RegularFrames:
    """The frames of a regular file in file order: one tuple per frame (a tuple costs a fraction of
    an object's build), ``(line_no, text, ts, direction, charge point, connection key, type,
    message id, CALL action)``; ``ts`` as a capture writes it (so ordered as text), ``direction``
    as stated (charger_to_csms / csms_to_charger), ``type`` 2/3/4 or None for a damaged frame."""

    __slots__ = ("rows", "problem", "calls", "_columns", "parse_texts", "reply_ids")

    def __init__(self) -> None:
        self.rows: list[tuple[int, str, str, str, str | None, str | None, int | None, str | None, str | None]] = []
        self._columns: tuple[Sequence[Any], ...] | None = None  # the same, by column, when read so
        # per frame, None or its text written compactly when it is pretty-printed (see
        # FrameCollector.add_columns); None as a whole when no frame has one
        self.parse_texts: list[str | None] | None = None
        # per frame, its message id when it is a whole CALLRESULT as the frames table reads it (see
        # FrameCollector.add_columns), else None; None as a whole when not known
        self.reply_ids: list[str | None] | None = None
        self.problem: dict[int, str] = {}  # row index -> why the frame is damaged (rare)
        # (action, payload) of each CALL, for the version vote; payload None but for BootNotification
        self.calls: list[tuple[str, Any]] = []

    def __len__(self) -> int:
        return len(self.rows) if self._columns is None else len(self._columns[0])

    def columns(self) -> tuple[Sequence[Any], ...]:
        """The nine columns of the rows (each a sequence, one item per frame)."""
        if self._columns is None:
            self._columns = tuple(zip(*self.rows)) if self.rows else ((),) * 9
        return self._columns


def _whole(value: Any) -> tuple[int, str, str | None] | None:
    """(type, message id, action) of a whole OCPP-J message, what :func:`ocppj.parse_message`
    accepts; None for anything else (the caller asks :func:`check_frame` why)."""
    if type(value) is not list:
        return None
    size = len(value)
    if size < 3:
        return None
    kind, unique_id = value[0], value[1]
    if type(unique_id) is not str or type(kind) is bool:
        return None
    if kind == 2:
        if size == 4 and type(value[2]) is str and type(value[3]) is dict:
            return 2, unique_id, value[2]
    elif kind == 3:
        if size == 3 and type(value[2]) is dict:
            return 3, unique_id, None
    elif kind == 4:
        if size == 5 and type(value[2]) is str and type(value[3]) is str and type(value[4]) is dict:
            return 4, unique_id, None
    return None


def _load_record(line: str) -> Any:
    """:func:`jsonfast.loads` of a record line."""
    try:
        value = _orjson_loads(line)
    except _JSONDecodeError:
        return jsonfast.std_loads(line)
    # jsonfast.too_deep, its bracket count inline: this runs once per line
    if len(line) > _DEEP_CHARS and line.count("[") + line.count("{") > MAX_DEPTH and jsonfast.depth(value) > MAX_DEPTH:
        raise jsonfast.TooDeep()
    return value


class _Times:
    """Capture-format times checked once per minute (the date, hour and minute), not per frame."""

    def __init__(self) -> None:
        self.valid_minutes: dict[str, bool] = {}

    def canonical(self, value: Any) -> str | None:
        """``value`` as a capture writes times, when it is a time with its zone; None otherwise."""
        if type(value) is not str:
            return None
        # structured._is_capture_time, inline: this runs once per frame
        if len(value) == 27 and value[26] == "Z" and value[19] == "." and value[10] == "T" and value[0] != "0":
            minute = value[:17]  # "2024-05-01T10:00:"
            valid = self.valid_minutes.get(minute)
            if valid is None:
                valid = self.valid_minutes[minute] = timestamps.iso_with_zone(minute + "00.000000Z") is not None
            # what datetime.fromisoformat accepts in the rest: seconds 00-59, six digits of fraction
            if valid and value[17:19].isdigit() and value[17:19] < "60" and value[20:26].isdigit():
                return value
            return None
        when = timestamps.iso_with_zone(value)
        if when is None or when.when.year < 1000:
            return None
        return when.when.isoformat(timespec="microseconds")[:-6] + "Z"


def read_regular_lines(text: str, *, tz: dt.tzinfo) -> tuple[ReaderOutput, RegularFrames] | None:
    """What :func:`.structured.read_json_lines` reads, as rows; None when a frame is not regular."""
    out = ReaderOutput()
    frames = RegularFrames()
    lines = split_lines(text)
    out.lines_read = len(lines)
    from .uniform import read_uniform_lines  # the column path (it builds on this module)

    uniform = read_uniform_lines(lines, out)
    if uniform is not None:
        return out, uniform
    blank: list[int] = []
    defaults: dict[str, Any] = {}
    naive = 0
    said_of: dict[str, Any] = {}
    times = _Times()
    canonical = times.canonical
    adder = _FrameAdder(frames, out)
    add_frame, add_plain = adder.add, adder.add_plain
    loads, shape_of = _load_record, _shape_of
    direction_of: dict[str, str | None] = {}  # a direction word -> the direction it states, or None
    for line_no, line in enumerate(lines, start=1):
        frame = None
        stripped = line if line[:1] == "{" else line.strip()
        if stripped[:1] == "{":
            try:
                value = loads(stripped)
            except (ValueError, RecursionError):
                value = None
            if type(value) is dict and "metadata" not in value and value.get("type") != "meta":
                keys = _plain_keys(value)
                if keys is not None:
                    # The usual record: one key of each kind, a message string, a stated direction.
                    message_key, direction_key, time_key, cp_key, connection_key = keys
                    frame_text, word = value[message_key], value[direction_key]
                    direction = direction_of.get(word, _UNSET) if type(word) is str else None
                    if direction is _UNSET:
                        direction = direction_of[word] = _stated_direction(word)
                    ts = canonical(value[time_key])
                    if type(frame_text) is str and direction is not None and ts is not None:
                        cp = value[cp_key] if cp_key is not None else None
                        if type(cp) is not str:
                            cp = defaults.get("charge_point_id")
                        connection = value[connection_key] if connection_key is not None else None
                        if connection is not None and type(connection) is not str:
                            connection = str(connection)
                        add_plain(line_no, frame_text, ts, direction, cp, connection)
                        continue
                frame = _regular(value, shape_of(value), defaults, said_of, times)
        if frame is None:
            before = len(out.frames)
            naive += _json_line(line_no, line, line.strip(), tz, out, defaults, blank)
            if len(out.frames) > before:
                return None  # a frame the fast path does not read as the general path would
            continue
        add_frame(line_no, frame)
    _naive_note(out, naive, tz)
    _blank_note(out, blank)
    return out, frames


_PLAIN_KEYS: dict[tuple[str, ...], tuple[str, str, str, str | None, str | None] | None] = {}


def _plain_keys(record: dict[str, Any]) -> tuple[str, str, str, str | None, str | None] | None:
    """(message, direction, time, charge point, connection key) of a record with one key of each
    (the last two may be None), none of a version or viewpoint, and no Open OCPP Trace fields: the
    shape of nearly every line of a file, looked up once per set of keys."""
    keys = tuple(record)
    if keys in _PLAIN_KEYS:
        return _PLAIN_KEYS[keys]
    shape = _shape_of(record)
    plain = None
    if (not shape.trace_record and len(shape.message) == len(shape.direction) == len(shape.time) == 1
            and len(shape.cp) <= 1 and len(shape.connection) <= 1 and not shape.version and not shape.viewpoint
            and "message_b64" not in record):
        plain = (shape.message[0], shape.direction[0], shape.time[0], (shape.cp or (None,))[0],
                 (shape.connection or (None,))[0])
    if len(_PLAIN_KEYS) < 1024:  # files of ever-changing keys do not grow the cache without bound
        _PLAIN_KEYS[keys] = plain
    return plain


def _stated_direction(word: str) -> str | None:
    """The direction a direction word states without a viewpoint, or None."""
    said = said_from_word(word)
    return TO_CSMS if said is SAID_CHARGER else TO_CHARGER if said is SAID_CSMS else None


class _FrameAdder:
    """Adds a regular record's frame (what :func:`_regular` gives) to the rows: the stated version
    counted, the frame text decoded (orjson) to know whether it is a whole OCPP-J message."""

    def __init__(self, frames: RegularFrames, out: ReaderOutput) -> None:
        self.frames = frames
        self.stated_versions = out.stated_versions
        self.versions_said: dict[Any, str | None] = {}

    def add(self, line_no: int, frame: tuple) -> None:
        """Add what :func:`_regular` gives."""
        frame_text, ts, direction, cp, connection, version, decoded = frame
        if version is not None:
            stated = self.versions_said.get(version, _UNSET)
            if stated is _UNSET:
                stated = self.versions_said[version] = open_ocpp_trace.stated_version(version)
            if stated is not None:
                self.stated_versions[stated] += 1
        self.add_plain(line_no, frame_text, ts, direction, cp, connection, decoded)

    def add_plain(self, line_no: int, frame_text: str, ts: str, direction: str, cp: str | None,
                  connection: str | None, decoded: Any = _UNSET) -> None:
        """Add a frame with no stated version; ``decoded``: its text decoded, if it was already.
        The decoded frame is not kept: holding it costs more than the frames table's decode of it."""
        if decoded is _UNSET:
            try:
                decoded = _orjson_loads(frame_text)
            except _JSONDecodeError:
                try:
                    decoded = jsonfast.std_loads(frame_text)
                except (ValueError, RecursionError):
                    decoded = _UNSET
            else:
                # jsonfast.too_deep, inline
                if (len(frame_text) > _DEEP_CHARS and frame_text.count("[") + frame_text.count("{") > MAX_DEPTH
                        and jsonfast.depth(decoded) > MAX_DEPTH):
                    decoded = _UNSET  # as jsonfast.loads refuses it: a damaged frame
        whole = _whole(decoded) if decoded is not _UNSET else None
        rows = self.frames.rows
        if whole is None:
            self.frames.problem[len(rows)] = _damage(frame_text, decoded)
            rows.append((line_no, frame_text, ts, direction, cp, connection, None, None, None))
        else:
            kind, unique_id, action = whole
            if kind == 2:  # only a BootNotification's payload counts in the vote: no other is kept
                self.frames.calls.append((action, decoded[3] if action == "BootNotification" else None))
            rows.append((line_no, frame_text, ts, direction, cp, connection, kind, unique_id, action))


def read_regular_document(text: str, *, tz: dt.tzinfo, document: Any) -> tuple[ReaderOutput, RegularFrames] | None:
    """What :func:`.structured.read_json_document` reads from an array of objects (``{metadata,
    events}`` traces), as rows; None when a frame is not regular or the items are not all objects."""
    out = ReaderOutput()
    out.lines_read = text.count("\n") + (0 if text.endswith("\n") else 1)
    defaults: dict[str, Any] = {}
    found = document_items(text, document, out, defaults)
    if found is None:
        return None
    items, base = found
    from .uniform import read_uniform_document  # the column path (it builds on this module)

    uniform = read_uniform_document(text, items, base, defaults.get("charge_point_id"), out)
    if uniform is not None:
        return out, uniform
    scanned = _scan_objects(text, base, len(items))
    if scanned is None:
        return None
    frames = RegularFrames()
    add_frame = _FrameAdder(frames, out).add
    lines = _Lines(text)
    said_of: dict[str, Any] = {}
    times = _Times()
    for record, spans, start, end in scanned:
        line_no = lines.line_of(start)
        frame = _regular(record, _shape_of(record), defaults, said_of, times, spans, text)
        if frame is None:
            before = len(out.frames)
            _object_frame_is_naive(record, text[start:end], line_no, tz, out, defaults, spans, text)
            if len(out.frames) > before:
                return None
            continue
        add_frame(line_no, frame)
    return out, frames


def read_regular_trace(text: str) -> tuple[ReaderOutput, RegularFrames] | None:
    """What format detection then :func:`read_regular_document` read from a file that format
    detection would take for a ``{metadata, events}`` trace, by :func:`.uniform.read_uniform_trace`
    (no whole-document decode); None when that does not read it (then detection and the readers do)."""
    out = ReaderOutput()
    out.lines_read = -1  # counted with the items' lines (one pass over the text)
    from .uniform import read_uniform_trace  # the column path (it builds on this module)

    frames = read_uniform_trace(text, out, {})
    return None if frames is None else (out, frames)


def _damage(text: str, decoded: Any) -> str:
    """Why a frame is damaged, in :func:`.structured._checked`'s words."""
    if decoded is _UNSET:
        try:
            decoded = _loads(text)
        except ValueError:
            return check_frame(text)[0] or "invalid JSON"
        except RecursionError:
            return "invalid JSON: nested too deeply"
    problem, _ = check_frame(text, decoded=decoded, has_decoded=True)
    return problem or "not an OCPP-J frame"


def _regular(record: dict[str, Any], shape: Any, defaults: dict[str, Any], said_of: dict[str, Any],
             times: _Times, spans: dict[str, tuple[int, int]] | None = None, source: str | None = None) -> tuple | None:
    """(text, ts, direction, cp, connection, stated version, decoded message or _UNSET) of a record
    that states all of them as :func:`.structured.object_frame` reads them; None otherwise.
    ``spans`` (with ``source``): where each value stands in ``source``, for an array message."""
    decoded: Any = _UNSET
    if shape.trace_record:
        text = record.get("rawFrame")
        if type(text) is not str:
            if isinstance(record.get("rawFrameBase64"), str):
                return None
            decoded = open_ocpp_trace.message_of(record)
            if decoded is None:
                return None
            text = open_ocpp_trace.compact(decoded)
    else:
        if not shape.message:
            return None
        key, text = _first_of(record, shape.message)
        if type(text) is list and spans is not None:  # taken as written (spacing kept)
            start, end = spans[key]  # type: ignore[index]
            text, decoded = source[start:end], text  # type: ignore[index]
        elif type(text) is not str:
            return None
    said = None
    for key in shape.direction:
        word = record[key]
        if type(word) is str:
            said = said_of.get(word, _UNSET)
            if said is _UNSET:
                said = said_of[word] = said_from_word(word)
            if said:
                break
        else:
            said = None
    if said is SAID_CHARGER:
        direction = TO_CSMS
    elif said is SAID_CSMS:
        direction = TO_CHARGER
    else:
        return None  # no stated direction, or one relative to a viewpoint: the general path decides
    if not shape.time:
        return None
    ts = times.canonical(record[shape.time[0]] if len(shape.time) == 1 else _first_of(record, shape.time)[1])
    if ts is None:
        return None
    cp = record[shape.cp[0]] if len(shape.cp) == 1 else _first_of(record, shape.cp)[1]
    if type(cp) is not str:
        cp = defaults.get("charge_point_id")
    connection = record[shape.connection[0]] if len(shape.connection) == 1 else _first_of(record, shape.connection)[1]
    if connection is not None and type(connection) is not str:
        connection = str(connection)
    version = _first_of(record, shape.version)[1] if shape.version else None
    return text, ts, direction, cp, connection, version, decoded


class ImportedFrames:
    """The frames of a fast-path import, by column, and the ``connection_open`` record of each
    connection (``opened_at``: the index of its first frame, which it comes right before). load()
    hands the columns to the frames table as they are (:meth:`FrameCollector.add_columns`: no dict
    per frame); :meth:`records` makes them capture records."""

    __slots__ = ("connections", "opened_at", "ts", "connection_id", "direction", "text", "source_line",
                 "parse_texts", "reply_ids")

    def __init__(self, connections: list[dict], opened_at: list[int], ts: Sequence[str],
                 connection_id: list[str], direction: Sequence[str], text: Sequence[str],
                 source_line: Sequence[int], parse_texts: list[str | None] | None = None,
                 reply_ids: list[str | None] | None = None) -> None:
        self.connections, self.opened_at = connections, opened_at
        self.ts, self.connection_id, self.direction, self.text = ts, connection_id, direction, text
        self.source_line, self.parse_texts, self.reply_ids = source_line, parse_texts, reply_ids

    def __len__(self) -> int:
        return len(self.ts)

    def records(self) -> list[dict]:
        """The capture records, in the order :func:`.assemble.assemble` gives them."""
        records: list[dict] = []
        append = records.append
        opens = iter(zip(self.opened_at, self.connections))
        next_at, connection = next(opens, (-1, None))
        for index, (when, connection_id, direction, text, line_no) in enumerate(
                zip(self.ts, self.connection_id, self.direction, self.text, self.source_line)):
            if index == next_at:
                append(connection)
                next_at, connection = next(opens, (-1, None))
            append({"type": "frame", "ts": when, "connection_id": connection_id, "direction": direction,
                    "text": text, "source_line": line_no})
        return records


def assemble_regular(out: ReaderOutput, frames: RegularFrames, *, fmt: str, source: str,
                     charge_point_id: str | None) -> tuple[dict, ImportedFrames, list[str]] | None:
    """(header, the frames as :class:`ImportedFrames`, charge point per frame): what
    :func:`.assemble.assemble` builds from the same frames; None for frames newest first (the
    general path puts them in order). Column by column: a C loop each."""
    line_nos, texts, ts, directions, stated_cps, keys, kinds, unique_ids, actions = frames.columns()
    later = ts[1:]
    backwards = sum(map(operator.lt, later, ts))
    if backwards and backwards > sum(map(operator.gt, later, ts)):  # more steps back than on
        return None
    cps = _charge_points(list(stated_cps), charge_point_id, out)
    _report_conflicts(frames.columns(), cps, out)

    distinct = set(keys)
    if None in distinct and "" in distinct:  # no key and an empty key are the same connection
        keys = [key or "" for key in keys]
    # (charge point, key) pairs are made and dropped as they go (zip reuses its tuple): none is kept per frame
    connection_ids = {connection: f"import-{number}"
                      for number, connection in enumerate(dict.fromkeys(zip(cps, keys)), 1)}  # in order of first frames
    connection_column = list(map(connection_ids.__getitem__, zip(cps, keys)))
    connections: list[dict] = []
    opened_at: list[int] = []
    index = 0
    for (cp, _), connection_id in connection_ids.items():
        index = connection_column.index(connection_id, index)  # its first frame: after the one before's
        opened_at.append(index)
        connections.append(rec.connection_open(
            ts=ts[index], connection_id=connection_id, charge_point_id=cp,
            charge_point_id_source=_id_source(stated_cps[index], charge_point_id, cp),
            url_path=f"/{cp}", client_address=None, subprotocols_offered=["ocpp1.6"],
            subprotocol="ocpp1.6", auth_scheme=None, auth_user=None, auth_password_present=False,
        ))
    damaged = len(frames.problem)
    header = import_header(connections[:1], fmt, source, out, frames=len(ts), damaged=damaged)
    imported = ImportedFrames(connections, opened_at, ts, connection_column, directions, texts, line_nos,
                              frames.parse_texts, frames.reply_ids)
    return header, imported, cps


def _charge_points(stated: list[str | None], given: str | None, out: ReaderOutput) -> list[str]:
    """:func:`.assemble._charge_points` on a column."""
    if all(stated):
        return stated  # type: ignore[return-value]
    missing = sum(1 for cp in stated if not cp)
    seen = {cp for cp in stated if cp}
    fill = given or (next(iter(seen)) if len(seen) == 1 else None)
    if fill is None:
        fill = UNKNOWN_CHARGE_POINT
        out.note(None, f"{missing} frames name no charge point; give --charge-point-id; used {fill!r}")
    return [cp or fill for cp in stated]


def _id_source(stated: str | None, given: str | None, cp: str) -> str:
    """:func:`.assemble._id_source` for a frame whose charge point the record names or not."""
    if stated:
        return identity.FROM_LOG
    if given:
        return identity.FROM_USER
    return identity.FROM_CONNECTION if cp == UNKNOWN_CHARGE_POINT else identity.FROM_LOG


def _report_conflicts(columns: tuple[Sequence[Any], ...], cps: list[str], out: ReaderOutput) -> None:
    """:func:`.assemble._report_conflicts` on the columns (every direction here is stated). Rows are
    looked at one by one only when the columns show a conflict may be there (rare): a CALL going the
    way the spec does not send its action, or a message id both requested and answered the same way."""
    line_nos, _, _, directions, _, _, kinds, unique_ids, actions = columns
    calls = list(map(operator.eq, kinds, repeat(2)))
    replies = list(map(operator.contains, repeat((3, 4)), kinds))
    suspect = False
    for way in (TO_CSMS, TO_CHARGER):
        going = list(map(operator.eq, directions, repeat(way)))
        calls_going = list(map(operator.and_, calls, going))
        if any(_SPEC_DIRECTION.get(action, way) != way for action in set(compress(actions, calls_going))):
            suspect = True
            break
        replies_going = map(operator.and_, replies, going)
        if not set(compress(unique_ids, calls_going)).isdisjoint(compress(unique_ids, replies_going)):
            suspect = True  # (whether of the same charge point is for the rows to tell)
            break
    if not suspect:
        return
    against_action: list[str] = []
    same_as_request: list[str] = []
    requests: dict[tuple[str, str], tuple] = {}
    for line_no, direction, kind, unique_id, action, cp in zip(line_nos, directions, kinds, unique_ids, actions, cps):
        if kind is None:
            continue
        if kind == 2:
            requests[(cp, unique_id)] = (line_no, direction)
            side = _SPEC_DIRECTION.get(action)
            if side is not None and side != direction:
                against_action.append(f"{line_no} ({action} stated {direction})")
        else:
            request = requests.get((cp, unique_id))
            if request is not None and request[1] == direction:
                same_as_request.append(f"{line_no} (reply to line {request[0]}, both {direction})")
    note_direction_conflicts(out, against_action, same_as_request)


def damaged_frames(frames: RegularFrames, cps: list[str]) -> tuple[list[FoundFrame], list[str]]:
    """The damaged frames (and their charge points) as :func:`.report.build_report` takes them."""
    line_nos, texts = frames.columns()[:2]
    found = [FoundFrame(line_no=line_nos[i], text=texts[i], problem=problem)
             for i, problem in sorted(frames.problem.items())]
    return found, [cps[i] for i in sorted(frames.problem)]


def version_of(frames: RegularFrames, stated: Counter[str]) -> tuple[str, str]:
    """:func:`.ocpp_version.trace_version` of the frames."""
    return votes_version(frames.calls, stated)
