"""Plotly figures of a capture's tables: what people would rather look at than a table.

Each function takes a :class:`workbench.analysis.Capture` (or its tables) and returns a
``plotly.graph_objects.Figure``; nothing here computes a result the tables do not already hold.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

# One colour per spec status, fixed so timelines of different chargers read alike.
STATUS_COLOURS = {
    "Available": "#2ca02c", "Preparing": "#bcbd22", "Charging": "#1f77b4", "SuspendedEV": "#9467bd",
    "SuspendedEVSE": "#e377c2", "Finishing": "#17becf", "Reserved": "#8c564b", "Unavailable": "#7f7f7f",
    "Faulted": "#d62728",
}


def status_periods(status: pd.DataFrame, end: pd.Timestamp | None = None) -> pd.DataFrame:
    """One row per status period: charge_point_id, connector_id, status, start, end (the next
    status of that connector, or ``end``, default the last status time of the table)."""
    if status.empty:
        return pd.DataFrame(columns=["charge_point_id", "connector_id", "status", "start", "end"])
    table = status.sort_values(["charge_point_id", "connector_id", "ts"], kind="stable")
    periods = table[["charge_point_id", "connector_id", "status"]].copy()
    periods["start"] = table["ts"]
    periods["end"] = table.groupby(["charge_point_id", "connector_id"])["ts"].shift(-1)
    periods["end"] = periods["end"].fillna(end if end is not None else table["ts"].max())
    return periods.reset_index(drop=True)


def status_timeline(cap: Any, charge_point_id: str | None = None) -> go.Figure:
    """Status of every connector over time, one lane per charge point and connector."""
    status = cap.status
    if charge_point_id is not None:
        status = status[status["charge_point_id"] == charge_point_id]
    end = cap.frames["ts"].max() if len(cap.frames) else None
    periods = status_periods(status, end)
    periods["lane"] = periods["charge_point_id"] + " #" + periods["connector_id"].astype(str)
    figure = px.timeline(periods, x_start="start", x_end="end", y="lane", color="status",
                         color_discrete_map=STATUS_COLOURS, title="StatusNotification timeline")
    figure.update_yaxes(title=None, autorange="reversed")
    return figure


def session_energy(cap: Any, truth: pd.DataFrame | None = None) -> go.Figure:
    """Energy of every session three ways (meter stop-start, register, integrated power) in Wh,
    with the true energy when a ground-truth table (columns transaction_id, energy_wh) is given."""
    sessions = cap.transactions.copy()
    sessions["session"] = (sessions["charge_point_id"] + " tx " + sessions["transaction_id"].astype(str))
    ways = {"energy_wh": "meterStop - meterStart", "energy_register_wh": "register samples",
            "energy_integrated_wh": "integrated power"}
    figure = go.Figure()
    for column, label in ways.items():
        figure.add_bar(name=label, x=sessions["session"], y=sessions[column])
    if truth is not None and not truth.empty:
        merged = sessions.merge(truth[["charge_point_id", "transaction_id", "energy_wh"]],
                                on=["charge_point_id", "transaction_id"], suffixes=("", "_truth"), how="left")
        figure.add_scatter(name="truth", x=merged["session"], y=merged["energy_wh_truth"], mode="markers",
                           marker={"symbol": "diamond", "size": 11, "color": "black"})
    figure.update_layout(barmode="group", title="Energy per session, three ways", yaxis_title="Wh")
    return figure


def power_curve(cap: Any, charge_point_id: str, connector_id: int | None = None) -> go.Figure:
    """Power.Active.Import (W) of one charge point over time, one line per connector."""
    values = cap.meter_values
    mask = (values["charge_point_id"] == charge_point_id) & (values["measurand"] == "Power.Active.Import") \
        & values["phase"].isna()
    if connector_id is not None:
        mask &= values["connector_id"] == connector_id
    power = values[mask].sort_values("ts")
    figure = px.line(power, x="ts", y="value_normalized", color=power["connector_id"].astype(str),
                     markers=True, title=f"{charge_point_id}: Power.Active.Import",
                     labels={"value_normalized": "W", "ts": "sample time", "color": "connector"})
    return figure


def findings_timeline(cap: Any) -> go.Figure:
    """Every finding as a point in time, one lane per check, coloured by severity."""
    findings = cap.findings
    figure = px.scatter(findings, x="ts", y="check", color="severity", hover_data=["charge_point_id", "message"],
                        color_discrete_map={"error": "#d62728", "warning": "#ff7f0e", "info": "#1f77b4"},
                        title="Findings over time")
    figure.update_yaxes(title=None)
    return figure
