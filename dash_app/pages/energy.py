"""Energy: power now, the last 15 minutes per appliance, history by day/week/month, the hogs, the threshold."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Dash, Input, Output, dcc, html

from cloud.warehouse import queries as warehouse_queries
from dash_app import figures, ids, queries, report_download
from dash_app.services import Services
from dash_app.views import Node, local_time, notice, problem, stat
from dash_app.warehouse import WarehouseError

PATH = "/energy"
TITLE = "Energy"
LIVE_S = 15 * 60
HOG_DAYS = 7
SLOW_MS = 30_000  # history and hogs change when the ETL runs, not every second


def layout(svc: Services) -> Node:
    """The page skeleton; every figure and table comes from a callback."""
    return html.Div([
        dcc.Interval(id=ids.ENERGY_TICK, interval=int(svc.config.refresh_s * 1000)),
        dcc.Interval(id=ids.ENERGY_SLOW_TICK, interval=SLOW_MS),
        html.H2("Energy", className="h4 mb-3"),
        dbc.Row([dbc.Col(html.Div(id=ids.POWER_NOW), md=3), dbc.Col(dbc.Card(dbc.CardBody([
            html.Div("Power per appliance, last 15 minutes", className="fw-semibold"),
            dcc.Graph(id=ids.LIVE_GRAPH, config={"displaylogo": False}),
        ])), md=9)], className="mb-3"),
        dbc.Card(dbc.CardBody([
            dbc.Row([dbc.Col(html.Div("History (kWh, stacked per appliance)", className="fw-semibold")),
                     dbc.Col(dbc.RadioItems(id=ids.PERIOD, value="day", inline=True,
                                            options=[{"label": p.capitalize(), "value": p} for p in figures.PERIODS]),
                             width="auto"),
                     dbc.Col(report_download.control(), width="auto")]),
            dcc.Graph(id=ids.HISTORY_GRAPH, config={"displaylogo": False}),
            html.Div(id=ids.HISTORY_NOTE, className="small text-muted"),
        ]), className="mb-3"),
        dbc.Card(dbc.CardBody([html.Div(f"Energy hogs, last {HOG_DAYS} days", className="fw-semibold mb-2"),
                               html.Div(id=ids.HOGS)]), className="mb-3"),
        dbc.Card(dbc.CardBody([
            dbc.Row([dbc.Col(html.Div("Consumption threshold", className="fw-semibold"), width="auto"),
                     dbc.Col(dbc.InputGroup([
                         dbc.Input(id=ids.THRESHOLD, type="number", min=1, step=50, debounce=True,
                                   value=svc.config.consumption_threshold_w, persistence=True,
                                   persistence_type="local"),
                         dbc.InputGroupText("W")], size="sm"), width=3)], align="center", className="mb-2"),
            html.Div(id=ids.THRESHOLD_ALERTS),
        ])),
    ])


def _meter(svc: Services) -> str | None:
    meters = svc.devices_of("meter")
    return meters[0].id if meters else None


def power_now(svc: Services) -> Node:
    """Whole-home power: the meter's latest reading, else the sum of the plugs and lights."""
    meter = _meter(svc)
    sources = [meter] if meter else [d.id for d in svc.devices_of("plug", "light")]
    try:
        frame = queries.latest(svc.reader, svc.home_id, [(d, "power") for d in sources])
    except WarehouseError as exc:
        return problem(exc)
    fresh = frame[frame["t"] >= svc.clock() - 5 * 60] if len(frame) else frame
    if fresh.empty:
        return stat("Whole home now", "—", "no power reading in the last 5 minutes", ident=ids.POWER_NOW + "-card")
    note = f"meter, at {local_time(float(fresh['t'].max()), svc.tz)}" if meter else "sum of plugs and lights"
    return stat("Whole home now", f"{fresh['value'].sum():,.0f} W", note, ident=ids.POWER_NOW + "-card")


def live_figure(svc: Services) -> figures.Figure:
    """Power per appliance (plugs and lights) over the last 15 minutes, from raw readings."""
    devices = [d.id for d in svc.devices_of("plug", "light")]
    try:
        frame = queries.power_window(svc.reader, svc.home_id, devices, svc.clock() - LIVE_S)
    except WarehouseError as exc:
        return figures.message_figure(str(problem(exc).children))
    labels = {d.id: d.appliance or d.label for d in svc.home.devices}
    return figures.live_power(frame, labels, svc.tz)


def _today(svc: Services) -> dt.date:
    return dt.datetime.fromtimestamp(svc.clock(), ZoneInfo(svc.tz)).date()


