"""The meter_values table: one row per SampledValue, from MeterValues and StopTransaction.transactionData.

Built in one pass over the payloads into column lists, then one DataFrame. Absent fields take the
spec defaults (OCPP 1.6 §7.45: measurand Energy.Active.Import.Register, context Sample.Periodic,
location Outlet, format Raw; the unit defaults to the measurand's natural unit, see
:func:`workbench.spec16.default_unit`). ``value`` is read from a decimal string, an exponent string
or a bare JSON number (a known charger deviation); anything else is NaN with a ``problem``, never
an exception. ``value_normalized`` scales kilo-units to the base unit (kWh -> Wh, kW -> W).
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import spec16
from ._columns import paused_gc, sparse_str_column
from ._fields import cp_key, int_or_none, text_or_none
from .payload_time import TS_DTYPE, parse_payload_times
from .transaction_calls import started_transactions

COLUMNS: dict[str, tuple[str, str, str]] = {
    # name: (dtype, unit, meaning)
    "ts": (TS_DTYPE, "UTC", "sample time: the MeterValue's timestamp (NaT if unreadable)"),
    "capture_ts": (TS_DTYPE, "UTC", "when the proxy saw the frame carrying the sample"),
    "charge_point_id": ("category", "", "charge point that sent it"),
    "connection_id": ("category", "", "WebSocket connection it arrived on"),
    "connector_id": ("Int64", "", "connectorId of the MeterValues (0 = main meter); for transactionData the "
                                  "connector of the transaction's StartTransaction, <NA> if unknown"),
    "transaction_id": ("Int64", "", "transactionId as sent (<NA> when absent or not an integer)"),
    "measurand": ("category", "", "measurand as sent, default Energy.Active.Import.Register"),
    "phase": ("category", "", "phase as sent (L1, L1-N, ...), <NA> = overall value"),
    "location": ("category", "", "location as sent, default Outlet"),
    "context": ("category", "", "reading context as sent, default Sample.Periodic"),
    "format": ("category", "", "Raw | SignedData, default Raw"),
    "unit": ("category", "", "unit exactly as sent, <NA> when absent"),
    "value": ("float64", "unit", "the number as sent (NaN when not a number, or SignedData)"),
    "value_normalized": ("float64", "unit_normalized", "value in the base unit (Wh, W, var, VA, A, V, ...)"),
    "unit_normalized": ("category", "", "base unit of value_normalized (the default unit when none was sent)"),
    "source": ("category", "", "MeterValues | StopTransaction (transactionData)"),
    "seq": ("int64", "", "frames.seq of the frame carrying the sample"),
    "meter_value_index": ("int64", "", "position of the MeterValue element in its message (samples of "
                                       "one element share ts)"),
    "ts_naive": ("bool", "", "the timestamp had no UTC offset (read as UTC)"),
    "problem": ("str", "", "why value or ts could not be read, or <NA>"),
}

SOURCES = ("MeterValues", "StopTransaction")


def _number(value: Any) -> tuple[float, str | None]:
    """The sampled value as a float and a problem text (None when fine)."""
    kind = type(value)
    if kind is str:
        try:
            number = float(value)
        except ValueError:
            return math.nan, f"value {value!r:.40} is not a number"
    elif kind is int or kind is float:
        try:
            number = float(value)
        except OverflowError:
            return math.nan, "value out of range"
    elif value is None:
        return math.nan, "sampled value has no value"
    else:
        return math.nan, f"value is a JSON {kind.__name__}, not a number"
    if not math.isfinite(number):
        return math.nan, f"value {value!r:.40} is not finite"
    return number, None


_EMPTY: dict[str, Any] = {}


class _Kinds:
    """The distinct (measurand, phase, location, context, format, unit) combinations, numbered in order of
    appearance, with their defaults applied and units normalised once per combination."""

    def __init__(self) -> None:
        self.codes: dict[tuple[Any, ...], int] = {}
        self.rows: list[tuple[str, str | None, str, str, str, str | None, str | None, float, bool]] = []

    def add(self, key: tuple[Any, ...]) -> int:
        try:
            code = self.codes.get(key)
        except TypeError:  # a list or dict where a string belongs: describe it as text
            key = tuple(text_or_none(v) if isinstance(v, (list, dict)) else v for v in key)
            code = self.codes.get(key)
        if code is not None:
            return code
        measurand, phase, location, context, value_format, unit = (text_or_none(v) for v in key)
        measurand = measurand or spec16.DEFAULT_MEASURAND
        value_format = value_format or spec16.DEFAULT_FORMAT
        effective = unit if unit is not None else spec16.default_unit(measurand)
        base, factor = spec16.UNIT_NORMALISATION.get(effective, (effective, 1.0)) if effective else (None, 1.0)
        code = len(self.rows)
        self.rows.append((measurand, phase, location or spec16.DEFAULT_LOCATION, context or spec16.DEFAULT_CONTEXT,
                          value_format, unit, base, factor, value_format == spec16.DEFAULT_FORMAT))
        self.codes[key] = code
        return code

    def column(self, index: int, codes: np.ndarray) -> pd.Categorical:
        """One categorical column (field ``index`` of each combination) for the rows' combination codes."""
        values = [row[index] for row in self.rows]
        categories = sorted({v for v in values if v is not None})
        position = {v: i for i, v in enumerate(categories)}
        mapping = np.asarray([position[v] if v is not None else -1 for v in values] or [-1], dtype=np.int64)
        return pd.Categorical.from_codes(mapping[codes] if len(codes) else codes, categories=categories)


