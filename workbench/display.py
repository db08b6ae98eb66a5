"""How tables and timestamps look in notebooks and reprs; the stored tables are never changed.

:func:`ts_ms` writes one timestamp to the millisecond; :func:`styled` gives a pandas ``Styler`` of
a table (also ``df.ocpp.view()``) with every timestamp column to the millisecond and the long text
columns (``raw``, ``message``, ...) shown whole instead of cut by ``display.max_colwidth``.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

import pandas as pd

from .errors import WorkbenchError

FULL_TEXT_COLUMNS = ("raw", "message", "error_description", "schema_error", "parse_error")
"""Columns shown whole (wrapped) by :func:`styled`: the frame text and messages people read."""
DEFAULT_ROWS = 60


def ts_ms(value: Any, *, date: bool = True) -> str:
    """``2026-11-21 20:06:46.366Z`` (UTC, milliseconds truncated, not rounded); ``-`` for a missing value.
    ``date=False`` leaves the date out (``20:06:46.366Z``)."""
    if value is None or (not isinstance(value, (list, tuple)) and pd.isna(value)):
        return "-"
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    text = stamp.strftime("%Y-%m-%d %H:%M:%S.%f" if date else "%H:%M:%S.%f")
    return text[:-3] + "Z"


def duration_text(seconds: float) -> str:
    """``15.1 s``, ``12 min 5 s``, ``3 h 2 min``, ``2 d 4 h``: a span for people."""
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s"


def _is_datetime(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(series.dtype)


def styled(table: pd.DataFrame, *, max_rows: int | None = DEFAULT_ROWS,
           full_text: Iterable[str] = FULL_TEXT_COLUMNS) -> Any:
    """A ``pandas.io.formats.style.Styler`` of ``table`` for a notebook: timestamps to the millisecond,
    ``full_text`` columns whole and wrapped, the first and last ``max_rows // 2`` rows of a longer table
    (None: every row; a Styler draws every row it is given, so keep it bounded for big tables)."""
    shown = table
    caption = f"{len(table):,} rows"
    if max_rows is not None and len(table) > max_rows:
        half = max(1, max_rows // 2)
        shown = pd.concat([table.head(half), table.tail(half)])
        caption = f"first and last {half:,} of {len(table):,} rows"
    formats = {column: ts_ms for column in shown.columns if _is_datetime(shown[column])}
    try:
        import jinja2  # noqa: F401  (pandas' Styler renders with it)
    except ImportError:
        raise WorkbenchError("table views need jinja2 (installed with Jupyter): pip install jinja2") from None
    # escape: frame text comes from the wire and must never become markup in a notebook.
    styler = shown.style.format(formats, na_rep="-", escape="html").set_caption(html.escape(caption))
    if formats:
        styler = styler.set_properties(subset=list(formats), **{"white-space": "nowrap"})
    wide = [column for column in full_text if column in shown.columns]
    if wide:
        styler = styler.set_properties(subset=wide, **{
            "white-space": "pre-wrap", "word-break": "break-all", "min-width": "30em",
            "text-align": "left", "font-family": "monospace"})
    return styler
