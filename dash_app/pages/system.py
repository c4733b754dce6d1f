"""System: pipeline health — throughput, end-to-end latency, outbox depth, devices, rejections, the last ETL run."""

from __future__ import annotations

import math
import urllib.error
import urllib.request

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Dash, Input, Output, dcc, html
from prometheus_client.parser import text_string_to_metric_families

from dash_app import figures, ids, queries
from dash_app.services import Services
from dash_app.views import Node, ago, local_time, notice, problem, stat
from dash_app.warehouse import WarehouseError

PATH = "/system"
TITLE = "System"
WINDOW_S = 60.0
TICK_MS = 2000
METRICS_TIMEOUT_S = 0.5


def layout(svc: Services) -> Node:
    """The page skeleton."""
    return html.Div([
        dcc.Interval(id=ids.SYSTEM_TICK, interval=TICK_MS),
        html.H2("System", className="h4 mb-3"),
        html.Div(id=ids.THROUGHPUT, className="mb-3"),
        dbc.Row([
            dbc.Col(dbc.Card(dbc.CardBody([html.Div("Devices", className="fw-semibold mb-1"),
                                           html.Div(id=ids.DEVICES)])), md=6, className="mb-3"),
            dbc.Col(dbc.Card(dbc.CardBody([html.Div("Rejected messages by reason", className="fw-semibold"),
                                           dcc.Graph(id=ids.REJECTED, config={"displaylogo": False})])), md=6,
                    className="mb-3"),
        ]),
        dbc.Card(dbc.CardBody([html.Div("Last ETL run", className="fw-semibold mb-1"), html.Div(id=ids.ETL)])),
    ])


def rates(frame: pd.DataFrame, window_s: float) -> dict[str, float]:
    """Messages/s, readings/s and latency percentiles (device time -> warehouse) over an ingest window."""
    if frame.empty:
        return {}
    messages = len(frame.drop_duplicates(["device", "boot", "seq"]))
    timed = frame.dropna(subset=["ts"])
    latency = (timed["ingested_at"] - timed["ts"]) if len(timed) else pd.Series(dtype=float)
    return {"messages_s": messages / window_s, "readings_s": len(frame) / window_s,
            "p50_ms": float(latency.quantile(0.5)) * 1000 if len(latency) else math.nan,
            "p95_ms": float(latency.quantile(0.95)) * 1000 if len(latency) else math.nan}


def outbox_depth(url: str | None) -> tuple[str, str]:
    """The gateway's outbox rows from its Prometheus endpoint (figure, note), or "—" and why it is unknown."""
    if not url:
        return "—", "metrics URL not configured"
    try:
        with urllib.request.urlopen(url, timeout=METRICS_TIMEOUT_S) as response:
            text = response.read(1_000_000).decode("utf-8", errors="replace")
    except (urllib.error.URLError, OSError, ValueError):
        return "—", "gateway metrics unreachable"
    for family in text_string_to_metric_families(text):
        if family.name == "gateway_outbox_rows" and family.samples:
            return f"{family.samples[0].value:,.0f}", "rows waiting"
    return "—", "not reported by the gateway"


def throughput_view(svc: Services) -> Node:
    """Cards: messages/s, readings/s, latency p50/p95, outbox depth."""
    try:
        figures_now = rates(queries.ingest_window(svc.reader, svc.home_id, svc.clock() - WINDOW_S), WINDOW_S)
    except WarehouseError as exc:
        return problem(exc)
    depth, depth_note = outbox_depth(svc.config.gateway_metrics_url)
    if not figures_now:
        return html.Div([notice("No messages reached the warehouse in the last minute."),
                         dbc.Row(dbc.Col(stat("Gateway outbox", depth, depth_note), md=3))])

    def ms(v: float) -> str:
        """Milliseconds for a card, "—" when unknown."""
        return "—" if math.isnan(v) else f"{v:,.0f} ms"

    cards = [stat("Messages/s", f"{figures_now['messages_s']:.1f}", "last minute"),
             stat("Readings/s", f"{figures_now['readings_s']:.1f}", "last minute"),
             stat("Latency p50", ms(figures_now["p50_ms"]), "device time → warehouse"),
             stat("Latency p95", ms(figures_now["p95_ms"]), "device time → warehouse"),
             stat("Gateway outbox", depth, depth_note)]
    return dbc.Row([dbc.Col(c, className="mb-2") for c in cards])


