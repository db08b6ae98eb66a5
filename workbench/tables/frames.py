"""The frames table: one row per WebSocket message, exactly as captured, with its OCPP-J reading.

Built in one pass: each frame's text is JSON-decoded at most once (orjson, with
:func:`workbench.ocppj.parse_frame` defining the semantics), columns are gathered as Python lists and
become one DataFrame. The same pass validates each payload against its 1.6 schema (``schema_error``)
and hands MeterValues and StopTransaction payloads to the meter_values collector; then the decoded
payload is dropped: the ``payload`` column decodes ``raw`` again when read (:mod:`.payloads`).
A malformed frame is a row with ``message_type == "invalid"`` and its ``parse_error``, and so is one nested
deeper than :data:`workbench.jsonfast.MAX_DEPTH`; nothing is dropped. A lone surrogate escape reaches the
tables spelled as its escape text (Arrow cannot hold it); ``raw`` keeps every frame exactly as sent.
"""

from __future__ import annotations

import base64
import binascii
from array import array
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from .. import jsonfast
from ..capture.identity import connection_charge_point_id, unknown_charge_point_id
from ..jsonfast import too_deep
from ..ocppj import ParsedFrame, parse_frame, parse_message
from ..schemas import SchemaValidator, schema_validator, summarize
from ._columns import ARROW_STR, arrow_safe, paused_gc, sparse_str_column, str_column, utc_times
from .meter_values import SOURCES, MeterValueCollector
from .pairing import Pairing, pair_frames
from .payloads import PayloadArray

COLUMNS: dict[str, tuple[str, str, str]] = {
    # name: (dtype, unit, meaning)
    "ts": ("datetime64[us, UTC]", "UTC", "when the proxy saw the frame (capture time)"),
    "charge_point_id": ("str", "", "charge point identity of the frame's connection (from its upgrade URL)"),
    "connection_id": ("str", "", "WebSocket connection the frame travelled on (joins connections)"),
    "seq": ("int64", "", "0-based index of the frame in the whole capture (across files); findings cite it"),
    "direction": ("str", "", "charger_to_csms | csms_to_charger"),
    "message_type": ("str", "", "CALL | CALLRESULT | CALLERROR | invalid"),
    "unique_id": ("str", "", "OCPP-J message id (as sent), or missing when unreadable"),
    "action": ("str", "", "the CALL's action; for a reply, the action of the request it answers"),
    "payload": ("ocpp_payload", "", "CALL/CALLRESULT payload (dict), or the CALLERROR details; decoded from raw "
                                    "on access (see workbench.tables.payloads); lone surrogates spelled as "
                                    "escapes"),
    "error_code": ("str", "", "CALLERROR code as sent (either spelling)"),
    "error_description": ("str", "", "CALLERROR description as sent"),
    "raw": ("str", "", "the message exactly as on the wire (base64 for a binary frame)"),
    "binary": ("bool", "", "True for a binary WebSocket frame (or text that was not UTF-8)"),
    "size_bytes": ("int64", "bytes", "message size in bytes (UTF-8 text, or decoded binary)"),
    "parse_error": ("str", "", "why the frame is not valid OCPP-J, or missing when it is"),
    "proxy_action": ("str", "", "injected | modified | dropped when the proxy did more than pass it on"),
    "schema_error": ("str", "", "how the payload breaks its OCPP 1.6 JSON schema (a CALL's action, a CALLRESULT's "
                                "paired action's Response), as jsonschema words it; missing when valid or unchecked"),
}

DIRECTIONS = {"charger_to_csms": "charger_to_csms", "csms_to_charger": "csms_to_charger"}


