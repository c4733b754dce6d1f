"""Figures built by pure functions from DataFrames: no I/O, no clock, the same input gives the same figure."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

PERIODS = {"day": "D", "week": "W-MON", "month": "MS"}
PERIOD_SPAN = {"day": 31, "week": 7 * 12, "month": 366}
_LAYOUT = {"margin": {"l": 48, "r": 16, "t": 24, "b": 40}, "template": "plotly_white", "height": 320}


def message_figure(text: str) -> go.Figure:
    """An empty figure that says why it is empty ("no data yet", "reconnecting")."""
    fig = go.Figure(layout=_LAYOUT)
    fig.add_annotation(text=text, showarrow=False, font={"size": 16, "color": "#6c757d"}, x=0.5, y=0.5,
                       xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def live_power(frame: pd.DataFrame, labels: Mapping[str, str], tz: str) -> go.Figure:
    """Power per appliance over the last minutes: one step line per device, times in the home's zone."""
    if frame.empty:
        return message_figure("no power readings in the last 15 minutes")
    fig = go.Figure(layout=_LAYOUT)
    for device, rows in frame.groupby("device", sort=True):
        times = pd.to_datetime(rows["t"], unit="s", utc=True).dt.tz_convert(tz)
        fig.add_trace(go.Scatter(x=times, y=rows["value"], mode="lines", line_shape="hv",
                                 name=labels.get(str(device), str(device))))
    fig.update_layout(yaxis_title="W", legend={"orientation": "h", "y": -0.2}, uirevision="live")
    return fig


def history_table(daily: pd.DataFrame, period: str) -> pd.DataFrame:
    """kWh per appliance per period, plus the meter's untracked remainder and each cell's completeness."""
    if daily.empty:
        return pd.DataFrame(columns=["period", "appliance", "kwh", "coverage_pct", "gap_days"])
    frame = daily.assign(period=pd.to_datetime(daily["day"]).dt.to_period(PERIODS[period][0]).dt.start_time)
    frame = frame.assign(gap=frame["coverage_pct"] < 99.0)
    appliances = frame[~frame["is_meter"].astype(bool)]
    grouped = appliances.groupby(["period", "appliance"], as_index=False).agg(
        kwh=("kwh", "sum"), coverage_pct=("coverage_pct", "mean"), gap_days=("gap", "sum"))
    meter = frame[frame["is_meter"].astype(bool)].groupby("period", as_index=False).agg(
        meter=("kwh", "sum"), coverage_pct=("coverage_pct", "mean"), gap_days=("gap", "sum"))
    tracked = grouped.groupby("period", as_index=False)["kwh"].sum()
    rest = meter.merge(tracked, on="period", how="left").fillna({"kwh": 0.0})
    rest = rest.assign(appliance="untracked", kwh=(rest["meter"] - rest["kwh"]).clip(lower=0.0))
    columns = ["period", "appliance", "kwh", "coverage_pct", "gap_days"]
    return pd.concat([grouped[columns], rest[columns]], ignore_index=True).sort_values(["period", "appliance"])


def history(daily: pd.DataFrame, period: str) -> go.Figure:
    """Stacked kWh per appliance by day, week or month; the hover says how complete each figure is."""
    table = history_table(daily, period)
    if table.empty:
        return message_figure("no energy history yet (the ETL has not run)")
    fig = go.Figure(layout={**_LAYOUT, "barmode": "stack"})
    for appliance, rows in table.groupby("appliance", sort=True):
        notes = [f"{c:.0f}% complete" + (f", {int(g)} day(s) with gaps" if g else "")
                 for c, g in zip(rows["coverage_pct"], rows["gap_days"], strict=True)]
        fig.add_trace(go.Bar(
            x=rows["period"], y=rows["kwh"], name=str(appliance), customdata=notes,
            marker_color="#adb5bd" if appliance == "untracked" else None,
            hovertemplate=f"%{{x|%d %b %Y}}<br>{appliance}: %{{y:.2f}} kWh<br>%{{customdata}}<extra></extra>",
        ))
    fig.update_layout(yaxis_title="kWh", legend={"orientation": "h", "y": -0.2})
    return fig


def rejected_bars(frame: pd.DataFrame) -> go.Figure:
    """Rejected messages per reason."""
    if frame.empty:
        return message_figure("no rejected messages in the last 24 h")
    fig = go.Figure(go.Bar(x=frame["count"], y=frame["reason"], orientation="h"), layout={**_LAYOUT, "height": 240})
    fig.update_layout(xaxis_title="messages (24 h)", yaxis={"autorange": "reversed"})
    return fig
