"""The report's charts: pure functions from DataFrames to PNG bytes (matplotlib's Agg canvas, no pyplot state)."""

from __future__ import annotations

import io

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from cloud.report.data import COMFORT_C, KIND_LABELS

SIZE = (7.2, 2.8)  # inches; the PDF places them 180 mm wide
DPI = 150
ACCENT = "#2f6db5"
WARN = "#c0392b"
MUTED = "#9aa5b1"
PALETTE = [ACCENT, "#e6a23c", "#27ae60", WARN, "#8e44ad", "#16a085", MUTED]


def _png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _axes(title: str, size: tuple[float, float] = SIZE) -> tuple[Figure, Axes]:
    """A figure with one styled axes."""
    fig = Figure(figsize=size)
    ax: Axes = fig.subplots()
    ax.set_title(title, fontsize=10, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    return fig, ax


def appliances(table: pd.DataFrame, top: int = 10) -> bytes:
    """kWh per appliance, largest at the top; hogs in red."""
    rows = table.head(top).iloc[::-1]
    fig, ax = _axes("Energy per appliance (kWh)", (7.2, 0.35 * len(rows) + 1.0))
    colors = [WARN if hog else (MUTED if name == "untracked" else ACCENT)
              for name, hog in zip(rows["appliance"], rows["hog_days"] > 0, strict=True)]
    ax.barh(rows["appliance"].astype(str), rows["kwh"], color=colors)
    for y, (kwh, share) in enumerate(zip(rows["kwh"], rows["share"], strict=True)):
        ax.text(kwh, y, f" {kwh:.2f} ({share:.0%})", va="center", fontsize=7)
    ax.margins(x=0.2)
    return _png(fig)


def daily(by_day: pd.DataFrame, top: int = 6) -> bytes:
    """Consumption per day, stacked per appliance: the `top` largest over the period, the rest as "other"."""
    largest = by_day.groupby("appliance")["kwh"].sum().nlargest(top).index
    named = by_day.assign(appliance=by_day["appliance"].where(by_day["appliance"].isin(largest), "other"))
    table = named.pivot_table(index="day", columns="appliance", values="kwh", aggfunc="sum", fill_value=0.0)
    table = table[[c for c in [*largest, "other"] if c in table.columns]]
    fig, ax = _axes("Consumption per day and appliance (kWh)")
    labels = [f"{pd.Timestamp(d):%a %d %b}" for d in table.index]
    bottom = pd.Series(0.0, index=table.index)
    for i, name in enumerate(table.columns):
        ax.bar(labels, table[name], bottom=bottom, label=name, color=PALETTE[i % len(PALETTE)])
        bottom = bottom + table[name]
    ax.tick_params(axis="x", labelrotation=45 if len(labels) > 7 else 0)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)


def hourly(hours: pd.DataFrame, peak_hour: int) -> bytes:
    """Mean home power per hour of the day, the peak hour marked."""
    fig, ax = _axes("Mean home power by hour of day (W, local time)")
    colors = [WARN if h == peak_hour else ACCENT for h in hours["hour"]]
    ax.bar(hours["hour"], hours["watts"], color=colors)
    ax.set_xticks(range(0, 24, 2))
    ax.set_xlabel("hour", fontsize=8)
    return _png(fig)


def security(events: pd.DataFrame) -> bytes:
    """Security events per room, stacked by kind."""
    table = events.assign(room=events["room"].fillna("?"), kind=events["kind"].map(lambda k: KIND_LABELS.get(k, k)))
    table = table.pivot_table(
        index="room", columns="kind", values="t", aggfunc="count", fill_value=0)
    fig, ax = _axes("Security events per room and kind", (7.2, 0.35 * len(table) + 1.2))
    left = pd.Series(0, index=table.index)
    for i, kind in enumerate(table.columns):
        ax.barh(table.index, table[kind], left=left, label=kind, color=PALETTE[i % len(PALETTE)])
        left = left + table[kind]
    ax.legend(fontsize=7, frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=len(table.columns))
    return _png(fig)


def climate(rooms: pd.DataFrame) -> bytes:
    """Temperature range per room (min to max, mean marked) against the comfort band."""
    fig, ax = _axes("Temperature per room (°C): range and mean; shaded: comfort band")
    x = range(len(rooms))
    ax.axhspan(*COMFORT_C, color="#27ae60", alpha=0.12)
    ax.vlines(x, rooms["t_min"], rooms["t_max"], color=ACCENT, linewidth=6)
    ax.scatter(x, rooms["t_mean"], color="white", edgecolor="black", zorder=3, s=18)
    ax.set_xticks(list(x), rooms["room"].astype(str))
    return _png(fig)
