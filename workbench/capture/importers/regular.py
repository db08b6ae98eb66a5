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

Per frame it costs one decode of the record and one of the frame text (orjson, to know whether the
frame is whole: the import report counts damaged frames), a few dict reads, and the record.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections import Counter
from collections.abc import Sequence
from itertools import accumulate, chain, compress, repeat
from typing import Any

import orjson

from ... import jsonfast
from .. import identity
from .. import records as rec
from . import open_ocpp_trace, timestamps
from .assemble import (CHARGER_ACTION_NAMES, CSMS_ACTION_NAMES, SAID_CHARGER, SAID_CSMS, UNKNOWN_CHARGE_POINT,
                       import_header)
from .direction import said_from_word
from .found import FoundFrame, ReaderOutput, split_lines
from .jsonscan import check_frame
from .ocpp_version import votes_version
from .structured import (_SCAN_ONCE, _WHITESPACE, _blank_note, _first_of, _json_line, _Lines, _naive_note,
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
    uniform = _read_uniform_lines(lines, out)
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


# --- the usual file, column by column ------------------------------------------------------------
# Nearly every file of these formats is records of one set of keys, each a frame with a stated
# direction and a capture-format time. Such a file is read a column at a time: each step is one C
# loop (map, zip, set) over a chunk of records, and whole-file checks on the columns after. Anything
# else (a line that is not such a record, an unusual value) sends the file to the record-by-record
# reading above, which gives the same result. Records and decoded frames are held a chunk at a
# time: decoding into memory still in the CPU caches is twice as fast as holding every frame.

_CHUNK = 64
_CAPTURE_TIMES = re.compile(r"(?:[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-5][0-9]:[0-5][0-9]\.[0-9]{6}Z)*")
_HOUR = slice(0, 14)  # "2024-05-01T10:"
_NOT_WHOLE = (None, None, None)
_SCALARS = frozenset({str, int, float, bool, type(None)})
_TRACE_CONTAINERS = frozenset({"payload"})  # held in the message (of a CALL or CALLRESULT), depth checked there
_values_of = dict.values


def _brackets(texts: list[str]) -> int:
    """The most opening brackets in one of ``texts`` (more than :data:`MAX_DEPTH`: it may nest too deep)."""
    if not texts:
        return 0
    return max(map(operator.add, map(str.count, texts, repeat("[")), map(str.count, texts, repeat("{"))))


class _Uniform:
    """Reads records of one set of keys in chunks (:meth:`add`), then checks and assembles the
    columns (:meth:`frames`); either says None when the record-by-record path must read the file."""

    def __init__(self, first: Any) -> None:
        self.keys: tuple[str, ...] | None = None
        if type(first) is not dict:
            return
        keys = tuple(first)
        shape = _shape_of(first)
        if ("metadata" in keys or "type" in keys or "message_b64" in keys or "rawFrame" in keys
                or "rawFrameBase64" in keys or shape.viewpoint or len(shape.direction) != 1
                or len(shape.time) != 1 or len(shape.cp) > 1 or len(shape.connection) > 1 or len(shape.version) > 1
                or (not shape.trace_record and len(shape.message) != 1)):
            return
        self.keys, self.shape = keys, shape
        self.message = None if shape.trace_record else shape.message[0]
        # keys whose values the reading does not take apart: each must hold a scalar, so that no
        # record nests deeper than the limit (a record that does is not a frame, line by line)
        scalar_keys = [k for k in keys if k not in (_TRACE_CONTAINERS if shape.trace_record else (self.message,))]
        self.scalar_values = operator.itemgetter(*scalar_keys, *scalar_keys[:1])  # always a tuple (2+ keys)
        self.texts: list[str] = []
        self.words: list[Any] = []
        self.times: list[Any] = []
        self.cps: list[Any] = []
        self.connections: list[Any] = []
        self.versions: list[Any] = []
        self.envelopes: list[tuple[Any, Any, Any]] = []
        self.by_orjson: list[bool] = []  # per frame: its text decoded by orjson (what the frames table does)
        self.frames = RegularFrames()

    def add(self, records: list[Any], texts: list[str] | None = None, messages: list[Any] | None = None,
            depth_texts: list[str] | None = None) -> bool:
        """Take a chunk of records. ``texts`` and ``messages``: their frame texts and those decoded
        (a document's, the texts as written), or None to take and decode each record's message
        string; ``depth_texts``: texts of the same values to count their brackets in, if not
        ``texts``. False: read record by record."""
        if set(map(type, records)) != {dict} or set(map(tuple, records)) != {self.keys}:
            return False
        shape = self.shape
        if messages is None and not shape.trace_record:
            values = chain.from_iterable(map(_values_of, records))
        else:  # but the message's (a document's array) or the payload's (an Open OCPP Trace's)
            values = chain.from_iterable(map(self.scalar_values, records))
        if not set(map(type, values)) <= _SCALARS:
            return False
        if shape.trace_record:
            messages = _trace_messages(records, self.keys)
            if None in messages:
                return False
            texts = _compact_all(messages)
            if _brackets(texts) > MAX_DEPTH:
                return False  # the record may nest too deep
        elif texts is None:
            texts = list(map(operator.itemgetter(self.message), records))
            if set(map(type, texts)) != {str}:
                return False
        elif _brackets(depth_texts or texts) > MAX_DEPTH:
            return False  # the record-by-record path decides what a deep message is
        self.texts.extend(texts)
        self.words.extend(map(operator.itemgetter(shape.direction[0]), records))
        self.times.extend(map(operator.itemgetter(shape.time[0]), records))
        if shape.cp:
            self.cps.extend(map(operator.itemgetter(shape.cp[0]), records))
        if shape.connection:
            self.connections.extend(map(operator.itemgetter(shape.connection[0]), records))
        if shape.version:
            self.versions.extend(map(operator.itemgetter(shape.version[0]), records))
        wholes, by_orjson = _envelopes(texts, messages, self.frames, len(self.envelopes))
        self.envelopes.extend(wholes)
        # a document's messages may come from the standard library's decoder: not known to be orjson's
        self.by_orjson.extend(repeat(by_orjson and (messages is None or shape.trace_record), len(wholes)))
        return True

    def result(self, line_nos: Sequence[int], default_cp: str | None, out: ReaderOutput) -> RegularFrames | None:
        """The frames of the records taken, as :func:`_regular` and :class:`_FrameAdder` read them."""
        try:
            direction_of = {word: _stated_direction(word) if type(word) is str else None for word in set(self.words)}
            versions = Counter(self.versions)
        except TypeError:  # an unhashable value
            return None
        if None in direction_of.values() or not _capture_times(self.times):
            return None
        count = len(self.texts)
        cps = self.cps or [None] * count
        if set(map(type, cps)) != {str}:
            cps = [cp if type(cp) is str else default_cp for cp in cps]
        connections = self.connections or [None] * count
        if not set(map(type, connections)) <= {str, type(None)}:
            connections = [c if c is None or type(c) is str else str(c) for c in connections]
        for version, times in versions.items():
            said = open_ocpp_trace.stated_version(version) if version is not None else None
            if said is not None:
                out.stated_versions[said] += times
        kinds, unique_ids, actions = zip(*self.envelopes) if self.envelopes else ((), (), ())
        readings = self.texts if self.frames.parse_texts is None else [
            text if compact is None else compact for text, compact in zip(self.texts, self.frames.parse_texts)]
        by_orjson = self.by_orjson if self.frames.parse_texts is None else [
            decoded or compact is not None for decoded, compact in zip(self.by_orjson, self.frames.parse_texts)]
        # "[3," : the type an integer, as the frames table requires (3.0 is a whole frame here, not there)
        self.frames.reply_ids = [unique_id if kind == 3 and decoded and reading.startswith("[3,") else None
                                 for kind, unique_id, decoded, reading in zip(kinds, unique_ids, by_orjson, readings)]
        self.frames._columns = (line_nos, self.texts, self.times, list(map(direction_of.__getitem__, self.words)),
                                cps, connections, kinds, unique_ids, actions)
        return self.frames


_TRACE_TYPES = {"CALL": 2, "CALLRESULT": 3}


def _trace_messages(records: list[dict[str, Any]], keys: tuple[str, ...]) -> list[list[Any] | None]:
    """:func:`.open_ocpp_trace.message_of` of each record: by column when every record is a CALL or
    a CALLRESULT spelled as the published shape has them (nearly always)."""
    numbers = list(map(_TRACE_TYPES.get, map(operator.itemgetter("messageType"), records)))
    if not set(numbers) <= {2, 3}:
        # a CALLERROR's message may hold part of its payload only: the record's own depth is checked
        if any(number is None and jsonfast.depth(record.get("payload")) >= MAX_DEPTH
               for number, record in zip(numbers, records)):
            return [None]
        return list(map(open_ocpp_trace.message_of, records))
    count = len(records)
    unique_ids = list(map(operator.itemgetter("messageId"), records)) if "messageId" in keys else [None] * count
    actions = list(map(operator.itemgetter("action"), records)) if "action" in keys else [None] * count
    payloads = list(map(operator.itemgetter("payload"), records)) if "payload" in keys else [None] * count
    if None in payloads:
        payloads = [{} if payload is None else payload for payload in payloads]
    return [[2, unique_id, action, payload] if number == 2 else [3, unique_id, payload]
            for number, unique_id, action, payload in zip(numbers, unique_ids, actions, payloads)]


def _compact_all(messages: list[Any]) -> list[str]:
    """:func:`.open_ocpp_trace.compact` of each message, in two C loops when orjson can write them all."""
    try:
        texts = list(map(bytes.decode, map(_orjson_dumps, messages)))
    except (TypeError, orjson.JSONEncodeError):
        return list(map(open_ocpp_trace.compact, messages))
    if any(map(operator.contains, texts, repeat("null"))):
        return [open_ocpp_trace.compact(message) if "null" in text else text for text, message in zip(texts, messages)]
    return texts


def _capture_times(times: list[Any]) -> bool:
    """True when every value is a time as a capture writes it (what :meth:`_Times.canonical` gives
    back unchanged), checked in a few C loops."""
    if not times:
        return True
    if set(map(type, times)) != {str} or set(map(len, times)) != {27}:
        return False
    if _CAPTURE_TIMES.fullmatch("".join(times)) is None:
        return False
    # minutes and seconds 00-59 (above): the time is valid when its date and hour are
    return all(timestamps.iso_with_zone(hour + "00:00.000000Z") is not None
               for hour in set(map(operator.getitem, times, repeat(_HOUR))))


def _envelopes(texts: list[str], decoded: list[Any] | None, frames: RegularFrames,
               first: int) -> tuple[list[tuple[Any, Any, Any]], bool]:
    """((type, message id, action) of each frame text (``first``: the row of the first), _NOT_WHOLE
    for a damaged frame (its problem in ``frames.problem``); whether orjson decoded every text).
    The CALLs go to ``frames.calls``. ``decoded``: the texts decoded, when they were; else each is
    decoded here."""
    by_orjson = True
    if decoded is None:
        try:
            decoded = list(map(_orjson_loads, texts))
        except _JSONDecodeError:
            decoded, by_orjson = [_decode_frame(text) for text in texts], False
        if _brackets(texts) > MAX_DEPTH:  # as jsonfast.loads: a frame nested too deeply is refused (damaged)
            decoded = [_UNSET if message is not _UNSET and len(text) > _DEEP_CHARS and jsonfast.too_deep(text, message)
                       else message for text, message in zip(texts, decoded)]
    wholes = _wholes(decoded)
    if wholes is None:
        wholes = [_whole(message) or _NOT_WHOLE for message in decoded]
    # only a BootNotification's payload counts in the version vote: no other is kept
    actions = list(map(_third, wholes))
    if "BootNotification" in actions:
        frames.calls.extend([(whole[2], message[3] if whole[2] == "BootNotification" else None)
                             for whole, message in zip(wholes, decoded) if whole[0] == 2])
    else:
        frames.calls.extend(zip(compress(actions, map(operator.eq, map(_first, wholes), repeat(2))), repeat(None)))
    if _NOT_WHOLE in wholes:
        for offset, whole in enumerate(wholes):
            if whole is _NOT_WHOLE:
                frames.problem[first + offset] = _damage(texts[offset], decoded[offset])
    return wholes, by_orjson


_first, _second, _third, _fourth = (operator.itemgetter(i) for i in range(4))


def _wholes(decoded: list[Any]) -> list[tuple[int, str, str | None]] | None:
    """``[_whole(message) for message in decoded]`` in C loops, when every message is a whole CALL or
    CALLRESULT (its type an int); None otherwise (then :func:`_whole` tells, one by one)."""
    if not decoded or set(map(type, decoded)) != {list} or min(map(len, decoded)) < 3:
        return None
    kinds = list(map(_first, decoded))
    if set(map(type, kinds)) != {int} or set(map(type, map(_second, decoded))) != {str}:
        return None
    thirds = list(map(_third, decoded))
    if not set(zip(kinds, map(len, decoded), map(type, thirds))) <= {(2, 4, str), (3, 3, dict)}:
        return None
    calls = list(map(operator.eq, kinds, repeat(2)))
    if any(calls) and set(map(type, map(_fourth, compress(decoded, calls)))) != {dict}:
        return None
    return list(zip(kinds, map(_second, decoded), [third if call else None for third, call in zip(thirds, calls)]))


def _decode_frame(text: str) -> Any:
    """A frame text as :func:`jsonfast.loads` decodes it (its depth checked apart), _UNSET when it cannot."""
    try:
        return _orjson_loads(text)
    except _JSONDecodeError:
        try:
            return jsonfast.std_loads(text)
        except (ValueError, RecursionError):
            return _UNSET


def _read_uniform_lines(lines: list[str], out: ReaderOutput) -> RegularFrames | None:
    """The frames of a file of lines, column by column, when every line is a record of the same keys."""
    uniform = None
    try:
        for start in range(0, len(lines), _CHUNK):
            records = list(map(_orjson_loads, lines[start:start + _CHUNK]))
            if uniform is None:
                uniform = _Uniform(records[0])
                if uniform.keys is None:
                    return None
            if not uniform.add(records):
                return None
    except _JSONDecodeError:
        return None
    if uniform is None:
        return None
    return uniform.result(range(1, len(lines) + 1), None, out)


_SPACE = "[ \t\n\r]*"
_NEXT_ITEM = re.compile(_SPACE + r"\}" + _SPACE + "," + _SPACE + r"(\{)")
_SCALAR_TEXT = r'(?:"[^"\\]*"|-?[0-9][0-9.eE+-]*|true|false|null)'
_match_start, _match_end = re.Match.start, re.Match.end
_group_start = operator.methodcaller("start", 1)


def _read_uniform_document(text: str, items: list[Any], base: int, default_cp: str | None,
                           out: ReaderOutput) -> RegularFrames | None:
    """:class:`_Uniform` on the items of a document (``base``: where their array starts in ``text``):
    items of the same keys, the message key last, every message an array (as @ocpp-debugkit's
    traces write them). Each message is taken as written: its text is sliced from ``text`` (as
    :func:`.structured._scan_objects` would), its value is the document's."""
    if not items:
        return None
    uniform = _Uniform(items[0])
    if uniform.keys is None or uniform.message is None or uniform.keys[-1] != uniform.message:
        return None
    if set(map(type, items)) != {dict} or set(map(tuple, items)) != {uniform.keys}:
        return None
    messages = list(map(operator.itemgetter(uniform.message), items))
    if set(map(type, messages)) != {list}:
        return None  # messages as strings (or mixed): the record-by-record path
    located = _item_starts_by_key(text, base, uniform.keys, len(items))
    if located is None:
        return None
    item_starts, spans = located
    parse_texts: list[str | None] = []
    for start in range(0, len(items), _CHUNK):
        texts = [text[a:b] for a, b in spans[start:start + _CHUNK]]
        chunk = messages[start:start + _CHUNK]
        compacts = _compacts_or_none(chunk)
        # nesting is counted on the compact texts (shorter: no spacing), the written one where there is none
        depth_texts = compacts if None not in compacts else [
            written if compact is None else compact for written, compact in zip(texts, compacts)]
        if not uniform.add(items[start:start + _CHUNK], texts, chunk, depth_texts):
            return None
        parse_texts.extend(compacts)
    uniform.frames.parse_texts = parse_texts
    # 1-based line of each item's opening brace: the newlines before it, counted between items
    line_nos = list(accumulate(map(text.count, repeat("\n"), [0] + item_starts[:-1], item_starts), initial=1))[1:]
    return uniform.result(line_nos, default_cp, out)


def _compacts_or_none(messages: list[Any]) -> list[str | None]:
    """Each message written as compact JSON that decodes to the same value, or None when that is
    not sure: orjson writes NaN and infinities (of a document the standard library decoded) as null,
    so a text with a null is not used; nor one orjson cannot write (integers beyond 64 bits)."""
    try:
        compacts: list[str | None] = list(map(bytes.decode, map(_orjson_dumps, messages)))
    except (TypeError, orjson.JSONEncodeError):
        return [_compact_or_none(message) for message in messages]
    if any(map(operator.contains, compacts, repeat("null"))):
        return [None if "null" in compact else compact for compact in compacts]  # type: ignore[operator]
    return compacts


def _compact_or_none(message: Any) -> str | None:
    """:func:`_compacts_or_none` of one message."""
    try:
        compact = _orjson_dumps(message).decode()
    except (TypeError, orjson.JSONEncodeError):
        return None
    return None if "null" in compact else compact


def _item_starts_by_key(text: str, base: int, keys: tuple[str, ...],
                        count: int) -> tuple[list[int], list[tuple[int, int]]] | None:
    """(where each item of the array at ``base`` starts, where its value of the last key stands),
    found from the places the last key is written: one per item in a
    document with no escape in it (every key is then written as it reads, so a count of one per
    item leaves no place unaccounted for). None when the document is not that simple."""
    if text.find("\\", base) >= 0:
        return None
    key = keys[-1]
    places = list(re.compile('"' + re.escape(key) + '"' + _SPACE + ":" + _SPACE).finditer(text, base))
    if len(places) != count:
        return None
    opening = _WHITESPACE.match(text, base).end()  # type: ignore[union-attr]
    if not text.startswith("[", opening):
        return None
    item_starts = [_WHITESPACE.match(text, opening + 1).end()]  # type: ignore[union-attr]
    if not text.startswith("{", item_starts[0]):
        return None
    # Between an array message's closing bracket and the next item's message: the item closes, the
    # next opens with its other keys, each holding a scalar (no bracket in a string: no escape,
    # no quote in it). When the last "]" before the next message is followed by exactly that, it
    # is the message's closing bracket (any other "]" there would stand inside such a string).
    between = re.compile(_SPACE + r"\}" + _SPACE + "," + _SPACE + r"(\{)" + _SPACE + "".join(
        '"' + re.escape(k) + '"' + _SPACE + ":" + _SPACE + _SCALAR_TEXT + _SPACE + "," + _SPACE for k in keys[:-1]))
    key_starts = list(map(_match_start, places))
    value_starts = list(map(_match_end, places))
    # each C loop over all items: the last "]" before the next message, and what follows it
    next_keys = key_starts[1:]
    closes = list(map(text.rfind, repeat("]"), value_starts, next_keys))
    gaps = list(map(between.fullmatch, repeat(text), map(operator.add, closes, repeat(1)), next_keys))
    if None not in gaps and -1 not in closes:
        spans = list(zip(value_starts, map(operator.add, closes, repeat(1))))
        item_starts.extend(map(_group_start, gaps))
    else:
        spans = []
        for index, (value_start, gap) in enumerate(zip(value_starts, gaps)):
            if gap is not None and closes[index] >= 0:
                spans.append((value_start, closes[index] + 1))
                item_starts.append(gap.start(1))
                continue
            try:
                end = _SCAN_ONCE(text, value_start)[1]
            except (StopIteration, ValueError, RecursionError):
                return None
            spans.append((value_start, end))
            after = _NEXT_ITEM.match(text, end)
            if after is None:
                return None
            item_starts.append(after.start(1))
    try:  # the last item's message: no next message to look back from
        end = _SCAN_ONCE(text, value_starts[-1])[1]
    except (StopIteration, ValueError, RecursionError):
        return None
    spans.append((value_starts[-1], end))
    return item_starts, spans


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
    uniform = _read_uniform_document(text, items, base, defaults.get("charge_point_id"), out)
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
    if sum(map(operator.lt, later, ts)) > sum(map(operator.gt, later, ts)):  # more steps back than on
        return None
    cps = _charge_points(list(stated_cps), charge_point_id, out)
    _report_conflicts(frames.columns(), cps, out)

    distinct = set(keys)
    if None in distinct and "" in distinct:  # no key and an empty key are the same connection
        keys = [key or "" for key in keys]
    pairs = list(zip(cps, keys))
    connections: list[dict] = []
    opened_at: list[int] = []
    connection_ids: dict[tuple[str, str | None], str] = {}
    index = 0
    for connection in dict.fromkeys(pairs):  # in the order of their first frames
        index = pairs.index(connection, index)
        connection_id = connection_ids[connection] = f"import-{len(connection_ids) + 1}"
        opened_at.append(index)
        cp = connection[0]
        connections.append(rec.connection_open(
            ts=ts[index], connection_id=connection_id, charge_point_id=cp,
            charge_point_id_source=_id_source(stated_cps[index], charge_point_id, cp),
            url_path=f"/{cp}", client_address=None, subprotocols_offered=["ocpp1.6"],
            subprotocol="ocpp1.6", auth_scheme=None, auth_user=None, auth_password_present=False,
        ))
    connection_column = list(map(connection_ids.__getitem__, pairs))
    damaged = len(frames.problem)
    header = import_header(connections[:1], fmt, source, out, frames=len(ts), damaged=damaged)
    imported = ImportedFrames(connections, opened_at, ts, connection_column, directions, texts, line_nos,
                              frames.parse_texts, frames.reply_ids)
    return header, imported, cps


def _charge_points(stated: list[str | None], given: str | None, out: ReaderOutput) -> list[str]:
    """:func:`.assemble._charge_points` on a column."""
    missing = sum(1 for cp in stated if not cp)
    if not missing:
        return stated  # type: ignore[return-value]
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
    looked at one by one only when the columns show a conflict may be there (rare)."""
    line_nos, _, _, directions, _, _, kinds, unique_ids, actions = columns
    calls = list(map(operator.eq, kinds, repeat(2)))
    replies = list(map(operator.contains, repeat((3, 4)), kinds))
    against_spec = any(side is not None and side != direction for side, direction in
                       ((_SPEC_DIRECTION.get(action), direction) for action, direction in
                        set(compress(zip(actions, directions), calls))))
    same_way = not set(compress(zip(cps, unique_ids, directions), calls)).isdisjoint(
        compress(zip(cps, unique_ids, directions), replies))
    if not against_spec and not same_way:
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
    for lines, why in ((against_action, "CALLs stated to go the way the spec does not send them"),
                       (same_as_request, "replies stated to go the same way as their request")):
        if lines:
            shown = ", ".join(lines[:20]) + (" ..." if len(lines) > 20 else "")
            out.note(None, f"direction conflict: {len(lines)} {why}; kept the stated direction", f"lines {shown}")


def damaged_frames(frames: RegularFrames, cps: list[str]) -> tuple[list[FoundFrame], list[str]]:
    """The damaged frames (and their charge points) as :func:`.report.build_report` takes them."""
    line_nos, texts = frames.columns()[:2]
    found = [FoundFrame(line_no=line_nos[i], text=texts[i], problem=problem)
             for i, problem in sorted(frames.problem.items())]
    return found, [cps[i] for i in sorted(frames.problem)]


def version_of(frames: RegularFrames, stated: Counter[str]) -> tuple[str, str]:
    """:func:`.ocpp_version.trace_version` of the frames."""
    return votes_version(frames.calls, stated)