def _categorical_take(column: pd.Series, positions: np.ndarray) -> pd.Categorical:
    """``column[positions]`` as a categorical (sorted categories): ids repeat on every sample, so factorise
    once per frame."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True, sort=True)
    return pd.Categorical.from_codes(codes[positions] if len(positions) else codes[:0],
                                     categories=pd.Index(uniques, dtype=object))


# A MeterValues text whose only differences from one already decoded are the strings of its
# sampled values and timestamps and the digits of its connectorId and transactionId (same measurands,
# same key order) has the same structure, the same kinds and the same schema verdict. Such "shapes"
# repeat all day on a charger model, so a frame of a known shape is read by one compiled match of its
# shape (C speed) instead of being decoded. The captures are only strings without escapes or control
# characters, whose JSON text is exactly their value, and plain integers of at most 15 digits (no sign,
# no leading zero, no fraction or exponent), whose JSON text is exactly their decimal form.
_STRING_FIELDS = ("value", "timestamp")
_STRING_BODY = r'([^"\\\x00-\x1f]*)"'
_INTEGER_FIELDS = ("connectorId", "transactionId")
_INTEGER_BODY = r"(0|[1-9][0-9]{0,14})(?![0-9])"  # at most 15 digits: within int_or_none's range
# One match contributes 4 items to a split: (string name, string, integer name, digits), two of them None.
_SHAPE_SPLIT = re.compile(
    r'"(%s)":"%s|"(%s)":%s' % ("|".join(_STRING_FIELDS), _STRING_BODY, "|".join(_INTEGER_FIELDS), _INTEGER_BODY)
).split
_FLUSH_FRAMES = 4096  # frames of one shape added at once (their captures wait as str until then)
_HINT_SHAPES = 4  # shapes tried per hint (charging or not, clock-aligned samples ...) before a split finds it


def _shape_key(text: str, id_end: int) -> tuple[list[str | None], tuple[str | None, ...]]:
    """A MeterValues text split at its captures: (the captured texts in text order, the rest as a key).
    ``id_end`` is the index of the unique id's closing quote: the key leaves out the id."""
    parts = _SHAPE_SPLIT(text)
    parts[0] = parts[0][id_end:]
    captured = [s if s is not None else i for s, i in zip(parts[2::5], parts[4::5])]
    del parts[4::5]
    del parts[2::4]
    return captured, tuple(parts)


