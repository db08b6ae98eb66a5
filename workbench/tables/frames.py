"""The frames table: one row per WebSocket message, exactly as captured, with its OCPP-J reading.

Built in one pass: each frame's text is JSON-decoded once (by :func:`workbench.ocppj.parse_frame`),
columns are gathered as Python lists and become one DataFrame. A malformed frame is a row with
``message_type == "invalid"`` and its ``parse_error``; nothing is dropped.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import orjson
import pandas as pd

from ..ocppj import parse_frame, parse_message
from ._columns import object_column, paused_gc, str_column, utc_times
from .pairing import Pairing, pair_frames

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
    "payload": ("object", "", "CALL/CALLRESULT payload (dict), or the CALLERROR details"),
    "error_code": ("str", "", "CALLERROR code as sent (either spelling)"),
    "error_description": ("str", "", "CALLERROR description as sent"),
    "raw": ("str", "", "the message exactly as on the wire (base64 for a binary frame)"),
    "binary": ("bool", "", "True for a binary WebSocket frame (or text that was not UTF-8)"),
    "size_bytes": ("int64", "bytes", "message size in bytes (UTF-8 text, or decoded binary)"),
    "parse_error": ("str", "", "why the frame is not valid OCPP-J, or missing when it is"),
    "proxy_action": ("str", "", "injected | modified | dropped when the proxy did more than pass it on"),
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
                 first_seq: int = 0) -> pd.DataFrame:
        """The frames table (columns as in :data:`COLUMNS`), seq numbered from ``first_seq``."""
        with paused_gc():
            return self._to_frame(charge_point_by_connection, first_seq)

    def _to_frame(self, charge_point_by_connection: Mapping[str, str | None] | None, first_seq: int) -> pd.DataFrame:
        n = len(self.ts)
        binary = [False] * n
        for row in self.binary_sizes:
            binary[row] = True
        record_error: list[str | None] = [None] * n
        for row, problem in self.record_errors.items():
            record_error[row] = problem
        kinds, unique_ids, actions, payloads, error_codes, error_descriptions, parse_errors = _parse_all(
            self.raw, binary, record_error)
        sizes = [len(t) if t.__class__ is str and t.isascii() else _size(t) for t in self.raw]
        for row, size in self.binary_sizes.items():
            sizes[row] = size
        proxy_action: list[str | None] = [None] * n
        for row, action in self.proxy_actions.items():
            proxy_action[row] = action
        pairing = pair_frames(self.connection_id, self.direction, kinds, unique_ids)
        self.last_pairing = pairing  # build_calls can reuse it instead of pairing again
        for i, request in enumerate(pairing.reply_of):
            if request >= 0:
                actions[i] = actions[request]
        mapping = charge_point_by_connection or {}
        frame = pd.DataFrame({
            "ts": utc_times(self.ts),
            "charge_point_id": str_column([mapping.get(c) for c in self.connection_id]),
            "connection_id": str_column(self.connection_id),
            "seq": pd.array(range(first_seq, first_seq + n), dtype="int64"),
            "direction": str_column(self.direction),
            "message_type": str_column(kinds),
            "unique_id": str_column(unique_ids),
            "action": str_column(actions),
            "payload": object_column(payloads),
            "error_code": str_column(error_codes),
            "error_description": str_column(error_descriptions, storage="python"),
            "raw": str_column(self.raw, storage="python"),
            "binary": np.asarray(binary, dtype=bool),
            "size_bytes": np.asarray(sizes, dtype=np.int64),
            "parse_error": str_column(parse_errors, storage="python"),
            "proxy_action": str_column(proxy_action),
        })
        return frame


def _size(text: Any) -> int:
    """UTF-8 size in bytes of a frame's text (0 when there is none)."""
    if not isinstance(text, str):
        return 0
    return len(text.encode("utf-8", "surrogatepass"))


# orjson decodes frame texts faster than json's scanner and caches dict keys (so a million
# MeterValues payloads share their "measurand", "value", "unit" ... key objects). What it refuses
# (NaN, lone surrogates, trailing data) goes through parse_frame, which has json.loads semantics.
_orjson_loads = orjson.loads
_OrjsonError = orjson.JSONDecodeError


def _parse_all(raws: list[Any], binaries: list[bool], record_errors: list[str | None]) -> tuple[list[Any], ...]:
    """Parse every frame: the columns message_type, unique_id, action, payload, error_code,
    error_description, parse_error. The common well-formed CALL/CALLRESULT shapes are read inline;
    everything else goes through :func:`workbench.ocppj.parse_frame`, which defines the semantics."""
    kinds: list[str] = []
    unique_ids: list[Any] = []
    actions: list[Any] = []
    payloads: list[Any] = []
    error_codes: list[Any] = []
    error_descriptions: list[Any] = []
    parse_errors: list[Any] = []
    decode = _orjson_loads
    for raw, is_binary, problem in zip(raws, binaries, record_errors):
        message = None
        if not is_binary and raw.__class__ is str and problem is None:
            try:
                message = decode(raw)
            except _OrjsonError:
                message = None  # let parse_frame (json.loads semantics) decide
        if message.__class__ is list:
            size = len(message)
            if size == 4 and message[0].__class__ is int and message[0] == 2:
                uid, action, payload = message[1], message[2], message[3]
                if uid.__class__ is str and action.__class__ is str and payload.__class__ is dict:
                    kinds.append("CALL"); unique_ids.append(uid); actions.append(action)  # noqa: E702
                    payloads.append(payload); error_codes.append(None); error_descriptions.append(None)  # noqa: E702
                    parse_errors.append(None)
                    continue
            elif size == 3 and message[0].__class__ is int and message[0] == 3:
                uid, payload = message[1], message[2]
                if uid.__class__ is str and payload.__class__ is dict:
                    kinds.append("CALLRESULT"); unique_ids.append(uid); actions.append(None)  # noqa: E702
                    payloads.append(payload); error_codes.append(None); error_descriptions.append(None)  # noqa: E702
                    parse_errors.append(None)
                    continue
            parsed = parse_message(message)
        else:
            parsed = parse_frame(None if is_binary or not isinstance(raw, str) else raw)
        kinds.append("invalid" if problem is not None else parsed.kind.value)
        unique_ids.append(parsed.unique_id)
        actions.append(parsed.action)
        payloads.append(parsed.payload)
        error_codes.append(parsed.error_code)
        error_descriptions.append(parsed.error_description)
        parse_errors.append(problem or parsed.parse_error)
    return kinds, unique_ids, actions, payloads, error_codes, error_descriptions, parse_errors


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
                mapping.setdefault(connection_id, record.get("charge_point_id"))
    return collector.to_frame(mapping)


def empty_frames() -> pd.DataFrame:
    return FrameCollector().to_frame()


__all__ = ["COLUMNS", "FrameCollector", "build_frames", "empty_frames"]