class FrameCollector:
    """Gathers the fields of frame records in capture order; no parsing until :meth:`to_frame`."""

    def __init__(self) -> None:
        self.ts: list[Any] = []
        self.connection_id: list[Any] = []
        self.direction: list[Any] = []
        self.raw: list[Any] = []
        # Rare per-frame facts are kept sparse (row -> value): a million appends of False/None cost time.
        self.binary_sizes: dict[int, int] = {}
        self.record_errors: dict[int, str] = {}
        self.proxy_actions: dict[int, str] = {}
        self.last_pairing: Pairing | None = None
        self.seqs: list[int] | None = None  # explicit seq per frame (partitioned analysis); None: 0, 1, 2, ...
        # Per row, the text to read the frame from when not raw (see add_columns), else None; None as
        # a whole until an import gives one.
        self.parse_texts: list[str | None] | None = None
        # Per row, the message id of a frame an importer decoded as a whole CALLRESULT (see
        # add_columns), else None; None as a whole until an import gives one.
        self.reply_ids: list[str | None] | None = None
        self._ids: dict[Any, Any] = {}

    def __len__(self) -> int:
        return len(self.ts)

    def add(self, record: Mapping[str, Any]) -> None:
        """Append one ``frame`` record; a damaged record still becomes a row (with a parse_error)."""
        self.ts.append(record.get("ts"))
        connection_id = record.get("connection_id")
        try:
            # One shared str object per distinct id: a million frames then cost one pointer each.
            shared = self._ids.get(connection_id)
        except TypeError:
            shared = None
        if shared is None:
            shared = self._share_id(connection_id)
        self.connection_id.append(shared)
        direction = record.get("direction")
        text = record.get("text")
        if (direction.__class__ is str and direction in DIRECTIONS and text.__class__ is str
                and not record.get("binary") and "proxy_action" not in record):
            self.direction.append(DIRECTIONS[direction])
            self.raw.append(text)
            return
        self._add_unusual(record, direction, text)

    def add_columns(self, ts: Sequence[Any], connection_ids: Sequence[str], directions: Sequence[str],
                    texts: Sequence[str], parse_texts: Sequence[str | None] | None = None,
                    reply_ids: Sequence[str | None] | None = None) -> None:
        """Append text frames by column (an importer's): what :meth:`add` does record by record for
        frames whose direction is valid and whose text is a str, without a dict per frame.

        ``parse_texts``: per frame, None or the same JSON value as its text written compactly (a
        pretty-printed trace's frames): the frame is read from it, so the compact shapes the reading
        knows without decoding (MeterValues) serve it too; ``raw`` and ``size_bytes`` keep ``texts``.
        ``reply_ids``: per frame, None or its message id when the importer decoded it (its text or
        parse text) with orjson as ``[3, <id>, {...}]`` within the depth limit: what this table reads
        as a CALLRESULT, so it is not decoded again (its payload is, when its schema is checked)."""
        self.parse_texts = _extended(self.parse_texts, len(self.raw), parse_texts, len(texts))
        self.reply_ids = _extended(self.reply_ids, len(self.raw), reply_ids, len(texts))
        shared = {c: self._ids.get(c) or self._share_id(c) for c in set(connection_ids)}
        self.ts.extend(ts)
        self.connection_id.extend(map(shared.__getitem__, connection_ids))
        self.direction.extend(directions)
        self.raw.extend(texts)

    def _share_id(self, connection_id: Any) -> Any:
        if connection_id is None:
            return None
        text = connection_id if isinstance(connection_id, str) else str(connection_id)
        return self._ids.setdefault(text, text)

    def _add_unusual(self, record: Mapping[str, Any], direction: Any, text: Any) -> None:
        row = len(self.raw)
        problem = None
        canonical = DIRECTIONS.get(direction) if isinstance(direction, str) else None
        if canonical is None:
            problem = f"frame record has no valid direction ({direction!r})"
        self.direction.append(canonical)
        action = record.get("proxy_action")
        if isinstance(action, str):
            self.proxy_actions[row] = action
        if record.get("binary"):
            data = record.get("data_b64")
            self.raw.append(data if isinstance(data, str) else None)
            try:
                self.binary_sizes[row] = len(base64.b64decode(data, validate=True))
            except (binascii.Error, TypeError, ValueError):
                self.binary_sizes[row] = 0
                problem = problem or "binary frame record has no valid data_b64"
        elif isinstance(text, str):
            self.raw.append(text)
        else:
            self.raw.append(None if text is None else str(text))
            problem = problem or "frame record has no text"
        if problem is not None:
            self.record_errors[row] = problem

    def to_frame(self, charge_point_by_connection: Mapping[str, str | None] | None = None,
                 first_seq: int = 0, meter: MeterValueCollector | None = None) -> pd.DataFrame:
        """The frames table (columns as in :data:`COLUMNS`), seq numbered from ``first_seq``.

        ``meter`` is given the MeterValues and StopTransaction payloads as they are decoded, so the
        meter_values table needs no second decode (see :meth:`MeterValueCollector.to_table`)."""
        with paused_gc():
            return self._to_frame(charge_point_by_connection, first_seq, meter)

    def _to_frame(self, charge_point_by_connection: Mapping[str, str | None] | None, first_seq: int,
                  meter: MeterValueCollector | None) -> pd.DataFrame:
        n = len(self.ts)
        binary = [False] * n
        for row in self.binary_sizes:
            binary[row] = True
        record_error: list[str | None] = [None] * n
        for row, problem in self.record_errors.items():
            record_error[row] = problem
        readings = self.raw  # the texts frames are read from: raw, or a compact text of the same value
        if self.parse_texts is not None:
            readings = [raw if text is None else text for raw, text in zip(self.raw, self.parse_texts + [None] * (
                n - len(self.parse_texts)))]
        reply_ids: Iterable[str | None] = repeat(None) if self.reply_ids is None else self.reply_ids + [None] * (
            n - len(self.reply_ids))
        parsed = _FrameParser(meter).parse(readings, self.direction, binary, record_error, self.connection_id,
                                           reply_ids)
        sizes = _utf8_sizes(self.raw)
        for row, size in self.binary_sizes.items():
            sizes[row] = size
        proxy_action: list[str | None] = [None] * n
        for row, action in self.proxy_actions.items():
            proxy_action[row] = action
        pairing = pair_frames(self.connection_id, self.direction, parsed.kinds, parsed.unique_ids)
        self.last_pairing = pairing  # build_calls can reuse it instead of pairing again
        actions = parsed.actions
        for i, request in enumerate(pairing.reply_of):
            if request >= 0:
                actions[i] = actions[request]
        schema_errors = parsed.schema_errors_with_replies(pairing.reply_of, readings)
        payload = PayloadArray.from_frames(self.raw, parsed.slots)
        for row, value in parsed.objects.items():
            payload[row] = value
        connections = str_column(self.connection_id)
        frame = pd.DataFrame({
            "ts": utc_times(self.ts),
            "charge_point_id": _charge_points(connections, charge_point_by_connection or {}),
            "connection_id": connections,
            "seq": pd.array(range(first_seq, first_seq + n) if self.seqs is None else self.seqs, dtype="int64"),
            "direction": str_column(self.direction),
            "message_type": str_column(parsed.kinds),
            "unique_id": str_column(parsed.unique_ids),
            "action": str_column(actions),
            "payload": payload,
            "error_code": sparse_str_column(n, parsed.error_codes, storage="pyarrow"),
            "error_description": sparse_str_column(n, parsed.error_descriptions),
            "raw": str_column(self.raw, storage="python"),
            "binary": np.asarray(binary, dtype=bool),
            "size_bytes": sizes,
            "parse_error": sparse_str_column(n, parsed.parse_errors),
            "proxy_action": str_column(proxy_action),
            "schema_error": sparse_str_column(n, schema_errors),
        }, copy=False)  # the columns are new arrays: no copy, and no consolidating copy into 2-D blocks
        return frame


