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
from typing import Any

import numpy as np
import pandas as pd

from .. import spec16
from ._columns import paused_gc
from .payload_time import TS_DTYPE, parse_payload_times

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


def _int_or_none(value: Any) -> int | None:
    """An integer field as sent; bools, fractions and non-numbers are None."""
    if type(value) is int:
        return value if -2**63 <= value < 2**63 else None
    if type(value) is float and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return None


def _text(value: Any) -> str | None:
    """A string field as sent; None when absent; other JSON types shown as text (schema checks flag them)."""
    if value is None or type(value) is str:
        return value
    return str(value)


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
            key = tuple(_text(v) if isinstance(v, (list, dict)) else v for v in key)
            code = self.codes.get(key)
        if code is not None:
            return code
        measurand, phase, location, context, value_format, unit = (_text(v) for v in key)
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
    """``column[positions]`` as a categorical: ids repeat on every sample, so factorise once per frame."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    return pd.Categorical.from_codes(codes[positions] if len(positions) else codes[:0],
                                     categories=pd.Index(uniques, dtype=object))


def build_meter_values(frames: pd.DataFrame) -> pd.DataFrame:
    """The meter_values table (columns as in :data:`COLUMNS`), in capture order (seq, then position)."""
    with paused_gc():
        return _build_meter_values(frames)


def _build_meter_values(frames: pd.DataFrame) -> pd.DataFrame:
    mask = (
        (frames["message_type"] == "CALL")
        & (frames["direction"] == "charger_to_csms")
        & frames["action"].isin(SOURCES)
    ).to_numpy(dtype=bool, na_value=False)
    sel = frames.loc[mask, ["ts", "charge_point_id", "connection_id", "seq", "action", "payload"]]

    frame_connector: list[int | None] = []
    frame_tx: list[int | None] = []
    el_frame: list[int] = []
    el_ts: list[Any] = []
    el_index: list[int] = []
    el_count: list[int] = []
    kind_codes: list[int] = []
    values: list[float] = []
    problems: dict[int, str] = {}
    kinds = _Kinds()
    kind_of = kinds.codes
    is_raw: list[bool] = []  # per kind: format Raw (a number is expected)
    nan = math.nan
    add_kind = kind_codes.append
    add_value = values.append

    for position, (action, payload) in enumerate(zip(sel["action"].tolist(), sel["payload"].tolist())):
        if not isinstance(payload, dict):
            frame_connector.append(None)
            frame_tx.append(None)
            continue
        if action == "MeterValues":
            frame_connector.append(_int_or_none(payload.get("connectorId")))
            elements = payload.get("meterValue")
        else:
            frame_connector.append(None)  # filled from the StartTransaction below
            elements = payload.get("transactionData")
        frame_tx.append(_int_or_none(payload.get("transactionId")))
        if not isinstance(elements, list):
            continue
        for k, element in enumerate(elements):
            if not isinstance(element, dict):
                continue
            sampled = element.get("sampledValue")
            if not isinstance(sampled, list):
                sampled = []
            el_frame.append(position)
            el_ts.append(element.get("timestamp"))
            el_index.append(k)
            el_count.append(len(sampled))
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
                if is_raw[kind]:
                    if type(raw) is str:
                        try:
                            number = float(raw)
                            if number - number == 0.0:  # finite
                                add_value(number)
                                continue
                        except ValueError:
                            pass
                    number, problem = _number(raw)
                    if problem is not None:
                        problems[len(values)] = problem
                    add_value(number)
                else:  # SignedData: opaque signed blob, not a number by design
                    add_value(nan)

    n = len(values)
    sample_element = np.repeat(np.arange(len(el_count), dtype=np.int64), np.asarray(el_count, dtype=np.int64))
    element_frame = np.asarray(el_frame, dtype=np.int64)
    sample_frame = element_frame[sample_element] if n else np.zeros(0, dtype=np.int64)
    codes = np.asarray(kind_codes, dtype=np.int64)

    element_ts, element_naive, element_problems = parse_payload_times(el_ts)
    for element_row in np.flatnonzero(element_ts.isna().to_numpy()):
        ts_problem = element_problems[element_row] or "sample has no timestamp"
        for i in np.flatnonzero(sample_element == element_row):
            problems[int(i)] = ts_problem if i not in problems else f"{problems[int(i)]}; {ts_problem}"
    problem_column = np.full(n, None, dtype=object)
    for i, text in problems.items():
        problem_column[i] = text

    factors = np.asarray([row[7] for row in kinds.rows] or [1.0], dtype=np.float64)
    value_array = np.asarray(values, dtype=np.float64)
    table = pd.DataFrame({
        "ts": element_ts.take(sample_element).reset_index(drop=True),
        "capture_ts": sel["ts"].take(sample_frame).reset_index(drop=True).astype(TS_DTYPE),
        "charge_point_id": _categorical_take(sel["charge_point_id"], sample_frame),
        "connection_id": _categorical_take(sel["connection_id"], sample_frame),
        "connector_id": pd.array(frame_connector, dtype="Int64").take(sample_frame),
        "transaction_id": pd.array(frame_tx, dtype="Int64").take(sample_frame),
        "measurand": kinds.column(0, codes),
        "phase": kinds.column(1, codes),
        "location": kinds.column(2, codes),
        "context": kinds.column(3, codes),
        "format": kinds.column(4, codes),
        "unit": kinds.column(5, codes),
        "value": value_array,
        "value_normalized": value_array * factors[codes] if n else value_array,
        "unit_normalized": kinds.column(6, codes),
        "source": pd.Categorical.from_codes(
            (sel["action"].to_numpy(dtype=object)[sample_frame] == SOURCES[1]).astype(np.int64),
            categories=list(SOURCES)),
        "seq": sel["seq"].to_numpy(dtype=np.int64)[sample_frame],
        "meter_value_index": np.asarray(el_index, dtype=np.int64)[sample_element] if n
        else np.zeros(0, dtype=np.int64),
        "ts_naive": element_naive[sample_element] if n else np.zeros(0, dtype=bool),
        "problem": pd.array(problem_column, dtype="str"),
    })
    _fill_stop_connectors(table, frames)
    return table


def _fill_stop_connectors(table: pd.DataFrame, frames: pd.DataFrame) -> None:
    """Give transactionData samples the connector of their transaction's StartTransaction (the latest
    start with that transactionId on that charge point before the stop)."""
    is_stop = (table["source"] == "StopTransaction").to_numpy() & table["transaction_id"].notna().to_numpy()
    if not is_stop.any():
        return
    from .transactions import _cp_key, started_transactions  # one definition of start <-> reply pairing

    starts = started_transactions(frames)
    starts = starts[starts["transaction_id"].notna() & starts["connector_id"].notna() & starts["reply_seq"].notna()]
    if starts.empty:
        return
    stops = pd.DataFrame({
        "charge_point_id": _cp_key(table["charge_point_id"][is_stop]).to_numpy(),
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
