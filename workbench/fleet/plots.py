"""Plotly figures of a fleet dataset's summaries (:class:`~workbench.fleet.dataset.Fleet`).

Each function takes an opened fleet, computes its summary on the cluster (a small pandas frame) and
returns a ``plotly.graph_objects.Figure``; nothing here computes what the summary does not hold.
"""

from __future__ import annotations

from typing import Any

import plotly.express as px
import plotly.graph_objects as go


def findings_by_check(fleet: Any) -> go.Figure:
    """Findings per check, stacked by severity (all charge points)."""
    table = fleet.findings_by_check().groupby(["check", "severity"], as_index=False)["findings"].sum()
    return px.bar(table, x="check", y="findings", color="severity", title="Findings by check and severity",
                  color_discrete_map={"error": "#c62828", "warning": "#ef6c00", "info": "#1565c0"})


def top_chargers(fleet: Any, limit: int = 20) -> go.Figure:
    """The charge points with the most findings, errors apart."""
    table = fleet.top_chargers(limit)
    figure = go.Figure([go.Bar(x=table["charge_point_id"], y=table["findings"], name="findings"),
                        go.Bar(x=table["charge_point_id"], y=table["errors"], name="errors")])
    figure.update_layout(title=f"The {len(table)} charge points with the most findings", barmode="overlay")
    return figure


def energy_per_day(fleet: Any) -> go.Figure:
    """Fleet energy per UTC day, three ways (kWh), and the register/meter mismatch total."""
    table = fleet.energy_per_day().groupby("day", as_index=False)[
        ["energy_kwh", "energy_register_kwh", "energy_integrated_kwh", "mismatch_kwh"]].sum()
    long = table.melt(id_vars="day", var_name="measure", value_name="kwh")
    return px.bar(long, x="day", y="kwh", color="measure", barmode="group", title="Energy per day (kWh)")


def sessions_per_day(fleet: Any) -> go.Figure:
    """Sessions started per UTC day."""
    table = fleet.sessions_per_day()
    return px.bar(table, x="day", y="sessions", hover_data=["charge_points"], title="Sessions per day")