def _extended(column: list[Any] | None, rows: int, values: Sequence[Any] | None, count: int) -> list[Any] | None:
    """A sparse per-row column (None while no row has a value) with ``count`` rows of ``values`` (or
    None) appended after ``rows`` rows."""
    if values is None and column is None:
        return None
    column = [] if column is None else column
    column.extend([None] * (rows - len(column)))
    column.extend(values if values is not None else [None] * count)
    return column


def _charge_points(connections: pd.api.extensions.ExtensionArray,
                   charge_point_by_connection: Mapping[str, str | None]) -> pd.api.extensions.ExtensionArray:
    """The charge point of each frame, looked up once per distinct connection (Arrow dictionary codes). A
    connection the mapping does not name is a charge point of its own (never merged with another one)."""
    encoded = pa.array(connections).dictionary_encode()
    charge_points = str_column([charge_point_by_connection.get(c) or (unknown_charge_point_id(c) if c else None)
                                for c in encoded.dictionary.to_pylist()])
    return pd.array(pa.array(charge_points).take(encoded.indices), dtype=ARROW_STR)


def _utf8_sizes(texts: list[Any]) -> np.ndarray:
    """UTF-8 size in bytes of each frame's text (0 where there is none). ASCII texts (nearly all) are
    measured by ``len`` in one C loop; the others are encoded."""
    try:
        sizes = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        ascii_only = np.fromiter(map(str.isascii, texts), dtype=bool, count=len(texts))
    except TypeError:  # a frame without text (None): one by one
        return np.asarray([_size(text) for text in texts], dtype=np.int64)
    for row in np.flatnonzero(~ascii_only).tolist():
        sizes[row] = _size(texts[row])
    return sizes