def history_figure(svc: Services, period: str) -> tuple[figures.Figure, str]:
    """The stacked history and a sentence on its completeness (which days have gaps)."""
    since = _today(svc) - dt.timedelta(days=figures.PERIOD_SPAN[period])
    try:
        daily = queries.energy_daily(svc.reader, svc.home_id, since)
    except WarehouseError as exc:
        return figures.message_figure(str(problem(exc).children)), ""
    return figures.history(daily, period), completeness_note(daily)


def completeness_note(daily: pd.DataFrame) -> str:
    """"Complete" or which days have gaps, so no kWh figure hides missing data."""
    if daily.empty:
        return ""
    gaps = daily[daily["coverage_pct"] < 99.0]
    if gaps.empty:
        return f"Data complete for every day shown (mean coverage {daily['coverage_pct'].mean():.1f}%)."
    days = sorted({str(d) for d in gaps["day"]})
    shown = ", ".join(days[-5:]) + (f" and {len(days) - 5} more" if len(days) > 5 else "")
    return f"{len(days)} day(s) with gaps in the data: {shown}; hover a bar for its completeness."


def hog_table(daily: pd.DataFrame, today: dt.date, days: int = HOG_DAYS) -> pd.DataFrame:
    """The warehouse's hog figures for the last `days` days (kWh, share, cost, standby, week-over-week, hog days,
    worst coverage), plus how many days had gaps and the meter's untracked remainder as a row of its own."""
    if daily.empty:
        return pd.DataFrame()
    table = warehouse_queries.hogs_table(daily, today, days).set_index("appliance")
    day = pd.to_datetime(daily["day"]).dt.date
    window = daily[(day > today - dt.timedelta(days=days)) & (day <= today)]
    gaps = window[window["coverage_pct"] < 99.0].groupby("appliance")["day"].nunique()
    table["gap_days"] = gaps.reindex(table.index).fillna(0).astype(int)
    meter = window[window["is_meter"].astype(bool)]
    if len(meter) and warehouse_queries.UNTRACKED not in table.index:  # the ETL's own row, when it made one
        total = float(meter["kwh"].sum())
        rest = max(0.0, total - float(table["kwh"].sum()))
        table.loc["untracked"] = {"kwh": rest, "cost": float(meter["cost"].sum()) * (rest / total if total else 0.0),
                                  "standby_kwh": float("nan"), "hog_days": 0, "share": rest / total if total else 0.0,
                                  "coverage_pct": float(meter["coverage_pct"].min()), "week_over_week": float("nan"),
                                  "gap_days": int((meter["coverage_pct"] < 99.0).sum())}
    table = table.assign(share_pct=table["share"] * 100.0, wow_pct=table["week_over_week"] * 100.0)
    return table.sort_values("kwh", ascending=False).reset_index()


def hogs_view(svc: Services) -> Node:
    """The ranked hogs table, each kWh with its completeness."""
    try:
        daily = queries.energy_daily(svc.reader, svc.home_id, _today(svc) - dt.timedelta(days=2 * HOG_DAYS - 1))
    except WarehouseError as exc:
        return problem(exc)
    table = hog_table(daily, _today(svc))
    if table.empty:
        return notice("No daily energy yet: the ETL fills this table after its first run.", "info")
    currency = svc.home.home.currency
    head = html.Thead(html.Tr([html.Th(h) for h in (
        "#", "Appliance", "kWh", "Share", f"Cost ({currency})", "Standby kWh", "vs prev. week", "Hog days",
        "Complete (worst day)")]))
    body = html.Tbody([_hog_row(i, row) for i, row in enumerate(table.itertuples(), 1)])
    return dbc.Table([head, body], size="sm", hover=True, striped=True, responsive=True, id="hogs")


def _num(value: float, fmt: str, empty: str = "—") -> str:
    return empty if pd.isna(value) else fmt.format(value)


def _hog_row(rank: int, row: Any) -> html.Tr:
    hog = dbc.Badge("hog", color="danger") if row.hog_days else ""
    complete = _num(row.coverage_pct, "{:.0f}%")
    gaps = int(row.gap_days)
    return html.Tr([
        html.Td(rank), html.Td([str(row.appliance), " ", hog]), html.Td(_num(row.kwh, "{:.2f}")),
        html.Td(_num(row.share_pct, "{:.0f}%")), html.Td(_num(row.cost, "{:.2f}")),
        html.Td(_num(row.standby_kwh, "{:.2f}")), html.Td(_num(row.wow_pct, "{:+.0f}%")),
        html.Td(int(row.hog_days)), html.Td(complete + (f" ({gaps} day(s) with gaps)" if gaps else ""),
                                            className="text-warning" if gaps else ""),
    ])