def _shape_matcher(key: tuple[str | None, ...]) -> Any:
    """``match(text, id_end)`` of a shape's key: a compiled full match of every text of that shape, one group
    per capture in text order (the same captures :func:`_shape_key` finds)."""
    pattern = [re.escape(key[0])]
    for string_name, integer_name, segment in zip(key[1::3], key[2::3], key[3::3]):
        if string_name is not None:
            pattern.append(re.escape('"%s":"' % string_name) + _STRING_BODY)
        else:
            pattern.append(re.escape('"%s":' % integer_name) + _INTEGER_BODY)
        pattern.append(re.escape(segment))
    return re.compile("".join(pattern)).fullmatch


@dataclass(slots=True, eq=False)
class _Shape:
    """What every MeterValues frame of one shape has in common (see :meth:`MeterValueCollector.add_text`),
    and the frames of this shape taken since the last flush (their rows and captures)."""

    match: Any  # (text, id_end) -> re.Match with the captures, or None: not this shape
    connector: int | None  # connectorId when not captured (e.g. a negative one, in the shape as text)
    connector_at: int | None  # capture index of connectorId's digits
    transaction: int | None
    transaction_at: int | None
    element_index: tuple[int, ...]
    element_count: tuple[int, ...]
    kind_codes: tuple[int, ...]
    all_raw: bool  # every sample has format Raw: its value should be a number
    timestamps_at: list[int]  # capture indexes of the element timestamps, in element order
    values_at: list[int]  # capture indexes of the sampled values, in sample order
    rows: list[int] = field(default_factory=list)
    captures: list[tuple[str, ...]] = field(default_factory=list)


def _captured_ints(columns: list[tuple[str, ...]], at: int | None, constant: int | None,
                   count: int) -> list[int | None]:
    """Per frame: the integer captured at index ``at`` (digits), or ``constant`` when not captured."""
    if at is None:
        return [constant] * count
    return list(map(int, columns[at]))


def _frame_by_frame(columns: list[tuple[str, ...]], positions: list[int], count: int) -> list[str]:
    """The captures at ``positions`` of ``count`` frames, frame after frame (as the elements and samples go)."""
    if len(positions) == 1:
        return list(columns[positions[0]])
    matrix = np.empty((count, len(positions)), dtype=object)
    for j, at in enumerate(positions):
        matrix[:, j] = columns[at]
    return matrix.ravel().tolist()