def _size(text: Any) -> int:
    """UTF-8 size in bytes of a frame's text (0 when there is none)."""
    if not isinstance(text, str):
        return 0
    return len(text.encode("utf-8", "surrogatepass"))


# orjson decodes frame texts faster than json's scanner. What it refuses (NaN, lone surrogates,
# trailing data) goes through parse_frame, which has json.loads semantics.
_orjson_loads = orjson.loads
_OrjsonError = orjson.JSONDecodeError
_DEEP_CHARS = 2 * jsonfast.MAX_DEPTH  # a shorter text cannot nest deeper than the limit
_MISSING = object()
_METER_SOURCES = frozenset(SOURCES)


class _FrameParser:
    """One pass over the frame texts: the envelope columns, each payload's slot, the schema verdicts,
    and (to ``meter``) the MeterValues and StopTransaction payloads. Nothing decoded is kept."""

    def __init__(self, meter: MeterValueCollector | None) -> None:
        self.meter = meter
        self.kinds: list[str] = []
        self.unique_ids: list[Any] = []
        self.actions: list[Any] = []
        self.slots: list[int] = []
        self.objects: dict[int, Any] = {}  # row -> payload of frames read by the general path
        # Rarely filled columns, by row: only CALLERRORs and damaged frames have them.
        self.error_codes: dict[int, Any] = {}
        self.error_descriptions: dict[int, Any] = {}
        self.parse_errors: dict[int, Any] = {}
        self.schema_errors: dict[int, str] = {}
        self.reply_rows = array("l")  # CALLRESULT rows: validated once pairing gives their action
        self._validators: dict[tuple[str, bool], SchemaValidator | None] = {}

    def _validate(self, row: int, action: str, payload: Any, response: bool) -> bool:
        """Record the schema verdict of one payload; True when it is valid."""
        key = (action, response)
        validator = self._validators.get(key, _MISSING)
        if validator is _MISSING:
            validator = self._validators[key] = schema_validator(action, response)
        if validator is None:
            return False  # no 1.6 schema: an unknown action is the protocol check's business
        errors = validator.errors(payload)
        if errors:
            self.schema_errors[row] = summarize(errors)
            return False
        return True

    def parse(self, raws: list[Any], directions: list[Any], binaries: list[bool],
              record_errors: list[str | None], connections: list[Any], reply_ids: Iterable[str | None]) -> _FrameParser:
        """``reply_ids``: per row None, or the message id of a frame known to be a whole CALLRESULT
        (see :meth:`FrameCollector.add_columns`)."""
        kinds, unique_ids, actions, slots = self.kinds, self.unique_ids, self.actions, self.slots
        meter = self.meter
        decode = _orjson_loads
        validate = self._validate
        reply_rows = self.reply_rows
        for row, (raw, direction, is_binary, problem, connection, reply_id) in enumerate(
                zip(raws, directions, binaries, record_errors, connections, reply_ids)):
            if reply_id is not None:
                kinds.append("CALLRESULT"); unique_ids.append(reply_id); actions.append(None)
                slots.append(2)
                reply_rows.append(row)
                continue
            message = None
            id_end = 0
            if not is_binary and raw.__class__ is str and problem is None:
                if meter is not None and direction == "charger_to_csms" and raw.startswith('[2,"'):
                    end = raw.find('"', 4)
                    if end > 0 and raw.startswith('","MeterValues",{', end) and "\\" not in raw:
                        unique_id = raw[4:end]
                        if unique_id.isprintable():
                            id_end = end
                            if meter.add_text(row, raw, end, connection):  # a known shape: nothing to decode
                                kinds.append("CALL"); unique_ids.append(unique_id)
                                actions.append("MeterValues"); slots.append(3)
                                continue
                try:
                    message = decode(raw)
                except _OrjsonError:
                    message = None  # let parse_frame (json.loads semantics) decide
                else:
                    if len(raw) > _DEEP_CHARS and too_deep(raw, message):
                        message = None  # parse_frame makes it an invalid row that says so
            if message.__class__ is list:
                size = len(message)
                if size == 4 and message[0].__class__ is int and message[0] == 2:
                    uid, action, payload = message[1], message[2], message[3]
                    if uid.__class__ is str and action.__class__ is str and payload.__class__ is dict:
                        kinds.append("CALL"); unique_ids.append(uid); actions.append(action)
                        slots.append(3)
                        valid = validate(row, action, payload, False)
                        if meter is not None and action in _METER_SOURCES and direction == "charger_to_csms":
                            meter.add_payload(row, action, payload, raw if valid and id_end else None, id_end)
                        continue
                elif size == 3 and message[0].__class__ is int and message[0] == 3:
                    uid, payload = message[1], message[2]
                    if uid.__class__ is str and payload.__class__ is dict:
                        kinds.append("CALLRESULT"); unique_ids.append(uid); actions.append(None)
                        slots.append(2)
                        self.reply_rows.append(row)
                        continue
                parsed = parse_message(message)
            else:
                parsed = parse_frame(None if is_binary or not isinstance(raw, str) else raw)
            self._add_general(row, parsed, problem, direction)
        return self

    def _add_general(self, row: int, parsed: ParsedFrame, problem: str | None, direction: Any) -> None:
        """A frame the inline shapes above do not cover: invalid, CALLERROR, or text json.loads reads
        but orjson does not. Its payload is kept as an object (these are few)."""
        kind = "invalid" if problem is not None else parsed.kind.value
        self.kinds.append(kind)
        self.unique_ids.append(parsed.unique_id)
        self.actions.append(parsed.action)
        self.slots.append(-1)
        # Only this path can meet lone surrogates (orjson refuses them): the tables get them spelled as
        # escapes, as every str column spells them, so Arrow can hold them; raw keeps them as sent.
        payload = arrow_safe(parsed.payload)
        if payload is not None:
            self.objects[row] = payload
        if parsed.error_code is not None:
            self.error_codes[row] = parsed.error_code
        if parsed.error_description is not None:
            self.error_descriptions[row] = parsed.error_description
        if (problem or parsed.parse_error) is not None:
            self.parse_errors[row] = problem or parsed.parse_error
        if kind == "CALL" and parsed.action is not None:
            self._validate(row, parsed.action, parsed.payload, False)
            if self.meter is not None and parsed.action in _METER_SOURCES and direction == "charger_to_csms":
                self.meter.add_payload(row, parsed.action, payload)
        elif kind == "CALLRESULT":
            self.reply_rows.append(row)

    def schema_errors_with_replies(self, reply_of: Sequence[int], raws: Sequence[Any]) -> dict[int, str]:
        """The schema_error column ({row: error}), once pairing has given each reply its request's action. Reply
        payloads are decoded again here (they are small) rather than kept from the first pass."""
        actions, objects = self.actions, self.objects
        # Most replies are the same short text but for their id ('[3,"<id>",{}]'): one verdict per
        # (action, text after the id) serves them all. Only valid verdicts are shared (an error quotes
        # its own payload, and is rare).
        valid_tails: set[tuple[str, str]] = set()
        for row in self.reply_rows:
            request = reply_of[row]
            action = actions[request] if request >= 0 else None
            if action is None:
                continue
            raw = raws[row]
            key = None
            if row not in objects and len(raw) < 96 and "\\" not in raw:
                key = (action, raw[raw.find('"', 4):])
                if key in valid_tails:
                    continue
            payload = objects[row] if row in objects else jsonfast.loads(raw)[2]
            if self._validate(row, action, payload, True) and key is not None:
                valid_tails.add(key)
        self.reply_rows = array("l")
        return self.schema_errors


def build_frames(records: Iterable[Mapping[str, Any]],
                 charge_point_by_connection: Mapping[str, str | None] | None = None) -> pd.DataFrame:
    """The frames table of a record stream. Charge points come from ``connection_open`` /
    ``upgrade_rejected`` records in the stream unless ``charge_point_by_connection`` is given."""
    collector = FrameCollector()
    mapping: dict[str, str | None] = dict(charge_point_by_connection or {})
    for record in records:
        kind = record.get("type")
        if kind == "frame":
            collector.add(record)
        elif kind in ("connection_open", "upgrade_rejected") and charge_point_by_connection is None:
            connection_id = record.get("connection_id")
            if isinstance(connection_id, str):
                mapping.setdefault(connection_id, connection_charge_point_id(record))
    return collector.to_frame(mapping)


def empty_frames() -> pd.DataFrame:
    return FrameCollector().to_frame()


__all__ = ["COLUMNS", "FrameCollector", "build_frames", "empty_frames"]
