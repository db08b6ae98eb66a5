"""The column path of the structured formats' fast import (:mod:`.regular`).

Nearly every file of these formats is records of one set of keys, each a frame with a stated
direction and a capture-format time. Such a file is read a column at a time: each step is one C loop
(map, zip, set) over a chunk of records, then whole-file checks on the columns. Anything else (a
line that is not such a record, an unusual value) returns None, and :mod:`.regular` reads the file
record by record, which gives the same result (``tests/importers/test_import_columns.py``). Records
and decoded frames are held a chunk at a time: decoding into memory still in the CPU caches is about
twice as fast as holding every frame of the file.
"""

from __future__ import annotations

import operator
import re
from collections import Counter
from collections.abc import Sequence
from itertools import accumulate, chain, compress, repeat
from typing import Any

import orjson

from ... import jsonfast
from . import open_ocpp_trace, timestamps
from .found import ReaderOutput
from .regular import _DEEP_CHARS, _UNSET, MAX_DEPTH, RegularFrames, _damage, _stated_direction, _whole
from .structured import _SCAN_ONCE, _WHITESPACE, _shape_of, document_items

_orjson_loads = orjson.loads
_orjson_dumps = orjson.dumps
_JSONDecodeError = orjson.JSONDecodeError

_CHUNK = 64
_CAPTURE_TIMES = re.compile(r"(?:[1-9]\d{3}-\d\d-\d\dT\d\d:[0-5]\d:[0-5]\d\.\d{6}Z)*", re.ASCII)  # \d: 0-9 only
_HOUR = slice(0, 14)  # "2024-05-01T10:"
_NOT_WHOLE = (None, None, None)
_SCALARS = frozenset({str, int, float, bool, type(None)})
_TRACE_CONTAINERS = frozenset({"payload"})  # held in the message (of a CALL or CALLRESULT), depth checked there
_values_of = dict.values


def _brackets(texts: list[str]) -> int:
    """The most opening brackets in one of ``texts`` that may nest deeper than :data:`MAX_DEPTH`
    (more than that: it may); a text of up to ``2 * MAX_DEPTH`` characters cannot, and is not counted."""
    long = list(compress(texts, map(operator.gt, map(len, texts), repeat(_DEEP_CHARS))))
    if not long:
        return 0
    return max(map(operator.add, map(str.count, long, repeat("[")), map(str.count, long, repeat("{"))))


class _Uniform:
    """Reads records of one set of keys in chunks (:meth:`add`), then checks and assembles the
    columns (:meth:`result`); ``keys`` None, ``add`` False or ``result`` None: the record-by-record
    path must read the file."""

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
            distinct = set(self.versions)  # one version (nearly always): counted without a Counter
            versions = {distinct.pop(): len(self.versions)} if len(distinct) == 1 else Counter(self.versions)
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
        for version, records in versions.items():
            said = open_ocpp_trace.stated_version(version) if version is not None else None
            if said is not None:
                out.stated_versions[said] += records
        kinds, unique_ids, actions = zip(*self.envelopes) if self.envelopes else ((), (), ())
        compacts = self.frames.parse_texts
        if compacts is None:
            readings, by_orjson = self.texts, self.by_orjson
        elif None not in compacts:  # (a JSON trace's, nearly always) orjson wrote every text read
            readings, by_orjson = compacts, [True] * count
        else:
            readings = [text if compact is None else compact for text, compact in zip(self.texts, compacts)]
            by_orjson = [decoded or compact is not None for decoded, compact in zip(self.by_orjson, compacts)]
        # "[3," : the type an integer, as the frames table requires (3.0 is a whole frame here, not there)
        replies = map(operator.eq, kinds, repeat(3))
        if False in by_orjson:
            replies = map(operator.and_, replies, by_orjson)
        # a C loop: (None, id)[True] is the id, (None, id)[False] None
        self.frames.reply_ids = list(map(operator.getitem, zip(repeat(None), unique_ids), map(
            operator.and_, replies, map(str.startswith, readings, repeat("[3,")))))
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


def read_uniform_lines(lines: list[str], out: ReaderOutput) -> RegularFrames | None:
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