def threshold_episodes(minutes: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Runs of consecutive minutes whose mean power exceeds `threshold`: start, end, peak, minutes."""
    over = minutes[minutes["mean"] > threshold]
    if over.empty:
        return pd.DataFrame(columns=["start", "end", "peak", "minutes"])
    run = (over["bucket"].diff() > 60.0).cumsum()
    grouped = over.groupby(run).agg(start=("bucket", "min"), end=("bucket", "max"), peak=("max", "max"),
                                    minutes=("bucket", "size"))
    return grouped.sort_values("start", ascending=False).reset_index(drop=True)


def threshold_view(svc: Services, threshold: float | None) -> Node:
    """What the threshold caught in the last 7 days, and the cloud's consumption alerts."""
    if not threshold or threshold <= 0:
        return notice("Enter a threshold in watts (a positive number).", "warning")
    meter = _meter(svc)
    if meter is None:
        return notice("No whole-home meter in the home config: the threshold needs one.", "info")
    since = svc.clock() - 7 * 86400
    try:
        minutes = queries.power_minutes(svc.reader, svc.home_id, meter, since, above=threshold)
        episodes = threshold_episodes(minutes, threshold)
        alerts = queries.current_alerts(queries.alerts_since(svc.reader, svc.home_id, since))
    except WarehouseError as exc:
        return problem(exc)
    if len(alerts):
        alerts = alerts[alerts["rule"].str.contains("power|consumption|budget", case=False, regex=True)]
    return html.Div([_episodes(svc, episodes, threshold), _cloud_alerts(svc, alerts)])


def _episodes(svc: Services, episodes: pd.DataFrame, threshold: float) -> Node:
    if episodes.empty:
        return html.Div(f"Home power stayed under {threshold:.0f} W in the last 7 days.", className="text-success")
    rows = [html.Tr([html.Td(local_time(r.start, svc.tz, "%a %d %b %H:%M")), html.Td(f"{r.minutes} min"),
                     html.Td(f"{r.peak:,.0f} W")]) for r in episodes.head(20).itertuples()]
    return html.Div([
        html.Div(f"{len(episodes)} time(s) over {threshold:.0f} W in the last 7 days (newest first):"),
        dbc.Table([html.Thead(html.Tr([html.Th("From"), html.Th("For"), html.Th("Peak")])), html.Tbody(rows)],
                  size="sm", className="mt-1", id="threshold-episodes"),
    ])


def _cloud_alerts(svc: Services, alerts: pd.DataFrame) -> Node:
    if alerts.empty:
        text = "No consumption alerts from the alert service in the last 7 days."
        return html.Div(text, className="small text-muted")
    items = [html.Li(f"{local_time(r.ts, svc.tz, '%a %H:%M')} · {r.state} · {r.message}") for r in alerts.itertuples()]
    return html.Div([html.Div("Consumption alerts raised by the alert service:", className="fw-semibold mt-2"),
                     html.Ul(items[:20], className="small")])


def register(app: Dash, svc: Services) -> None:
    """Wire the page's callbacks to `svc`."""
    report_download.register(app, svc)

    @app.callback(Output(ids.POWER_NOW, "children"), Output(ids.LIVE_GRAPH, "figure"),
                  Input(ids.ENERGY_TICK, "n_intervals"))
    def _live(_n: int | None) -> tuple[Node, figures.Figure]:
        return power_now(svc), live_figure(svc)

    @app.callback(Output(ids.HISTORY_GRAPH, "figure"), Output(ids.HISTORY_NOTE, "children"),
                  Input(ids.PERIOD, "value"), Input(ids.ENERGY_SLOW_TICK, "n_intervals"))
    def _history(period: str, _n: int | None) -> tuple[figures.Figure, str]:
        return history_figure(svc, period if period in figures.PERIODS else "day")

    @app.callback(Output(ids.HOGS, "children"), Input(ids.ENERGY_SLOW_TICK, "n_intervals"))
    def _hogs(_n: int | None) -> Node:
        return hogs_view(svc)

    @app.callback(Output(ids.THRESHOLD_ALERTS, "children"), Input(ids.THRESHOLD, "value"),
                  Input(ids.ENERGY_SLOW_TICK, "n_intervals"))
    def _threshold(threshold: float | None, _n: int | None) -> Node:
        return threshold_view(svc, threshold)