class MeterValueCollector:
    """Gathers the sampled values of MeterValues and StopTransaction.transactionData payloads while the
    frames table is built (each payload is decoded at most once), then makes the meter_values table.

    ``add_payload`` takes a decoded payload; ``add_text`` takes the text of a MeterValues CALL and
    handles it without decoding when a frame of the same shape was decoded and schema-valid before.
    """

    def __init__(self) -> None:
        self.frame_rows: list[int] = []  # frames-table row of each MeterValues / StopTransaction fed
        self.frame_is_stop: list[bool] = []
        self.frame_connector: list[int | None] = []
        self.frame_tx: list[int | None] = []
        self.el_frame: list[int] = []
        self.el_ts: list[Any] = []
        self.el_index: list[int] = []
        self.el_count: list[int] = []
        self.kind_codes = array("l")
        self.values = array("d")  # NaN where not a number (SignedData, or with a problem)
        self.problems: dict[int, str] = {}
        self.kinds = _Kinds()
        self._is_raw: list[bool] = []  # per kind: format Raw (a number is expected)
        self._shapes: dict[tuple[str | None, ...], _Shape] = {}
        self._hints: dict[Hashable, list[_Shape]] = {}  # hint (a connection) -> the shapes it had lately
        self._flushed_by_shape = 0

    @property
    def frames_by_shape(self) -> int:
        """Frames taken by :meth:`add_text` without decoding (for tests and benchmarks)."""
        return self._flushed_by_shape + sum(len(shape.rows) for shape in self._shapes.values())

    def add_text(self, row: int, text: str, id_end: int, hint: Hashable = None) -> bool:
        """Take a MeterValues CALL from its text (``id_end``: the index of its unique id's closing quote)
        if a frame of the same shape was decoded and valid before; False: decode it instead. ``hint``
        (e.g. the connection) groups frames that are likely to share shapes: they are tried first."""
        tried = self._hints.get(hint)  # the shapes of the latest frames with this hint, latest first
        match = None
        if tried is not None:
            for shape in tried:
                match = shape.match(text, id_end)
                if match is not None:
                    break
        if match is None:
            shape = self._shapes.get(_shape_key(text, id_end)[1])
            if shape is None:
                return False
            match = shape.match(text, id_end)
            if match is None:  # cannot happen: the key and the match see the same captures
                return False
            if tried is None:
                tried = self._hints[hint] = []
            tried.insert(0, shape)
            del tried[_HINT_SHAPES:]
        shape.rows.append(row)
        shape.captures.append(match.groups())
        if len(shape.rows) == _FLUSH_FRAMES:
            self._flush(shape)
        return True

    def _flush(self, shape: _Shape) -> None:
        """Add the frames of ``shape`` taken by :meth:`add_text`, all at once. Their rows then follow rows
        added later; :meth:`to_table` puts every frame back in row order."""
        count = len(shape.rows)
        if count == 0:
            return
        self._flushed_by_shape += count
        columns = list(zip(*shape.captures))  # per capture: its text in each frame
        first_frame = len(self.frame_rows)
        self.frame_rows.extend(shape.rows)
        shape.rows, shape.captures = [], []
        self.frame_is_stop.extend([False] * count)
        self.frame_connector.extend(_captured_ints(columns, shape.connector_at, shape.connector, count))
        self.frame_tx.extend(_captured_ints(columns, shape.transaction_at, shape.transaction, count))
        per_frame = len(shape.element_index)
        self.el_frame.extend(np.repeat(np.arange(first_frame, first_frame + count), per_frame).tolist())
        self.el_ts.extend(_frame_by_frame(columns, shape.timestamps_at, count))
        self.el_index.extend(shape.element_index * count)
        self.el_count.extend(shape.element_count * count)
        kinds = shape.kind_codes * count
        self.kind_codes.extend(kinds)
        if shape.all_raw:
            numbers = np.empty((count, len(shape.values_at)), dtype=np.float64)
            try:
                for j, at in enumerate(shape.values_at):
                    numbers[:, j] = np.fromiter(map(float, columns[at]), dtype=np.float64, count=count)
            except (ValueError, OverflowError):
                pass  # some value is not a number: value by value below
            else:
                if np.isfinite(numbers).all():
                    self.values.frombytes(numbers.tobytes())  # C order: frame by frame, as the kinds
                    return
        is_raw, problems, values = self._is_raw, self.problems, self.values
        for value, kind in zip(_frame_by_frame(columns, shape.values_at, count), kinds):
            if is_raw[kind]:
                number, problem = _number(value)
                if problem is not None:
                    problems[len(values)] = problem
                values.append(number)
            else:
                values.append(math.nan)

    def add_payload(self, row: int, action: str, payload: dict[str, Any], text: str | None = None,
                    id_end: int = 0) -> None:
        """Take a decoded MeterValues or StopTransaction payload. ``text`` (given only for a schema-valid
        MeterValues, with ``id_end`` as for :meth:`add_text`) lets later frames of its shape skip decoding."""
        frame = len(self.frame_rows)
        self.frame_rows.append(row)
        first_sample = len(self.values)
        first_element = len(self.el_ts)
        if action == "MeterValues":
            self.frame_is_stop.append(False)
            self.frame_connector.append(int_or_none(payload.get("connectorId")))
            elements = payload.get("meterValue")
        else:
            self.frame_is_stop.append(True)
            self.frame_connector.append(None)  # filled from the StartTransaction in to_table
            elements = payload.get("transactionData")
        self.frame_tx.append(int_or_none(payload.get("transactionId")))
        if not isinstance(elements, list):
            return
        kinds, kind_of, is_raw = self.kinds, self.kinds.codes, self._is_raw
        add_kind, add_value, problems, values = self.kind_codes.append, self.values.append, self.problems, self.values
        nan = math.nan
        for k, element in enumerate(elements):
            if not isinstance(element, dict):
                continue
            sampled = element.get("sampledValue")
            if not isinstance(sampled, list):
                sampled = []
            self.el_frame.append(frame)
            self.el_ts.append(element.get("timestamp"))
            self.el_index.append(k)
            self.el_count.append(len(sampled))
            for sv in sampled:
                if type(sv) is not dict:
                    sv = _EMPTY
                get = sv.get
                key = (get("measurand"), get("phase"), get("location"), get("context"), get("format"), get("unit"))
                try:
                    kind = kind_of[key]
                except (KeyError, TypeError):
                    kind = kinds.add(key)
                    if kind == len(is_raw):
                        is_raw.append(kinds.rows[kind][8])
                add_kind(kind)
                raw = get("value")
                if not is_raw[kind]:  # SignedData: opaque signed blob, not a number by design
                    add_value(nan)
                    continue
                number, problem = _number(raw)
                if problem is not None:
                    problems[len(values)] = problem
                add_value(number)
        if text is not None:
            self._remember_shape(text, id_end, payload, first_element, first_sample)

    def _remember_shape(self, text: str, id_end: int, payload: dict[str, Any], first_element: int,
                        first_sample: int) -> None:
        """Keep this frame's shape when its captures are exactly its timestamps, values and ids, in order."""
        captured, key = _shape_key(text, id_end)
        names = [s if s is not None else i for s, i in zip(key[1::3], key[2::3])]
        expected: list[tuple[str, Any]] = []  # (key, text) in text order, from the decoded payload
        for key_name, value in payload.items():
            if key_name in _INTEGER_FIELDS and type(value) is int and 0 <= value < 10**18:
                expected.append((key_name, str(value)))
            elif key_name == "meterValue":
                for element in value:
                    for name, item in element.items():
                        if name == "timestamp":
                            expected.append(("timestamp", item))
                        elif name == "sampledValue":
                            expected.extend(("value", sv.get("value")) for sv in item for k in sv if k == "value")
        if list(zip(names, captured)) != expected:
            return  # an escape, a duplicate key, a value that is not a string ...: decode every time
        pick_ts = [i for i, name in enumerate(names) if name == "timestamp"]
        pick_values = [i for i, name in enumerate(names) if name == "value"]
        element_index = tuple(self.el_index[first_element:])
        if len(pick_ts) != len(element_index) or len(pick_values) != len(self.values) - first_sample:
            return
        self._shapes[key] = _Shape(
            _shape_matcher(key),
            self.frame_connector[-1], names.index("connectorId") if "connectorId" in names else None,
            self.frame_tx[-1], names.index("transactionId") if "transactionId" in names else None,
            element_index, tuple(self.el_count[first_element:]),
            tuple(self.kind_codes[first_sample:]), all(self._is_raw[k] for k in self.kind_codes[first_sample:]),
            pick_ts, pick_values)

    def to_table(self, frames: pd.DataFrame) -> pd.DataFrame:
        """The meter_values table; ``frames`` is the frames table the rows were fed from."""
        with paused_gc():
            return self._to_table(frames)

    def _in_row_order(self) -> None:
        """Add the frames still waiting in their shapes, then put frames, elements and samples in the order of
        the frames' rows (shapes add their frames in blocks, after frames of later rows)."""
        for shape in self._shapes.values():
            self._flush(shape)
        rows = np.asarray(self.frame_rows, dtype=np.int64)
        if len(rows) < 2 or bool(np.all(rows[1:] > rows[:-1])):
            return
        # Each frame's elements, and each element's samples, are consecutive: only frames need sorting.
        frame_order = np.argsort(rows, kind="stable")
        source_frame = np.asarray(self.el_frame, dtype=np.int64)
        per_frame = np.bincount(source_frame, minlength=len(rows))
        element_order = _groups_in_order(frame_order, per_frame)
        counts = np.asarray(self.el_count, dtype=np.int64)
        sample_order = _groups_in_order(element_order, counts)
        sample_rank = _ranks(sample_order)
        element_frame = np.repeat(np.arange(len(rows), dtype=np.int64), per_frame[frame_order])

        self.frame_rows = rows[frame_order].tolist()
        self.frame_is_stop = _taken(self.frame_is_stop, frame_order)
        self.frame_connector = _taken(self.frame_connector, frame_order)
        self.frame_tx = _taken(self.frame_tx, frame_order)
        self.el_frame = element_frame.tolist()
        self.el_ts = _taken(self.el_ts, element_order)
        self.el_index = _taken(self.el_index, element_order)
        self.el_count = counts[element_order].tolist()
        self.kind_codes = array("l", np.frombuffer(self.kind_codes, dtype=np.int_)[sample_order].tobytes())
        self.values = array("d", np.frombuffer(self.values, dtype=np.float64)[sample_order].tobytes())
        self.problems = {int(sample_rank[i]): text for i, text in self.problems.items()}

    def _to_table(self, frames: pd.DataFrame) -> pd.DataFrame:
        self._in_row_order()
        rows = np.asarray(self.frame_rows, dtype=np.int64)
        sel = frames[["ts", "charge_point_id", "connection_id", "seq"]]  # only what is taken, not the payloads
        sel = sel.iloc[rows] if len(rows) else sel.iloc[:0]
        problems = self.problems
        n = len(self.values)
        el_count = self.el_count
        counts = np.asarray(el_count, dtype=np.int64)
        sample_element = np.repeat(np.arange(len(el_count), dtype=np.int64), counts)
        first_sample = np.cumsum(counts) - counts  # of each element (its samples are consecutive)
        element_frame = np.asarray(self.el_frame, dtype=np.int64)
        sample_frame = element_frame[sample_element] if n else np.zeros(0, dtype=np.int64)
        codes = np.frombuffer(self.kind_codes, dtype=np.int_).astype(np.int64)
        value_array = np.frombuffer(self.values, dtype=np.float64).copy()

        element_ts, element_naive, element_problems = parse_payload_times(self.el_ts)
        for element_row in np.flatnonzero(element_ts.isna().to_numpy()).tolist():
            ts_problem = element_problems[element_row] or "sample has no timestamp"
            start = int(first_sample[element_row])
            for i in range(start, start + el_count[element_row]):
                problems[i] = ts_problem if i not in problems else f"{problems[i]}; {ts_problem}"

        kinds = self.kinds
        factors = np.asarray([row[7] for row in kinds.rows] or [1.0], dtype=np.float64)
        is_stop = np.asarray(self.frame_is_stop, dtype=np.int64)
        table = pd.DataFrame({
            "ts": element_ts.array.take(sample_element),
            "capture_ts": sel["ts"].array.take(sample_frame).astype(TS_DTYPE),
            "charge_point_id": _categorical_take(sel["charge_point_id"], sample_frame),
            "connection_id": _categorical_take(sel["connection_id"], sample_frame),
            "connector_id": pd.array(self.frame_connector, dtype="Int64").take(sample_frame),
            "transaction_id": pd.array(self.frame_tx, dtype="Int64").take(sample_frame),
            "measurand": kinds.column(0, codes),
            "phase": kinds.column(1, codes),
            "location": kinds.column(2, codes),
            "context": kinds.column(3, codes),
            "format": kinds.column(4, codes),
            "unit": kinds.column(5, codes),
            "value": value_array,
            "value_normalized": value_array * factors[codes] if n else value_array,
            "unit_normalized": kinds.column(6, codes),
            "source": pd.Categorical.from_codes(is_stop[sample_frame] if n else np.zeros(0, dtype=np.int64),
                                                categories=list(SOURCES)),
            "seq": sel["seq"].to_numpy(dtype=np.int64)[sample_frame],
            "meter_value_index": np.asarray(self.el_index, dtype=np.int64)[sample_element] if n
            else np.zeros(0, dtype=np.int64),
            "ts_naive": element_naive[sample_element] if n else np.zeros(0, dtype=bool),
            "problem": sparse_str_column(n, problems, storage="pyarrow"),
        }, copy=False)  # the columns are new arrays: no copy, and no consolidating copy into 2-D blocks
        _fill_stop_connectors(table, frames)
        return table


