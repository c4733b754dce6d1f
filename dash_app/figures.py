"""Figures built by pure functions from DataFrames: no I/O, no clock, the same input gives the same figure.

Figures are plain plotly.js dicts, not `plotly.graph_objects`: the validators behind graph objects cost tens of
milliseconds per figure and tens of MiB of memory, and dcc.Graph takes the dict as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

Figure = dict[str, Any]
PERIODS = {"day": "D", "week": "W", "month": "M"}
PERIOD_SPAN = {"day": 31, "week": 7 * 12, "month": 366}
GRID = {"gridcolor": "#e9ecef", "zerolinecolor": "#dee2e6"}
_LAYOUT: dict[str, Any] = {
    "margin": {"l": 48, "r": 16, "t": 24, "b": 40}, "height": 320, "paper_bgcolor": "white",
    "plot_bgcolor": "white", "font": {"family": "system-ui, sans-serif", "size": 12}, "xaxis": GRID, "yaxis": GRID,
    "legend": {"orientation": "h", "y": -0.2},
}


def layout(**extra: Any) -> dict[str, Any]:
    """The house layout with `extra` merged in (axes merged key by key)."""
    merged = {**_LAYOUT, **extra}
    for axis in ("xaxis", "yaxis"):
        merged[axis] = {**GRID, **extra.get(axis, {})}
    return merged


def message_figure(text: str) -> Figure:
    """An empty figure that says why it is empty ("no data yet", "reconnecting")."""
    note = {"text": text, "showarrow": False, "font": {"size": 16, "color": "#6c757d"}, "x": 0.5, "y": 0.5,
            "xref": "paper", "yref": "paper"}
    return {"data": [], "layout": layout(annotations=[note], xaxis={"visible": False}, yaxis={"visible": False})}


def local_times(epochs: pd.Series, tz: str) -> list[str]:
    """Epoch seconds as wall-clock strings in the home's zone (what plotly.js shows as is)."""
    return list(pd.to_datetime(epochs, unit="s", utc=True).dt.tz_convert(tz).dt.strftime("%Y-%m-%d %H:%M:%S"))


def live_power(frame: pd.DataFrame, labels: Mapping[str, str], tz: str) -> Figure:
    """Power per appliance over the last minutes: one step line per device, times in the home's zone."""
    if frame.empty:
        return message_figure("no power readings in the last 15 minutes")
    traces = [
        {"type": "scatter", "mode": "lines", "line": {"shape": "hv"}, "name": labels.get(str(device), str(device)),
         "x": local_times(rows["t"], tz), "y": [None if pd.isna(v) else float(v) for v in rows["value"]]}
        for device, rows in frame.groupby("device", sort=True)
    ]
    return {"data": traces, "layout": layout(yaxis={"title": {"text": "W"}}, uirevision="live")}


def history_table(daily: pd.DataFrame, period: str) -> pd.DataFrame:
    """kWh per appliance per period, plus the meter's untracked remainder and each cell's completeness."""
    if daily.empty:
        return pd.DataFrame(columns=["period", "appliance", "kwh", "coverage_pct", "gap_days"])
    frame = daily.assign(period=pd.to_datetime(daily["day"]).dt.to_period(PERIODS[period]).dt.start_time)
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


def history(daily: pd.DataFrame, period: str) -> Figure:
    """Stacked kWh per appliance by day, week or month; the hover says how complete each figure is."""
    table = history_table(daily, period)
    if table.empty:
        return message_figure("no energy history yet (the ETL has not run)")
    traces = []
    for appliance, rows in table.groupby("appliance", sort=True):
        notes = [f"{c:.0f}% complete" + (f", {int(g)} day(s) with gaps" if g else "")
                 for c, g in zip(rows["coverage_pct"], rows["gap_days"], strict=True)]
        trace: dict[str, Any] = {
            "type": "bar", "name": str(appliance), "x": [str(p.date()) for p in rows["period"]],
            "y": [float(v) for v in rows["kwh"]], "customdata": notes,
            "hovertemplate": f"%{{x}}<br>{appliance}: %{{y:.2f}} kWh<br>%{{customdata}}<extra></extra>",
        }
        if appliance == "untracked":
            trace["marker"] = {"color": "#adb5bd"}
        traces.append(trace)
    return {"data": traces, "layout": layout(barmode="stack", yaxis={"title": {"text": "kWh"}})}


def rejected_bars(frame: pd.DataFrame) -> Figure:
    """Rejected messages per reason."""
    if frame.empty:
        return message_figure("no rejected messages in the last 24 h")
    trace = {"type": "bar", "orientation": "h", "x": [int(c) for c in frame["count"]], "y": list(frame["reason"])}
    return {"data": [trace], "layout": layout(height=240, xaxis={"title": {"text": "messages (24 h)"}},
                                              yaxis={"autorange": "reversed", "automargin": True})}
