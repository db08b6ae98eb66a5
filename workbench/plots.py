"""Plotly figures of a capture's tables: what people would rather look at than a table.

Each function takes a :class:`workbench.analysis.Capture` and returns a
``plotly.graph_objects.Figure``; nothing here computes a result the tables do not already hold.
Every function works on any capture: a capture without the rows a figure needs gives an empty
figure whose title says so. Figures keep to :data:`MAX_POINTS` drawn points (beyond that they
thin their input and say so in the title), so a fleet-day capture still opens in a browser.

Importing this module inside a Jupyter kernel makes plotly's outputs carry ``text/html`` as well
as plotly's own mime type (see :func:`use_html_renderer`), so executed notebooks exported to HTML
show their figures, offline.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from .checks.registry import SEVERITIES, CheckConfig

MAX_POINTS = 200_000
"""Most points (bars, markers, line vertices) one figure draws; larger inputs are thinned."""
MAX_LANES = 60
"""Most lanes a status timeline draws (charge points beyond are left out, the title says so)."""

# One colour per spec status, fixed so timelines of different chargers read alike.
STATUS_COLOURS = {
    "Available": "#2ca02c", "Preparing": "#bcbd22", "Charging": "#1f77b4", "SuspendedEV": "#9467bd",
    "SuspendedEVSE": "#e377c2", "Finishing": "#17becf", "Reserved": "#8c564b", "Unavailable": "#7f7f7f",
    "Faulted": "#d62728",
}
SEVERITY_COLOURS = {"error": "#d62728", "warning": "#ff7f0e", "info": "#1f77b4"}
SEVERITY_SYMBOLS = {"error": "x", "warning": "triangle-up", "info": "circle"}
CONNECTED_COLOUR = "#a1d99b"
DISCONNECTED_COLOUR = "#fcbba1"
HOVER_TEXT_CHARS = 600
"""Longest frame text shown in a hover box (the rest is cut, with a note)."""


# --- rendering -----------------------------------------------------------------------------------

def use_html_renderer() -> None:
    """In a Jupyter kernel, render figures as plotly's mime type AND as HTML with plotly.js embedded
    once per notebook, so JupyterLab draws them and so do nbconvert/nbval HTML exports (offline).

    Plotly picks ``plotly_mimetype`` alone in a kernel, which exported HTML cannot draw. Left alone
    when the user chose a renderer (``PLOTLY_RENDERER`` or another default)."""
    if os.environ.get("PLOTLY_RENDERER"):
        return
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return
    if pio.renderers.default in ("plotly_mimetype", "plotly_mimetype+notebook"):
        pio.renderers.default = "plotly_mimetype+notebook"


use_html_renderer()


# --- helpers -------------------------------------------------------------------------------------

def empty_figure(title: str, why: str) -> go.Figure:
    """A figure with a title and a line saying why it has nothing to draw."""
    figure = go.Figure()
    figure.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False}, height=260)
    figure.add_annotation(text=html.escape(why), showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                          font={"size": 14, "color": "#555"})
    return figure


def hover_text(text: Any, limit: int = HOVER_TEXT_CHARS, width: int = 100) -> str:
    """Frame text for a hover box: escaped, wrapped every ``width`` characters, cut at ``limit``."""
    if text is None or (isinstance(text, float) and np.isnan(text)) or text is pd.NA:
        return ""
    text = str(text)
    cut = len(text) > limit
    text = text[:limit]
    lines = [html.escape(text[i:i + width], quote=False) for i in range(0, len(text), width)]
    return "<br>".join(lines) + (f"<br>... ({len(text)}+ characters, cut)" if cut else "")


def _thin(table: pd.DataFrame, limit: int) -> tuple[pd.DataFrame, int]:
    """Every k-th row (first and last kept) so at most ``limit`` rows remain; returns (rows, k)."""
    if len(table) <= limit:
        return table, 1
    step = int(np.ceil(len(table) / limit))
    keep = np.zeros(len(table), dtype=bool)
    keep[::step] = True
    keep[-1] = True
    return table[keep], step


def _frame_texts(cap: Any, seqs: Iterable[Any]) -> dict[int, str]:
    """``frames.raw`` of the given seqs (missing ones left out)."""
    wanted = {int(s) for s in seqs if s is not None and not pd.isna(s)}
    if not wanted:
        return {}
    frames = cap.frames
    rows = frames[frames["seq"].isin(wanted)]
    return dict(zip(rows["seq"].tolist(), rows["raw"].tolist()))


def _ts(value: Any) -> pd.Timestamp | None:
    """A UTC timestamp from anything pandas reads (naive means UTC), or None."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        return None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _note(title: str, notes: list[str]) -> str:
    return title + (f"<br><sup>{'; '.join(notes)}</sup>" if notes else "")


def _lane_name(charge_point_id: Any, what: str) -> str:
    return f"{charge_point_id if isinstance(charge_point_id, str) else '(unknown)'} {what}"


# --- status timeline -----------------------------------------------------------------------------

def status_periods(status: pd.DataFrame, end: pd.Timestamp | None = None,
                   connection_ends: dict[str, pd.Timestamp] | None = None) -> pd.DataFrame:
    """One row per status period: charge_point_id, connector_id, status, start, end, seq (the
    StatusNotification's frame). A period ends at the connector's next status, at the close of the
    connection that reported it (``connection_ends``: connection_id -> close time; after it the
    status is unknown), or at ``end`` (default the last status time of the table)."""
    columns = ["charge_point_id", "connector_id", "status", "start", "end", "seq"]
    if status.empty:
        return pd.DataFrame(columns=columns)
    table = status.sort_values(["charge_point_id", "connector_id", "ts"], kind="stable")
    periods = table[["charge_point_id", "connector_id", "status"]].copy()
    periods["start"] = table["ts"]
    periods["seq"] = table["seq"] if "seq" in table.columns else pd.NA
    following = table.groupby(["charge_point_id", "connector_id"], dropna=False)["ts"].shift(-1)
    last = end if end is not None else table["ts"].max()
    periods["end"] = following.fillna(last)
    if connection_ends and "connection_id" in table.columns:
        closes = table["connection_id"].map(connection_ends)
        closes = pd.to_datetime(closes, utc=True).astype(periods["end"].dtype)
        cut = closes.notna() & (closes < periods["end"]) & (closes >= periods["start"])
        periods.loc[cut, "end"] = closes[cut]
    return periods.reset_index(drop=True)[columns]


def _connection_ends(cap: Any) -> dict[str, pd.Timestamp]:
    """connection_id -> when it closed (closed connections only)."""
    connections = cap.connections
    closed = connections[connections["close_ts"].notna()]
    return dict(zip(closed["connection_id"].tolist(), closed["close_ts"].tolist()))


def _bar_trace(rows: pd.DataFrame, name: str, colour: str, hover: list[str], legendgroup: str) -> go.Bar:
    """Horizontal bars from ``start`` to ``end`` on lane ``lane`` (a date x axis)."""
    width_ms = (rows["end"] - rows["start"]) / pd.Timedelta(milliseconds=1)
    return go.Bar(orientation="h", base=rows["start"].dt.tz_convert(None), x=width_ms.to_numpy(dtype=float),
                  y=rows["lane"], name=name, marker={"color": colour, "line": {"width": 0}},
                  hovertext=hover, hoverinfo="text", legendgroup=legendgroup)