def _groups_in_order(order: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Item positions, group after group in ``order``, of consecutive groups of ``sizes`` items each."""
    starts = np.cumsum(sizes) - sizes
    taken = sizes[order]
    return np.repeat(starts[order] - (np.cumsum(taken) - taken), taken) + np.arange(int(taken.sum()), dtype=np.int64)


def _ranks(order: np.ndarray) -> np.ndarray:
    """The inverse permutation of ``order``: where each item goes."""
    ranks = np.empty_like(order)
    ranks[order] = np.arange(len(order), dtype=order.dtype)
    return ranks


def _taken(values: list[Any], order: np.ndarray) -> list[Any]:
    """``values`` in ``order`` (a permutation)."""
    return [values[i] for i in order.tolist()]


def build_meter_values(frames: pd.DataFrame) -> pd.DataFrame:
    """The meter_values table of a frames table (columns as in :data:`COLUMNS`), in capture order
    (seq, then position). :class:`~workbench.analysis.Capture` gets the same table from the frames pass."""
    mask = (
        (frames["message_type"] == "CALL")
        & (frames["direction"] == "charger_to_csms")
        & frames["action"].isin(SOURCES)
    ).to_numpy(dtype=bool, na_value=False)
    collector = MeterValueCollector()
    positions = np.flatnonzero(mask)
    for row, action, payload in zip(positions.tolist(), frames["action"].to_numpy(dtype=object)[positions].tolist(),
                                    frames["payload"].iloc[positions].tolist()):
        if isinstance(payload, dict):
            collector.add_payload(row, action, payload)
    return collector.to_table(frames)


def _fill_stop_connectors(table: pd.DataFrame, frames: pd.DataFrame) -> None:
    """Give transactionData samples the connector of their transaction's StartTransaction (the latest
    start with that transactionId on that charge point before the stop)."""
    is_stop = (table["source"] == "StopTransaction").to_numpy() & table["transaction_id"].notna().to_numpy()
    if not is_stop.any():
        return
    starts = started_transactions(frames)
    starts = starts[starts["transaction_id"].notna() & starts["connector_id"].notna() & starts["reply_seq"].notna()]
    if starts.empty:
        return
    stops = pd.DataFrame({
        "charge_point_id": cp_key(table["charge_point_id"][is_stop]).to_numpy(),
        "transaction_id": table["transaction_id"].to_numpy(dtype="int64", na_value=0)[is_stop],
        "seq": table["seq"].to_numpy()[is_stop],
        "row": np.flatnonzero(is_stop),
    }).sort_values("seq", kind="stable")
    right = starts[["charge_point_id", "transaction_id", "reply_seq", "connector_id"]].copy()
    right["transaction_id"] = right["transaction_id"].astype("int64")
    right["reply_seq"] = right["reply_seq"].astype("int64")
    right = right.sort_values("reply_seq", kind="stable")
    joined = pd.merge_asof(stops, right, left_on="seq", right_on="reply_seq",
                           by=["charge_point_id", "transaction_id"], direction="backward")
    found = joined["connector_id"].notna().to_numpy()
    if found.any():
        rows = joined["row"].to_numpy()[found]
        column = table["connector_id"].array.copy()
        column[rows] = joined["connector_id"].to_numpy(dtype="int64", na_value=0)[found]
        table["connector_id"] = column