def read_uniform_document(text: str, items: list[Any], base: int, default_cp: str | None,
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
        if not _add_items(uniform, text, items[start:start + _CHUNK], messages[start:start + _CHUNK],
                          spans[start:start + _CHUNK], parse_texts):
            return None
    return _document_result(uniform, text, item_starts, parse_texts, default_cp, out)


def _add_items(uniform: _Uniform, text: str, items: list[Any], messages: list[Any], spans: list[tuple[int, int]],
               parse_texts: list[str | None]) -> bool:
    """:meth:`_Uniform.add` of a chunk of a document's items, their messages sliced from ``text``
    at ``spans``; their compact texts onto ``parse_texts``."""
    texts = [text[a:b] for a, b in spans]
    compacts = _compacts_or_none(messages)
    # nesting is counted on the compact texts (shorter: no spacing), the written one where there is none
    depth_texts = compacts if None not in compacts else [
        written if compact is None else compact for written, compact in zip(texts, compacts)]
    if not uniform.add(items, texts, messages, depth_texts):
        return False
    parse_texts.extend(compacts)
    return True


def _document_result(uniform: _Uniform, text: str, item_starts: list[int], parse_texts: list[str | None],
                     default_cp: str | None, out: ReaderOutput) -> RegularFrames | None:
    uniform.frames.parse_texts = parse_texts
    # 1-based line of each item's opening brace: the newlines before it, counted between items
    line_nos = list(accumulate(map(text.count, repeat("\n"), [0] + item_starts[:-1], item_starts), initial=1))[1:]
    if out.lines_read < 0:  # (see read_regular_trace) the lines of the text: those before the last item and after
        out.lines_read = line_nos[-1] - 1 + text.count("\n", item_starts[-1]) + (0 if text.endswith("\n") else 1)
    return uniform.result(line_nos, default_cp, out)


_ITEMS_KEYS = ("events", "messages", "frames", "entries")  # as structured.document_items looks for them
_ITEM_CLOSE = re.compile(_SPACE + r"\}")
_ARRAY_CLOSE = re.compile(_SPACE + r"\]")


def read_uniform_trace(text: str, out: ReaderOutput, defaults: dict[str, Any]) -> RegularFrames | None:
    """What format detection then :func:`read_uniform_document` read from a ``{metadata, events}``
    trace, without decoding the document whole: its items are decoded a chunk at a time (orjson, one
    call per chunk, each chunk's values dropped before the next: decoding and holding the whole
    pretty-printed document cost ~3 us per frame, twice the chunks'), the rest of the document once
    with an empty array in the items' place. None whenever detection might read the file otherwise
    or the column path would not read it (then both read it as before).

    The chunks are cut where :func:`_item_starts_by_key` finds the items. Whatever those places are,
    each chunk decodes as ``[`` + its text + ``]`` only if its text is values separated by commas,
    and the chunks are adjacent and separated by commas: then the array is valid JSON and its items
    are the chunks' items in order. Their count equals the message keys found, one per item, so the
    places found are the items' own (as when the whole document was decoded first)."""
    for key in _ITEMS_KEYS:
        found = re.search('"' + key + r'"\s*:\s*(?=\[)', text)
        if found is not None:
            break
    else:
        return None
    opening = found.end()
    first = _WHITESPACE.match(text, opening + 1).end()  # type: ignore[union-attr]
    if not text.startswith("{", first):
        return None
    try:
        head = _SCAN_ONCE(text, first)[0]  # the first item, for its keys (decoded again with its chunk)
    except (StopIteration, ValueError, RecursionError):
        return None
    if type(head) is not dict or len(head) < 2:
        return None
    keys = tuple(head)
    located = _item_starts_by_key(text, opening, keys, None)
    if located is None:
        return None
    item_starts, spans = located
    last_close = _ITEM_CLOSE.match(text, spans[-1][1])
    array_close = _ARRAY_CLOSE.match(text, last_close.end()) if last_close is not None else None
    if array_close is None:
        return None
    closing, closing_item = array_close.end(), last_close.end()  # type: ignore[union-attr]
    rest = text[:opening] + "[]" + text[closing:]  # the document with no items
    try:
        document = _orjson_loads(rest)
    except _JSONDecodeError:
        return None
    if type(document) is not dict or (isinstance(document.get("log"), dict) and "entries" in document["log"]):
        return None  # not a JSON trace, or a HAR file to format detection
    # structured.document_items takes the first of these keys that holds a list: the items' own,
    # written once, the array just emptied
    if (next((k for k in _ITEMS_KEYS if isinstance(document.get(k), list)), None) != key or document[key] != []
            or rest.count('"' + key + '"') != 1):
        return None
    documented = document_items(text, document, out, defaults)
    if documented is None or documented[1] != opening:
        return None
    count = len(spans)
    uniform: _Uniform | None = None
    parse_texts: list[str | None] = []
    for start in range(0, count, _CHUNK):
        stop = min(start + _CHUNK, count)
        # up to the comma after the chunk's last item (only spacing between it and the next item)
        end = text.rfind(",", item_starts[start], item_starts[stop]) if stop < count else closing_item
        try:
            items = _orjson_loads("[" + text[item_starts[start]:end] + "]")
        except _JSONDecodeError:
            return None
        if len(items) != stop - start:
            return None
        if uniform is None:
            uniform = _Uniform(items[0])
            if uniform.keys != keys or uniform.message is None or keys[-1] != uniform.message:
                return None
        if set(map(type, items)) != {dict} or set(map(tuple, items)) != {keys}:
            return None
        messages = list(map(operator.itemgetter(uniform.message), items))
        if set(map(type, messages)) != {list}:
            return None  # messages as strings (or mixed): the record-by-record path
        if not _add_items(uniform, text, items, messages, spans[start:stop], parse_texts):
            return None
    if uniform is None:
        return None
    return _document_result(uniform, text, item_starts, parse_texts, defaults.get("charge_point_id"), out)


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
                        count: int | None) -> tuple[list[int], list[tuple[int, int]]] | None:
    """(where each item of the array at ``base`` starts, where its value of the last key stands),
    found from the places the last key is written (``count`` of them, or None: as many as written;
    the caller then checks that count): one per item in a
    document with no escape in it (every key is then written as it reads, so a count of one per
    item leaves no place unaccounted for). None when the document is not that simple."""
    if text.find("\\", base) >= 0:
        return None
    key = keys[-1]
    places = list(re.compile('"' + re.escape(key) + '"' + _SPACE + ":" + _SPACE).finditer(text, base))
    if not places or (count is not None and len(places) != count):
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