def status_timeline(cap: Any, charge_point_id: str | None = None, *, start: Any = None, end: Any = None) -> go.Figure:
    """Status of every connector over time: per charge point a ``link`` lane (WebSocket connected /
    disconnected, rejected upgrades as crosses) and one lane per connector (StatusNotification
    periods; a status ends when its connection closes). Findings are marked on the lane of their
    connector (else the link lane). Hover shows the frame behind each bar and mark.
    ``start``/``end`` limit the time window (UTC; naive means UTC)."""
    title = "Status timeline" + (f": {charge_point_id}" if charge_point_id else "")
    status, connections, findings = cap.status, cap.connections, cap.findings
    if charge_point_id is not None:
        status = status[status["charge_point_id"] == charge_point_id]
        connections = connections[connections["charge_point_id"] == charge_point_id]
        findings = findings[findings["charge_point_id"] == charge_point_id]
    if status.empty and connections.empty:
        return empty_figure(title, "no StatusNotification and no connection in this capture")
    frames_end = cap.frames["ts"].max() if len(cap.frames) else None
    window_start, window_end = _ts(start), _ts(end)
    capture_end = frames_end if frames_end is not None and not pd.isna(frames_end) else status["ts"].max()
    notes: list[str] = []

    cps = sorted({str(c) for c in status["charge_point_id"].dropna()}
                 | {str(c) for c in connections["charge_point_id"].dropna()})
    if len(cps) * 3 > MAX_LANES:
        # The charge points with the most findings are the ones to look at first.
        counts = findings["charge_point_id"].value_counts()
        keep = sorted(sorted(cps, key=lambda cp: (-int(counts.get(cp, 0)), cp))[: max(1, MAX_LANES // 3)])
        notes.append(f"{len(keep)} of {len(cps)} charge points, those with the most findings; "
                     "pass charge_point_id= for others")
        status = status[status["charge_point_id"].isin(keep)]
        connections = connections[connections["charge_point_id"].isin(keep)]
        findings = findings[findings["charge_point_id"].isin(keep)]
        cps = keep

    periods = status_periods(status, capture_end, _connection_ends(cap))
    periods["lane"] = [_lane_name(cp, f"#{c}") for cp, c in zip(periods["charge_point_id"], periods["connector_id"])]
    links = _link_periods(connections, capture_end)
    if window_start is not None or window_end is not None:
        lo = window_start or pd.Timestamp.min.tz_localize("UTC")
        hi = window_end or pd.Timestamp.max.tz_localize("UTC")
        periods = _clip(periods, lo, hi)
        links = _clip(links, lo, hi)
        findings = findings[(findings["ts"] >= lo) & (findings["ts"] <= hi)]
    periods, step = _thin(periods, MAX_POINTS)
    if step > 1:
        notes.append(f"every {step}th status period of {len(periods) * step:,}")

    lanes = []
    for cp in cps:
        lanes.append(_lane_name(cp, "link"))
        connectors = sorted({int(c) for c in periods.loc[periods["charge_point_id"] == cp, "connector_id"].dropna()})
        lanes.extend(_lane_name(cp, f"#{c}") for c in connectors)
    figure = go.Figure()
    texts = _frame_texts(cap, periods["seq"].dropna())
    for name in [s for s in STATUS_COLOURS if s in set(periods["status"])] + sorted(
            set(periods["status"].dropna()) - set(STATUS_COLOURS)):
        rows = periods[periods["status"] == name]
        hover = [f"<b>{html.escape(str(name))}</b> {lane}<br>{s:%H:%M:%S.%f} .. {e:%H:%M:%S.%f}<br>"
                 f"frame {seq}: {hover_text(texts.get(int(seq)) if not pd.isna(seq) else None)}"
                 for lane, s, e, seq in zip(rows["lane"], rows["start"], rows["end"], rows["seq"])]
        figure.add_trace(_bar_trace(rows, str(name), STATUS_COLOURS.get(str(name), "#999999"), hover, "status"))
    for state, colour in (("connected", CONNECTED_COLOUR), ("disconnected", DISCONNECTED_COLOUR)):
        rows = links[links["state"] == state]
        if len(rows):
            hover = [f"<b>{state}</b> {lane}<br>{s:%H:%M:%S.%f} .. {e:%H:%M:%S.%f}<br>{html.escape(str(d))}"
                     for lane, s, e, d in zip(rows["lane"], rows["start"], rows["end"], rows["detail"])]
            figure.add_trace(_bar_trace(rows, state, colour, hover, "link"))
    rejected = connections[connections["state"] == "rejected"] if "state" in connections.columns else connections.iloc[:0]
    if len(rejected):
        figure.add_scatter(x=rejected["ts"].dt.tz_convert(None), y=[_lane_name(c, "link") for c in rejected["charge_point_id"]],
                           mode="markers", name="upgrade rejected", marker={"symbol": "x-thin-open", "size": 12, "color": "#d62728"},
                           hovertext=[f"upgrade rejected, HTTP {h}" for h in rejected["http_status"]], hoverinfo="text")
    _mark_findings(cap, figure, findings, set(lanes))
    figure.update_layout(title=_note(title, notes), barmode="overlay", xaxis={"type": "date", "title": "time (UTC)"},
                         yaxis={"categoryorder": "array", "categoryarray": lanes, "autorange": "reversed", "title": None},
                         height=max(260, 120 + 28 * len(lanes)), legend={"traceorder": "grouped"})
    if window_start is not None or window_end is not None:
        figure.update_xaxes(range=[(window_start or periods["start"].min()).tz_convert(None),
                                   (window_end or periods["end"].max()).tz_convert(None)])
    return figure


def _clip(periods: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    rows = periods[(periods["end"] >= lo) & (periods["start"] <= hi)].copy()
    rows["start"] = rows["start"].clip(lower=lo)
    rows["end"] = rows["end"].clip(upper=hi)
    return rows


def _link_periods(connections: pd.DataFrame, capture_end: Any) -> pd.DataFrame:
    """Per charge point: connected periods (open to close, or to the capture end) and the
    disconnected gaps between them."""
    columns = ["charge_point_id", "lane", "state", "start", "end", "detail"]
    opened = connections[connections["state"] != "rejected"] if "state" in connections.columns else connections
    if opened.empty:
        return pd.DataFrame(columns=columns).astype({"start": "datetime64[us, UTC]", "end": "datetime64[us, UTC]"})
    rows: list[tuple[Any, ...]] = []
    for cp, group in opened.sort_values("ts", kind="stable").groupby("charge_point_id", dropna=False, sort=True):
        previous_end = None
        for start, close, code, reason, closed_by in zip(group["ts"], group["close_ts"], group["close_code"],
                                                         group["close_reason"], group["closed_by"]):
            stop = close if not pd.isna(close) else capture_end
            if previous_end is not None and start > previous_end:
                rows.append((cp, _lane_name(cp, "link"), "disconnected", previous_end, start, "no WebSocket"))
            who = closed_by if isinstance(closed_by, str) else "?"
            why = reason if isinstance(reason, str) else ""
            detail = "open at the end of the capture" if pd.isna(close) else f"closed by {who}, code {code} {why}"
            rows.append((cp, _lane_name(cp, "link"), "connected", start, stop, detail))
            previous_end = stop if previous_end is None else max(previous_end, stop)
    table = pd.DataFrame(rows, columns=columns)
    for column in ("start", "end"):
        table[column] = pd.to_datetime(table[column], utc=True)
    return table


def _mark_findings(cap: Any, figure: go.Figure, findings: pd.DataFrame, lanes: set[str]) -> None:
    """Findings as markers on the lane of their connector (else the charge point's link lane)."""
    findings = findings[findings["ts"].notna()]
    if findings.empty:
        return
    findings, _ = _thin(findings, MAX_POINTS // 4)
    first_seqs = [seqs[0] if len(seqs) else None for seqs in findings["frame_seqs"]]
    texts = _frame_texts(cap, first_seqs)
    for severity in SEVERITIES:
        rows = findings[findings["severity"] == severity]
        if rows.empty:
            continue
        lane_of = []
        for cp, connector in zip(rows["charge_point_id"], rows["connector_id"]):
            lane = _lane_name(cp, f"#{connector}") if not pd.isna(connector) else None
            lane_of.append(lane if lane in lanes else _lane_name(cp, "link"))
        hover = [f"<b>{severity}: {html.escape(str(check))}</b><br>{hover_text(message, 300)}<br>"
                 f"frames {list(seqs)[:10]}<br>{hover_text(texts.get(seqs[0]) if len(seqs) else None, 300)}"
                 for check, message, seqs in zip(rows["check"], rows["message"], rows["frame_seqs"])]
        figure.add_scatter(x=rows["ts"].dt.tz_convert(None), y=lane_of, mode="markers", name=f"finding: {severity}",
                           marker={"symbol": SEVERITY_SYMBOLS[severity], "size": 12, "color": SEVERITY_COLOURS[severity],
                                   "line": {"width": 2, "color": SEVERITY_COLOURS[severity]}},
                           hovertext=hover, hoverinfo="text", legendgroup="findings")


# --- one session ---------------------------------------------------------------------------------

def _session_row(cap: Any, transaction_id: Any, charge_point_id: str | None) -> tuple[pd.Series | None, list[str]]:
    sessions = cap.transactions
    rows = sessions[sessions["transaction_id"] == transaction_id] if len(sessions) else sessions
    if charge_point_id is not None and len(rows):
        rows = rows[rows["charge_point_id"] == charge_point_id]
    if rows.empty:
        return None, []
    notes = [f"first of {len(rows)} sessions with this id; pass charge_point_id="] if len(rows) > 1 else []
    return rows.iloc[0], notes


def session_samples(cap: Any, session: pd.Series) -> pd.DataFrame:
    """The meter_values rows of one session (a ``transactions`` row): those carrying its transactionId
    between its start and stop frames, and those without it (or with another) taken on its connector
    between its start and stop times."""
    values = cap.meter_values
    values = values[values["charge_point_id"] == session["charge_point_id"]]
    start_seq = session.get("start_seq")
    stop_seq = session.get("stop_seq")
    lo_seq = -1 if pd.isna(start_seq) else int(start_seq)
    hi_seq = np.iinfo(np.int64).max if pd.isna(stop_seq) else int(stop_seq)
    tx = session["transaction_id"]
    by_id = (values["transaction_id"] == tx).fillna(False) if not pd.isna(tx) else pd.Series(False, index=values.index)
    by_id &= (values["seq"] >= lo_seq) & (values["seq"] <= hi_seq)
    start, stop = session.get("start_ts"), session.get("stop_ts")
    by_time = pd.Series(False, index=values.index)
    if not pd.isna(session.get("connector_id")) and not pd.isna(start):
        by_time = (values["connector_id"] == session["connector_id"]).fillna(False) & (values["ts"] >= start)
        if not pd.isna(stop):
            by_time &= values["ts"] <= stop
        by_time &= ~(values["transaction_id"] == tx).fillna(False) if not pd.isna(tx) else True
    return values[by_id | by_time].sort_values(["ts", "seq"], kind="stable")


def _with_gaps(times: pd.Series, values: np.ndarray, max_gap_s: float) -> tuple[list[Any], list[Any]]:
    """x, y with a None inserted wherever two points are more than ``max_gap_s`` apart (a break in the line)."""
    xs: list[Any] = []
    ys: list[Any] = []
    previous = None
    for t, v in zip(times.dt.tz_convert(None), values):
        if previous is not None and (t - previous).total_seconds() > max_gap_s:
            xs.append(None)
            ys.append(None)
        xs.append(t)
        ys.append(None if np.isnan(v) else float(v))
        previous = t
    return xs, ys


def session_view(cap: Any, transaction_id: int, charge_point_id: str | None = None) -> go.Figure:
    """Power (W, left axis) and cumulative energy (Wh since the start, right axis) of ONE session.

    Register samples are markers, meterStart/meterStop diamonds, integrated power a dashed line;
    SuspendedEV/SuspendedEVSE periods are shaded. A gap in the readings longer than 1.5 sample
    intervals (at least 2x the median spacing) breaks the lines instead of drawing across it."""
    session, notes = _session_row(cap, transaction_id, charge_point_id)
    title = f"Session: transactionId {transaction_id}" + (f" on {charge_point_id}" if charge_point_id else "")
    if session is None:
        return empty_figure(title, f"no session with transactionId {transaction_id} in this capture")
    from .tables.transactions import power_readings

    cp, connector = session["charge_point_id"], session["connector_id"]
    title = f"Session {cp} connector {connector} transaction {transaction_id}"
    samples = session_samples(cap, session)
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    power = power_readings(samples).sort_values("ts", kind="stable") if len(samples) else samples.iloc[:0]
    power = power[power["ts"].notna()] if len(power) else power
    spacing = power["ts"].diff().dt.total_seconds().median() if len(power) > 1 else np.nan
    interval = session.get("sample_interval_s")
    interval = interval if interval is not None and not pd.isna(interval) and interval > 0 else spacing
    max_gap_s = max(1.5 * interval, 2 * spacing) if not pd.isna(interval) else float("inf")
    if len(power):
        power, step = _thin(power, MAX_POINTS // 2)
        if step > 1:
            notes.append(f"every {step}th power reading")
        xs, ys = _with_gaps(power["ts"], power["power_w"].to_numpy(dtype=float), max_gap_s)
        figure.add_scatter(x=xs, y=ys, mode="lines+markers", name="power (W)", connectgaps=False,
                           line={"color": "#1f77b4"}, marker={"size": 5}, secondary_y=False,
                           hovertemplate="%{x|%H:%M:%S.%L}: %{y:,.0f} W<extra>power</extra>")
        energy = _cumulative_energy_wh(power)
        xs, ys = _with_gaps(power["ts"], energy, max_gap_s)
        figure.add_scatter(x=xs, y=ys, mode="lines", name="integrated power (Wh)", connectgaps=False,
                           line={"color": "#ff7f0e", "dash": "dash"}, secondary_y=True,
                           hovertemplate="%{x|%H:%M:%S.%L}: %{y:,.3f} Wh<extra>integrated</extra>")
    register = _register_samples(samples)
    if len(register):
        register, repeated = _split_boundary_readings(register)
        register, _ = _thin(register, MAX_POINTS // 4)
        _plot_register(figure, register, session, max_gap_s)
        if len(repeated):
            figure.add_scatter(x=repeated["ts"].dt.tz_convert(None), y=np.zeros(len(repeated)), mode="markers",
                               name="Transaction.Begin/End register sent again", secondary_y=True,
                               marker={"symbol": "line-ns-open", "size": 10, "color": "#d62728"},
                               customdata=np.stack([repeated["value_normalized"], repeated["context"].astype(str),
                                                    repeated["seq"]], axis=1),
                               hovertemplate="%{customdata[1]} register %{customdata[0]:,.3f} Wh sent again "
                                             "(frame %{customdata[2]})<extra></extra>")
    _mark_meter_start_stop(figure, session)
    _shade_suspended(cap, figure, session)
    if not len(power) and register.empty and pd.isna(session.get("meter_start_wh")):
        notes.append("no meter values for this session")
    figure.update_layout(title=_note(title, notes), hovermode="closest", legend={"orientation": "h", "y": -0.2})
    figure.update_xaxes(title="time (UTC)", type="date")
    figure.update_yaxes(title="power (W)", secondary_y=False, rangemode="tozero")
    figure.update_yaxes(title="energy since start (Wh)", secondary_y=True, rangemode="tozero", showgrid=False)
    return figure


def _cumulative_energy_wh(power: pd.DataFrame) -> np.ndarray:
    """Trapezoid integral of power_w over ts, in Wh, from 0 at the first reading."""
    seconds = (power["ts"] - power["ts"].iloc[0]).dt.total_seconds().to_numpy(dtype=float)
    watts = np.nan_to_num(power["power_w"].to_numpy(dtype=float))
    steps = np.diff(seconds) * (watts[1:] + watts[:-1]) / 2 / 3600
    return np.concatenate([[0.0], np.cumsum(steps)])


def _register_samples(samples: pd.DataFrame) -> pd.DataFrame:
    """Energy.Active.Import.Register overall values (Outlet preferred), in time order."""
    register = samples[(samples["measurand"] == "Energy.Active.Import.Register") & samples["phase"].isna()
                       & samples["value_normalized"].notna() & samples["ts"].notna()]
    if register.empty:
        return register
    outlet = register[register["location"] == "Outlet"]
    return (outlet if len(outlet) else register).sort_values(["ts", "seq"], kind="stable")


def _split_boundary_readings(register: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the register line: periodic readings plus the first Transaction.Begin and the last
    Transaction.End, the boundary readings sent again). A charger that repeats its Begin value in
    every MeterValues would otherwise draw a saw-tooth down to the start value."""
    context = register["context"].astype(str)
    begin = np.flatnonzero((context == "Transaction.Begin").to_numpy())
    end = np.flatnonzero((context == "Transaction.End").to_numpy())
    extra = np.zeros(len(register), dtype=bool)
    extra[begin[1:]] = True
    extra[end[:-1]] = True
    return register[~extra], register[extra]


def _plot_register(figure: go.Figure, register: pd.DataFrame, session: pd.Series, max_gap_s: float) -> None:
    """Register samples as energy since the session's start (meterStart when sent, else the first
    sample). A sample ~1000x off that baseline (kWh sent as Wh, or the reverse) is drawn scaled back,
    as a red cross saying so, instead of pulling the axis down to -1000x the session."""
    sent = register["value_normalized"].to_numpy(dtype=float)
    meter_start = session.get("meter_start_wh")
    baseline = float(meter_start) if meter_start is not None and not pd.isna(meter_start) else sent[0]
    ratio = np.divide(sent, baseline, out=np.ones_like(sent), where=baseline != 0)
    low, high = (ratio >= 1 / 2000) & (ratio <= 1 / 500), (ratio >= 500) & (ratio <= 2000)
    shown = np.where(low, sent * 1000, np.where(high, sent / 1000, sent))
    if not (low | high)[0] and abs(sent[0] - baseline) > 0.5 * max(abs(baseline), 1):
        baseline = sent[0]  # meterStart is not on the register's scale (rebased register): start from the first sample
    since_start = shown - baseline
    customdata = np.stack([sent, register["context"].astype(str).to_numpy(), register["seq"].to_numpy()], axis=1)
    xs, ys = _with_gaps(register["ts"], since_start, max_gap_s)
    figure.add_scatter(x=xs, y=ys, mode="lines+markers", name="register since start (Wh)", connectgaps=False,
                       line={"color": "#2ca02c", "width": 1}, marker={"size": 8, "symbol": "circle-open"},
                       secondary_y=True, customdata=customdata,
                       hovertemplate="%{x|%H:%M:%S.%L}: +%{y:,.3f} Wh (register sent %{customdata[0]:,.3f} Wh, "
                                     "%{customdata[1]}, frame %{customdata[2]})<extra>register</extra>")
    faulty = low | high
    if faulty.any():
        figure.add_scatter(x=register["ts"][faulty].dt.tz_convert(None), y=since_start[faulty], mode="markers",
                           name="register ~1000x off (unit fault), drawn scaled back",
                           marker={"symbol": "x", "size": 10, "color": "#d62728"}, secondary_y=True,
                           customdata=customdata[faulty],
                           hovertemplate="sent %{customdata[0]:,.3f} Wh: ~1000x off the meter, a kWh/Wh unit fault"
                                         "<br>frame %{customdata[2]}<extra></extra>")


def _mark_meter_start_stop(figure: go.Figure, session: pd.Series) -> None:
    start_wh, stop_wh = session.get("meter_start_wh"), session.get("meter_stop_wh")
    points = []
    if not pd.isna(start_wh) and not pd.isna(session.get("start_ts")):
        points.append((session["start_ts"], 0.0, f"meterStart {start_wh:,.0f} Wh", "frame " + str(session.get("start_seq"))))
    if not pd.isna(stop_wh) and not pd.isna(session.get("stop_ts")):
        base = start_wh if not pd.isna(start_wh) else stop_wh
        points.append((session["stop_ts"], stop_wh - base,
                       f"meterStop {stop_wh:,.0f} Wh (stop - start {stop_wh - base:,.0f} Wh)", "frame " + str(session.get("stop_seq"))))
    if points:
        figure.add_scatter(x=[p[0].tz_convert(None) for p in points], y=[p[1] for p in points], mode="markers+text",
                           name="meterStart / meterStop", text=[p[2].split(" (")[0] for p in points],
                           textposition=["top right" if "meterStart" in p[2] else "top left" for p in points],
                           hovertext=[f"{p[2]}<br>{p[3]}" for p in points], hoverinfo="text",
                           marker={"symbol": "diamond", "size": 13, "color": "black"}, secondary_y=True)


def _shade_suspended(cap: Any, figure: go.Figure, session: pd.Series) -> None:
    start, stop = session.get("start_ts"), session.get("stop_ts")
    if pd.isna(start):
        return
    status = cap.status
    status = status[(status["charge_point_id"] == session["charge_point_id"])
                    & (status["connector_id"] == session["connector_id"]).fillna(False)]
    if status.empty:
        return
    end = stop if not pd.isna(stop) else cap.frames["ts"].max()
    periods = status_periods(status, end, _connection_ends(cap))
    periods = periods[periods["status"].isin(["SuspendedEV", "SuspendedEVSE"])]
    periods = _clip(periods, start, end)
    for name, lo, hi in zip(periods["status"], periods["start"], periods["end"]):
        if hi <= lo:
            continue
        figure.add_vrect(x0=lo.tz_convert(None), x1=hi.tz_convert(None), fillcolor=STATUS_COLOURS[name], opacity=0.18,
                         line_width=0, layer="below", annotation_text=name, annotation_position="top left",
                         annotation_font_size=10)


# --- energy reconciliation -----------------------------------------------------------------------

ENERGY_WAYS = {"energy_wh": "meterStop - meterStart", "energy_register_wh": "register samples",
               "energy_integrated_wh": "integrated power"}
ENERGY_FINDING_WORDS = {
    "energy_kwh_as_wh": "unit fault: kWh sent as Wh (or kW as W)",
    "energy_integrated_mismatch": "integrated power outside tolerance",
    "energy_meter_start_stop": "meterStart/meterStop disagree with the register",
    "energy_stop_below_start": "meterStop below meterStart",
    "energy_register_rebased": "register restarted (session energy sent as register)",
    "energy_register_monotonic": "register went backwards",
    "energy_begin_repeated": "Transaction.Begin repeated",
}


def energy_notes(sessions: pd.DataFrame, findings: pd.DataFrame) -> list[list[str]]:
    """Per session (row of ``sessions``), what is wrong with its energy, in words: the energy findings
    of that session, and any way that differs from meterStop - meterStart beyond its tolerance."""
    by_session: dict[tuple[Any, Any], list[str]] = {}
    energy_findings = findings[findings["check"].astype(str).str.startswith("energy_")]
    for cp, tx, check in zip(energy_findings["charge_point_id"], energy_findings["transaction_id"], energy_findings["check"]):
        words = ENERGY_FINDING_WORDS.get(check, check)
        notes = by_session.setdefault((cp, None if pd.isna(tx) else int(tx)), [])
        if words not in notes:
            notes.append(words)
    out = []
    for row in sessions.itertuples(index=False):
        tx = None if pd.isna(row.transaction_id) else int(row.transaction_id)
        notes = list(by_session.get((row.charge_point_id, tx), []))
        meter, register, integrated = row.energy_wh, row.energy_register_wh, row.energy_integrated_wh
        tolerance = row.energy_tolerance_wh if not pd.isna(row.energy_tolerance_wh) else 1.0
        if not pd.isna(meter) and not pd.isna(register) and abs(register - meter) > 1 + 0.01 * abs(meter):
            ratio = meter / register if register else np.inf
            if 500 <= abs(ratio) <= 2000:
                notes.append(f"register {register:,.3f} Wh is ~1/{ratio:,.0f} of {meter:,.0f} Wh")
            else:
                notes.append(f"register differs by {register - meter:+,.1f} Wh")
        reference = meter if not pd.isna(meter) else register
        if not pd.isna(reference) and not pd.isna(integrated) and abs(integrated - reference) > tolerance:
            notes.append(f"integrated power differs by {integrated - reference:+,.1f} Wh (tolerance {tolerance:,.1f})")
        out.append(notes)
    return out


def _short_number(value: float) -> str:
    """A bar label: whole Wh from 100 up, one decimal from 1, three significant digits below 1."""
    if pd.isna(value):
        return "n/a"
    size = abs(value)
    return f"{value:,.0f}" if size >= 100 else f"{value:.1f}" if size >= 1 else f"{value:.3g}"


def _session_labels(sessions: pd.DataFrame) -> list[str]:
    labels = []
    for cp, connector, tx, start in zip(sessions["charge_point_id"], sessions["connector_id"],
                                        sessions["transaction_id"], sessions["start_ts"]):
        name = cp if isinstance(cp, str) else "(unknown)"
        labels.append(f"{name} tx {tx}" if not pd.isna(tx) else f"{name} c{connector} {start:%H:%M:%S}"
                      if not pd.isna(start) else f"{name} c{connector}")
    # Two sessions may share a label (a transactionId reused): number the repeats.
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return unique


def energy_reconciliation(cap: Any, truth: pd.DataFrame | None = None, *, max_sessions: int = 40) -> go.Figure:
    """Energy of every session three ways (meterStop - meterStart, register samples, integrated power,
    in Wh) with the integral's tolerance as an error bar, every value written on its bar (a kWh-as-Wh
    register of 0.012 Wh is a labelled stub, not a missing bar), and what is wrong in words above the
    session. With a ground-truth table (charge_point_id, transaction_id, energy_wh) the truth is a
    black diamond. Beyond ``max_sessions`` sessions the ones with notes come first."""
    title = "Energy per session, three ways"
    sessions = cap.transactions
    if sessions.empty:
        return empty_figure(title, "no sessions (StartTransaction / StopTransaction) in this capture")
    sessions = sessions.reset_index(drop=True)
    notes = energy_notes(sessions, cap.findings)
    sessions = sessions.assign(_notes=notes, _label=_session_labels(sessions))
    title_notes = []
    if len(sessions) > max_sessions:
        flagged = sessions[sessions["_notes"].map(bool)]
        rest = sessions[~sessions["_notes"].map(bool)]
        chosen = pd.concat([flagged, rest]).head(max_sessions)
        title_notes.append(f"{len(chosen)} of {len(sessions)} sessions, {len(flagged)} with notes first")
        sessions = chosen
    figure = go.Figure()
    colours = {"energy_wh": "#1f77b4", "energy_register_wh": "#2ca02c", "energy_integrated_wh": "#ff7f0e"}
    for column, label in ENERGY_WAYS.items():
        values = sessions[column].astype(float)
        error = None
        if column == "energy_integrated_wh":
            error = {"type": "data", "array": sessions["energy_tolerance_wh"].astype(float).fillna(0).tolist(),
                     "visible": True, "color": "#555", "thickness": 1.2, "width": 4}
        figure.add_bar(name=label, x=sessions["_label"], y=values, error_y=error, marker_color=colours[column],
                       text=[_short_number(v) for v in values],
                       textposition="outside", cliponaxis=False, textfont={"size": 10},
                       hovertemplate="%{x}<br>" + label + ": %{y:,.3f} Wh<extra></extra>")
    if truth is not None and not truth.empty:
        merged = sessions.merge(truth[["charge_point_id", "transaction_id", "energy_wh"]],
                                on=["charge_point_id", "transaction_id"], suffixes=("", "_truth"), how="left")
        figure.add_scatter(name="truth", x=merged["_label"], y=merged["energy_wh_truth"], mode="markers",
                           marker={"symbol": "diamond", "size": 11, "color": "black"},
                           hovertemplate="%{x}<br>truth: %{y:,.3f} Wh<extra></extra>")
    top = np.nanmax(sessions[list(ENERGY_WAYS)].to_numpy(dtype=float), axis=1, initial=0.0)
    with_tolerance = (sessions["energy_integrated_wh"] + sessions["energy_tolerance_wh"]).to_numpy(dtype=float)
    ceiling = float(np.nanmax(np.append(np.append(top, with_tolerance), 0.0)))
    flagged = int(sessions["_notes"].map(bool).sum())
    level = 0
    for label, words, height in zip(sessions["_label"], sessions["_notes"], top):
        if words:
            # Neighbouring notes at staggered heights so they do not cover each other; with many, only
            # the first cause of each (the sessions table and hover have them all).
            common = {"x": label, "y": height if not np.isnan(height) else 0, "showarrow": True, "arrowhead": 2,
                      "ax": 0, "font": {"color": "#b00", "size": 11}, "bgcolor": "rgba(255,255,255,0.85)",
                      "bordercolor": "#b00", "hovertext": "<br>".join(html.escape(w) for w in words)}
            if flagged <= 3:
                figure.add_annotation(text="<br>".join(html.escape(w) for w in words), yshift=28,
                                      ay=-30 - 12 * len(words) - 34 * (level % 2), **common)
            else:  # many: the first cause of each, written upwards so neighbours do not cover each other
                text = words[0] if len(words[0]) <= 44 else words[0][:43] + "…"
                figure.add_annotation(text=html.escape(text), textangle=-90, yshift=20, ay=-(16 + 3.2 * len(text)),
                                      **common)
            level += 1
    floor = min(0.0, float(np.nanmin(sessions[list(ENERGY_WAYS)].to_numpy(dtype=float), initial=0.0)) * 1.2)
    figure.update_layout(title=_note(title, title_notes), barmode="group", yaxis_title="Wh", xaxis_title=None,
                         yaxis={"range": [floor, ceiling * (1.35 if flagged <= 1 else 1.6) + 1]},
                         height=520 if flagged <= 3 else 640, margin={"t": 90 if flagged <= 3 else 190},
                         updatemenus=[{"type": "buttons", "direction": "left", "x": 1.0, "xanchor": "right", "y": 1.12,
                                       "buttons": [{"label": "linear", "method": "relayout",
                                                    "args": [{"yaxis.type": "linear", "yaxis.autorange": True}]},
                                                   {"label": "log", "method": "relayout",
                                                    "args": [{"yaxis.type": "log", "yaxis.autorange": True}]}]}])
    return figure


# Kept for code written against the first version of this module.
session_energy = energy_reconciliation


# --- message sequence chart ----------------------------------------------------------------------

MESSAGE_COLOURS = {"CALL": "#1f77b4", "CALLRESULT": "#2ca02c", "CALLERROR": "#d62728",
                   "schema error": "#d62728", "invalid": "#8b0000"}


def sequence_chart(cap: Any, charge_point_id: str | None = None, *, start: Any = None, end: Any = None,
                   max_frames: int = 200, highlight_seqs: Iterable[int] = ()) -> go.Figure:
    """Message sequence chart: one lane per charger and one for the CSMS, one arrow per frame (time
    runs down, one row per frame; the time is on the axis and in the hover), each reply linked to
    its request by a dotted line with the latency. CALLERRORs, schema errors and invalid frames are
    red; ``highlight_seqs`` (e.g. a finding's frames) get a star. Hover shows the frame text.
    ``start``/``end`` (UTC) choose the window; at most ``max_frames`` frames from its start."""
    title = "Message sequence" + (f": {charge_point_id}" if charge_point_id else "")
    frames = cap.frames
    if charge_point_id is not None:
        frames = frames[frames["charge_point_id"] == charge_point_id]
    lo, hi = _ts(start), _ts(end)
    if lo is not None:
        frames = frames[frames["ts"] >= lo]
    if hi is not None:
        frames = frames[frames["ts"] <= hi]
    if frames.empty:
        return empty_figure(title, "no frames in this capture" + (" and window" if lo or hi else ""))
    notes = []
    if len(frames) > max_frames:
        notes.append(f"first {max_frames} of {len(frames):,} frames in the window")
        frames = frames.head(max_frames)
    frames = frames.reset_index(drop=True)
    chargers = sorted({c if isinstance(c, str) else "(unknown)" for c in frames["charge_point_id"]})
    lane_x = {cp: i for i, cp in enumerate(chargers)}
    csms_x = len(chargers)
    highlight = {int(s) for s in highlight_seqs}
    row_of_seq = dict(zip(frames["seq"].tolist(), range(len(frames))))

    kind = frames["message_type"].astype(str).where(frames["schema_error"].isna(), "schema error")
    charger_x = np.array([lane_x[c if isinstance(c, str) else "(unknown)"] for c in frames["charge_point_id"]], dtype=float)
    upward = (frames["direction"] == "charger_to_csms").to_numpy(dtype=bool, na_value=False)
    x0 = np.where(upward, charger_x, csms_x)
    x1 = np.where(upward, csms_x, charger_x)
    # Arrows stop short of the lane line so the arrow head stays visible.
    x1 = x1 + np.where(x1 > x0, -0.03, 0.03)
    figure = go.Figure()
    for lane, x in [*lane_x.items(), ("CSMS", csms_x)]:
        figure.add_shape(type="line", x0=x, x1=x, y0=-0.5, y1=len(frames) - 0.5, line={"color": "#999", "width": 2})
    for name in MESSAGE_COLOURS:
        rows = np.flatnonzero((kind == name).to_numpy())
        if len(rows) == 0:
            continue
        xs: list[Any] = []
        ys: list[Any] = []
        sizes: list[float] = []
        for i in rows:
            xs += [x0[i], x1[i], None]
            ys += [i, i, None]
            sizes += [0, 11, 0]
        figure.add_scatter(x=xs, y=ys, mode="lines+markers", name=name, legendgroup=name, hoverinfo="skip",
                           line={"color": MESSAGE_COLOURS[name], "width": 1.6, "dash": "dot" if name == "schema error" else "solid"},
                           marker={"symbol": "arrow", "angleref": "previous", "size": sizes, "color": MESSAGE_COLOURS[name]})
        labels, hovers = [], []
        for i in rows:
            frame = frames.iloc[i]
            short = {"CALL": "", "CALLRESULT": " result", "CALLERROR": f" ERROR {frame['error_code']}"}.get(
                str(frame["message_type"]), f" {frame['message_type']}")
            labels.append(f"{frame['action'] if isinstance(frame['action'], str) else '?'}{short}")
            problem = frame["schema_error"] if isinstance(frame["schema_error"], str) else frame["parse_error"]
            hovers.append(f"<b>{html.escape(labels[-1])}</b> frame {frame['seq']}<br>{frame['ts']:%Y-%m-%d %H:%M:%S.%f} "
                          f"{frame['direction']}<br>" + (f"<b>{hover_text(problem, 300)}</b><br>" if isinstance(problem, str) else "")
                          + hover_text(frame["raw"]))
        figure.add_scatter(x=(x0[rows] + x1[rows]) / 2, y=rows, mode="markers+text", text=labels, textposition="top center",
                           textfont={"size": 10, "color": MESSAGE_COLOURS[name]}, hovertext=hovers, hoverinfo="text",
                           marker={"size": 7, "color": MESSAGE_COLOURS[name], "opacity": 0.25}, legendgroup=name,
                           showlegend=False)
    _link_replies(cap, figure, row_of_seq, frames, lane_x, csms_x)
    stars = [i for i, s in enumerate(frames["seq"]) if int(s) in highlight]
    if stars:
        figure.add_scatter(x=(x0[stars] + x1[stars]) / 2, y=stars, mode="markers", name="finding frames",
                           marker={"symbol": "star", "size": 15, "color": "#ffbf00", "line": {"color": "black", "width": 1}},
                           hoverinfo="skip")
    tick_rows = list(range(0, len(frames), max(1, len(frames) // 25)))
    figure.update_layout(
        title=_note(title, notes), height=max(320, 110 + 22 * len(frames)), showlegend=True,
        xaxis={"tickvals": [*lane_x.values(), csms_x], "ticktext": [*lane_x.keys(), "CSMS"], "side": "top",
               "range": [-0.6, csms_x + 0.6], "showgrid": False, "zeroline": False},
        yaxis={"range": [len(frames) - 0.4, -1.2], "tickvals": tick_rows, "showgrid": False, "zeroline": False,
               "ticktext": [f"{frames['ts'].iloc[i]:%H:%M:%S.%f}"[:-3] for i in tick_rows], "title": "time (UTC)"},
        margin={"t": 110}, legend={"x": 1.02, "y": 1.0, "yanchor": "top"})
    return figure


def _link_replies(cap: Any, figure: go.Figure, row_of_seq: dict[int, int], frames: pd.DataFrame,
                  lane_x: dict[str, int], csms_x: int) -> None:
    """A dotted line from each request to its reply, beside the lane of the side that answered."""
    calls = cap.calls
    paired = calls[calls["request_seq"].notna() & calls["reply_seq"].notna()]
    paired = paired[paired["request_seq"].isin(row_of_seq) & paired["reply_seq"].isin(row_of_seq)]
    if paired.empty:
        return
    xs: list[Any] = []
    ys: list[Any] = []
    hovers: list[str] = []
    for cp, direction, request, reply, latency, action in zip(
            paired["charge_point_id"], paired["direction"], paired["request_seq"], paired["reply_seq"],
            paired["latency_s"], paired["action"]):
        answerer = csms_x if direction == "charger_to_csms" else lane_x.get(cp if isinstance(cp, str) else "(unknown)", 0)
        x = answerer + (-0.12 if answerer == csms_x else 0.12)
        a, b = row_of_seq[int(request)], row_of_seq[int(reply)]
        xs += [x, x, None]
        ys += [a, b, None]
        text = f"{action}: reply after {latency:.3f} s" if not pd.isna(latency) else f"{action}"
        hovers += [text, text, None]
    figure.add_scatter(x=xs, y=ys, mode="lines", name="request ↔ reply", line={"color": "#777", "width": 1, "dash": "dot"},
                       hovertext=hovers, hoverinfo="text")


def frames_window(cap: Any, seqs: Iterable[int], charge_point_id: str | None = None, *,
                  context: int = 12, max_frames: int = 60) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """(start, end) of the frames around ``seqs`` (e.g. a finding's proof frames) on one charge
    point: ``context`` frames before the first and after the last, or around the first alone when
    they lie more than ``max_frames`` apart. None when no seq is a frame of that charge point."""
    frames = cap.frames
    if charge_point_id is not None:
        frames = frames[frames["charge_point_id"] == charge_point_id]
    positions = np.flatnonzero(frames["seq"].isin({int(s) for s in seqs}).to_numpy())
    if len(positions) == 0:
        return None
    first, last = int(positions[0]), int(positions[-1])
    if last - first + 2 * context > max_frames:
        last = first
    lo, hi = max(0, first - context), min(len(frames) - 1, last + context)
    return frames["ts"].iloc[lo], frames["ts"].iloc[hi]


def window_around(ts: Any, seconds: float = 30.0) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(start, end): ``seconds`` either side of ``ts``, for the ``start``/``end`` of the charts."""
    centre = _ts(ts)
    if centre is None:
        raise ValueError("window_around needs a timestamp")
    return centre - pd.Timedelta(seconds=seconds), centre + pd.Timedelta(seconds=seconds)


# --- timing --------------------------------------------------------------------------------------

def latency_by_action(cap: Any, *, slow_reply_s: float = CheckConfig.slow_reply_s) -> go.Figure:
    """Reply latency (s) per action as box plots, one colour per request direction, with the
    slow-reply threshold as a line; each action's label counts its requests and unanswered ones."""
    title = "Reply latency per action"
    calls = cap.calls
    answered = calls[calls["latency_s"].notna() & calls["action"].notna()]
    if answered.empty:
        return empty_figure(title, "no answered requests in this capture")
    counts = calls.groupby("action", observed=True)["outcome"].agg(
        requests="size", unanswered=lambda o: int((o == "unanswered").sum()))
    label = {a: f"{a} ({r}" + (f", {u} unanswered)" if u else ")") for a, (r, u) in counts.iterrows()}
    figure = go.Figure()
    notes = []
    for direction, name, colour in (("charger_to_csms", "charger → CSMS", "#1f77b4"),
                                    ("csms_to_charger", "CSMS → charger", "#ff7f0e")):
        rows = answered[answered["direction"] == direction]
        if rows.empty:
            continue
        x = rows["action"].map(label)
        if len(rows) <= MAX_POINTS:
            figure.add_box(x=x, y=rows["latency_s"], name=name, marker_color=colour, boxpoints="outliers")
        else:  # exact quartiles per action, without shipping every point to the browser
            stats = rows.groupby("action", observed=True)["latency_s"].quantile([0, 0.25, 0.5, 0.75, 1]).unstack()
            figure.add_box(x=[label[a] for a in stats.index], q1=stats[0.25], median=stats[0.5], q3=stats[0.75],
                           lowerfence=stats[0.0], upperfence=stats[1.0], name=name, marker_color=colour)
            notes.append(f"{name}: quartiles of {len(rows):,} replies (no single points)")
    if answered["latency_s"].max() >= slow_reply_s / 2:
        figure.add_hline(y=slow_reply_s, line={"color": "#d62728", "dash": "dash"},
                         annotation_text=f"slow_reply threshold {slow_reply_s:g} s", annotation_position="top right")
    else:  # a line at 10 s would squash replies of a few milliseconds into the axis
        notes.append(f"slowest reply {answered['latency_s'].max():.3f} s, far below the slow_reply threshold "
                     f"of {slow_reply_s:g} s")
    figure.update_layout(title=_note(title, notes), boxmode="group", yaxis_title="latency (s)", xaxis_title=None)
    figure.update_yaxes(rangemode="tozero")
    return figure


def meter_intervals(cap: Any, charge_point_id: str | None = None) -> pd.DataFrame:
    """Seconds between consecutive periodic MeterValues readings of one charge point, connector and
    transaction: columns charge_point_id, connector_id, transaction_id, ts, interval_s, seq."""
    values = cap.meter_values
    if charge_point_id is not None:
        values = values[values["charge_point_id"] == charge_point_id]
    values = values[(values["source"] == "MeterValues") & (values["context"] == "Sample.Periodic") & values["ts"].notna()]
    columns = ["charge_point_id", "connector_id", "transaction_id", "ts", "seq"]
    readings = values[columns].drop_duplicates(["charge_point_id", "connector_id", "transaction_id", "ts"])
    readings = readings.astype({"charge_point_id": object}).sort_values(
        ["charge_point_id", "connector_id", "transaction_id", "ts"], kind="stable")
    keys = [readings[c].astype(object).where(readings[c].notna(), "") for c in columns[:3]]
    readings = readings.assign(interval_s=readings["ts"].groupby(keys).diff().dt.total_seconds())
    return readings[readings["interval_s"].notna()].reset_index(drop=True)


def meter_interval_histogram(cap: Any, charge_point_id: str | None = None, *,
                             tolerance_factor: float = CheckConfig.interval_tolerance_factor) -> go.Figure:
    """Histogram of the time between periodic MeterValues (s) with the configured
    MeterValueSampleInterval(s) from ChangeConfiguration / GetConfiguration as solid lines and the
    gap threshold (``tolerance_factor`` x interval, as the ``meter_values_gap`` check uses) dashed.
    Without a configured interval the observed median is drawn instead. The bins are counted here
    (at most 5 000 bars), so any number of readings makes a small figure."""
    title = "MeterValues interval" + (f": {charge_point_id}" if charge_point_id else "")
    intervals = meter_intervals(cap, charge_point_id)
    if intervals.empty:
        return empty_figure(title, "fewer than two periodic MeterValues per session in this capture")
    from .checks.timing import configured_intervals
    from .spec16 import METER_VALUE_SAMPLE_INTERVAL

    configured = configured_intervals(cap)
    configured = configured[configured["key"] == METER_VALUE_SAMPLE_INTERVAL]
    if charge_point_id is not None and len(configured):
        configured = configured[configured["_cp"] == charge_point_id]
    values = sorted({float(v) for v in configured["value_s"] if v > 0})
    notes: list[str] = []
    observed = intervals["interval_s"]
    lines = [v * f for v in values[:5] for f in (1.0, tolerance_factor)]
    # The main panel ends past the 99th percentile and the lines, so one outage of hours does not
    # squeeze the usual interval into one bar at zero; longer intervals (the gaps) get a panel of
    # their own with bins doubling in length. Bins are counted here: a small figure for any capture.
    upper = max([float(np.quantile(observed, 0.99)) * 1.5, *(v * 1.3 for v in lines)])
    low = float(observed.min())
    size = max((upper - low) / 80, abs(float(observed.median())) / 20, 1e-3)
    low -= size / 2
    bins = min(int(np.ceil((upper - low) / size)) + 1, 5000)
    top = low + bins * size
    counts, edges = np.histogram(observed.to_numpy(dtype=float), bins=bins, range=(low, top))
    longer = observed[observed > top].to_numpy(dtype=float)
    figure = make_subplots(rows=1, cols=2, column_widths=[0.75, 0.25], horizontal_spacing=0.08,
                           subplot_titles=["", f"longer than {_duration(top)}" if len(longer) else ""]) \
        if len(longer) else go.Figure()
    where = {"row": 1, "col": 1} if len(longer) else {}
    filled = counts > 0
    figure.add_trace(go.Bar(x=((edges[:-1] + edges[1:]) / 2)[filled], y=counts[filled], width=size, name="observed",
                            marker_color="#1f77b4", customdata=np.stack([edges[:-1], edges[1:]], axis=1)[filled],
                            hovertemplate="%{customdata[0]:.3g} .. %{customdata[1]:.3g} s: %{y} intervals<extra></extra>"),
                     **where)
    if len(longer):
        factor = max(2.0, (longer.max() / top) ** (1 / 12))
        gap_edges = [top]
        while gap_edges[-1] < longer.max():
            gap_edges.append(gap_edges[-1] * factor)
        gap_counts, _ = np.histogram(longer, bins=gap_edges)
        labels = [f"{_duration(a)}-{_duration(b)}" for a, b in zip(gap_edges[:-1], gap_edges[1:])]
        figure.add_trace(go.Bar(x=labels, y=gap_counts, marker_color="#d62728", name="longer",
                                hovertemplate="%{x}: %{y} intervals<extra></extra>"), row=1, col=2)
        notes.append(f"{len(longer):,} interval{'s' if len(longer) > 1 else ''} longer than {_duration(top)}, "
                     f"up to {_duration(float(longer.max()))}")
    for value in values[:5]:
        figure.add_vline(x=value, line={"color": "#2ca02c", "width": 2},
                         annotation_text=f"configured {value:g} s", annotation_position="top right", **where)
        figure.add_vline(x=value * tolerance_factor, line={"color": "#d62728", "dash": "dash"},
                         annotation_text=f"gap > {value * tolerance_factor:g} s", annotation_position="top left", **where)
    if not values:
        median = float(observed.median())
        figure.add_vline(x=median, line={"color": "#7f7f7f", "dash": "dot"},
                         annotation_text=f"observed median {median:g} s (no configured interval in the capture)",
                         annotation_position="top left", **where)
    right = max([top, *(v * 1.1 for v in lines)]) + size
    figure.update_layout(title=_note(title, notes), bargap=0.05, showlegend=False)
    figure.update_xaxes(title_text="seconds between readings", range=[0, right], **where)
    figure.update_yaxes(title_text="intervals", **where)
    return figure


def _duration(seconds: float) -> str:
    """A short duration label: 45 s, 12 min, 3.5 h."""
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


# --- older helpers, kept -------------------------------------------------------------------------

def power_curve(cap: Any, charge_point_id: str, connector_id: int | None = None) -> go.Figure:
    """Active import power (W) of one charge point over time, one row per connector (so no connector
    hides behind another), broken where readings are missing (so idle gaps are not drawn as power)."""
    from .tables.transactions import power_readings

    title = f"{charge_point_id}: active import power"
    values = cap.meter_values
    values = values[values["charge_point_id"] == charge_point_id]
    if connector_id is not None:
        values = values[values["connector_id"] == connector_id]
    power = power_readings(values) if len(values) else values.iloc[:0]
    if len(power):
        power = power[power["ts"].notna()].sort_values("ts", kind="stable")
    if power.empty:
        return empty_figure(title, "no power readings for this charge point")
    connectors = sorted({int(c) for c in power["connector_id"].dropna()}) or [None]
    figure = make_subplots(rows=len(connectors), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                           subplot_titles=[f"connector {c}" for c in connectors])
    for row, connector in enumerate(connectors, 1):
        rows = power if connector is None else power[power["connector_id"] == connector]
        rows, _ = _thin(rows, MAX_POINTS // len(connectors))
        spacing = rows["ts"].diff().dt.total_seconds().median() if len(rows) > 1 else np.nan
        xs, ys = _with_gaps(rows["ts"], rows["power_w"].to_numpy(dtype=float),
                            2 * spacing if not pd.isna(spacing) else float("inf"))
        figure.add_scatter(x=xs, y=ys, mode="lines+markers", name=f"connector {connector}", connectgaps=False,
                           row=row, col=1, hovertemplate="%{x|%H:%M:%S.%L}: %{y:,.0f} W")
        figure.update_yaxes(title_text="W", rangemode="tozero", row=row, col=1)
    figure.update_layout(title=title, height=200 + 180 * len(connectors))
    return figure


def findings_timeline(cap: Any) -> go.Figure:
    """Every finding as a point in time, one lane per check, coloured by severity."""
    title = "Findings over time"
    findings = cap.findings[cap.findings["ts"].notna()]
    if findings.empty:
        return empty_figure(title, "no findings with a time in this capture")
    findings, _ = _thin(findings, MAX_POINTS)
    figure = go.Figure()
    for severity in SEVERITIES:
        rows = findings[findings["severity"] == severity]
        if len(rows):
            figure.add_scatter(x=rows["ts"].dt.tz_convert(None), y=rows["check"], mode="markers", name=severity,
                               marker={"color": SEVERITY_COLOURS[severity], "symbol": SEVERITY_SYMBOLS[severity], "size": 10},
                               hovertext=[f"{html.escape(str(cp))}: {hover_text(m, 300)}"
                                          for cp, m in zip(rows["charge_point_id"], rows["message"])], hoverinfo="text")
    figure.update_layout(title=title, yaxis_title=None, height=max(260, 120 + 26 * findings["check"].nunique()))
    return figure