def device_table(svc: Services, frame: pd.DataFrame) -> pd.DataFrame:
    """Every configured device with its presence: online, offline (silent or LWT), or never seen."""
    now = svc.clock()
    known = frame.set_index("device") if len(frame) else pd.DataFrame(columns=["online", "last_seen"])
    rows: list[tuple[str, str, float | None]] = []
    for device in svc.home.devices:
        if device.id not in known.index:
            rows.append((device.id, "never seen", None))
            continue
        seen = known.loc[device.id]
        last = None if pd.isna(seen["last_seen"]) else float(seen["last_seen"])
        fresh = last is not None and now - last <= svc.config.offline_after_s
        said_online = pd.isna(seen["online"]) or bool(seen["online"])  # unknown presence: trust last_seen
        rows.append((device.id, "online" if fresh and said_online else "offline", last))
    return pd.DataFrame(rows, columns=["device", "state", "last_seen"])


def devices_view(svc: Services) -> Node:
    """Online/offline counts and the devices that need a look."""
    try:
        table = device_table(svc, queries.devices(svc.reader, svc.home_id))
    except WarehouseError as exc:
        return problem(exc)
    counts = table["state"].value_counts()
    head = html.Div([dbc.Badge(f"{counts.get('online', 0)} online", color="success", className="me-1"),
                     dbc.Badge(f"{counts.get('offline', 0)} offline", color="danger", className="me-1"),
                     dbc.Badge(f"{counts.get('never seen', 0)} never seen", color="secondary")], className="mb-2")
    trouble = table[table["state"] != "online"]
    if trouble.empty:
        return html.Div([head, html.Div("Every device is reporting.", className="text-success")])
    now = svc.clock()
    items = [html.Li(f"{r.device}: {r.state}" + (f", last seen {ago(r.last_seen, now)}" if r.last_seen else ""))
             for r in trouble.itertuples()]
    return html.Div([head, html.Ul(items, className="small mb-0")])


def rejected_figure(svc: Services) -> figures.Figure:
    """Rejected messages by reason over the last 24 h."""
    try:
        return figures.rejected_bars(queries.rejected_by_reason(svc.reader, svc.home_id, svc.clock() - 86400))
    except WarehouseError as exc:
        return figures.message_figure(str(problem(exc).children))


def etl_view(svc: Services) -> Node:
    """When the ETL last ran, how it went and how much it did."""
    try:
        runs = queries.last_etl_run(svc.reader)
    except WarehouseError as exc:
        return problem(exc)
    if runs.empty:
        return notice("The ETL has not run yet.")
    run = runs.iloc[0]
    took = "" if pd.isna(run["finished_at"]) else f", took {run['finished_at'] - run['started_at']:.1f} s"
    color = "success" if run["status"] == "ok" else ("warning" if run["status"] == "running" else "danger")
    parts = [dbc.Badge(str(run["status"]), color=color, className="me-2"),
             html.Span(f"started {local_time(run['started_at'], svc.tz, '%a %d %b %H:%M:%S')}"
                       f" ({ago(run['started_at'], svc.clock())}){took}; {int(run['rows_in']):,} rows in, "
                       f"{int(run['rows_loaded']):,} loaded")]
    if isinstance(run["error"], str) and run["error"]:
        parts.append(html.Div(f"error: {run['error']}", className="text-danger small"))
    return html.Div(parts)


def register(app: Dash, svc: Services) -> None:
    """Wire the page's callbacks to `svc`."""

    @app.callback(Output(ids.THROUGHPUT, "children"), Output(ids.DEVICES, "children"),
                  Output(ids.REJECTED, "figure"), Output(ids.ETL, "children"), Input(ids.SYSTEM_TICK, "n_intervals"))
    def _health(_n: int | None) -> tuple[Node, Node, figures.Figure, Node]:
        return throughput_view(svc), devices_view(svc), rejected_figure(svc), etl_view(svc)
