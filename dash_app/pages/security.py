"""Security: the alarm mode, the event log (filters, pages, CSV export) and the climate per room."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Dash, Input, Output, State, dcc, html, no_update

from dash_app import ids, queries
from dash_app.pages.home import mode_view
from dash_app.services import Services
from dash_app.views import Node, local_time, notice, problem
from dash_app.warehouse import WarehouseError
from protocol import SECURITY_KINDS

PATH = "/security"
TITLE = "Security"
PAGE_SIZE = 25
EXPORT_LIMIT = 100_000
DEFAULT_DAYS = 7
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run a cell starting with these
VALUE_WORDS = {"contact": ("closed", "open"), "motion": ("clear", "motion"), "smoke": ("clear", "SMOKE")}


def layout(svc: Services) -> Node:
    """The page skeleton: mode, climate, filters, the log and its export."""
    today = dt.datetime.fromtimestamp(svc.clock(), ZoneInfo(svc.tz)).date()
    kinds = sorted(str(k) for k in SECURITY_KINDS)
    return html.Div([
        dcc.Interval(id=ids.SECURITY_TICK, interval=int(svc.config.refresh_s * 1000)),
        html.H2("Security", className="h4 mb-3"),
        dbc.Row([
            dbc.Col(dbc.Card(dbc.CardBody([html.Div("Alarm mode", className="fw-semibold mb-1"),
                                           html.Div(id=ids.SECURITY_MODE)])), md=5, className="mb-3"),
            dbc.Col(dbc.Card(dbc.CardBody([html.Div("Climate per room", className="fw-semibold mb-1"),
                                           html.Div(id=ids.CLIMATE)])), md=7, className="mb-3"),
        ]),
        dbc.Card(dbc.CardBody([
            html.Div("Event log", className="fw-semibold mb-2"),
            dbc.Row([
                dbc.Col(dcc.Dropdown(id=ids.FILTER_ROOM, multi=True, placeholder="All rooms",
                                     options=[{"label": r.name, "value": r.id} for r in svc.home.rooms]), md=4),
                dbc.Col(dcc.Dropdown(id=ids.FILTER_TYPE, multi=True, placeholder="All types",
                                     options=[{"label": k, "value": k} for k in kinds]), md=3),
                dbc.Col(dcc.DatePickerRange(id=ids.FILTER_DATES, display_format="YYYY-MM-DD",
                                            start_date=str(today - dt.timedelta(days=DEFAULT_DAYS - 1)),
                                            end_date=str(today)),
                        md=3),
                dbc.Col(dbc.Button("Export CSV", id=ids.EXPORT_BUTTON, color="secondary", outline=True, size="sm"),
                        md=2),
            ], className="g-2 mb-2"),
            html.Div(id=ids.EVENTS),
            dbc.Pagination(id=ids.EVENTS_PAGE, max_value=1, active_page=1, fully_expanded=False, size="sm"),
            dcc.Download(id=ids.EXPORT),
        ])),
    ])


def climate_view(svc: Services) -> Node:
    """Latest temperature and humidity per room."""
    sensors = svc.devices_of("climate")
    try:
        pairs = [(d.id, k) for d in sensors for k in ("temperature", "humidity")]
        latest = queries.latest(svc.reader, svc.home_id, pairs)
    except WarehouseError as exc:
        return problem(exc)
    rows = []
    for device in sensors:
        room = svc.home.room(device.room)
        mine = latest[latest["device"] == device.id]
        values = {k: mine[mine["kind"] == k]["value"] for k in ("temperature", "humidity")}
        temp = "no data yet" if values["temperature"].empty else _fmt(values["temperature"].iloc[0], "{:.1f} °C")
        hum = "" if values["humidity"].empty else _fmt(values["humidity"].iloc[0], "{:.0f} %")
        rows.append(html.Tr([html.Td(room.name if room else device.room), html.Td(temp), html.Td(hum)]))
    if not rows:
        return notice("No climate sensors in the home config.")
    return dbc.Table(html.Tbody(rows), size="sm", className="mb-0")


def _fmt(value: Any, fmt: str) -> str:
    return "sensor error" if value is None or (isinstance(value, float) and math.isnan(value)) else fmt.format(value)


@dataclass(frozen=True, slots=True)
class Form:
    """The filter widgets' values as the browser sends them (dates are `YYYY-MM-DD` in the home's zone)."""

    rooms: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    start: str | None = None
    end: str | None = None

    def filter(self, tz: str, today: dt.date) -> queries.EventFilter:
        """The warehouse filter: whole days in the home's zone, the end day included."""
        zone = ZoneInfo(tz)
        first = dt.date.fromisoformat(self.start[:10]) if self.start else today - dt.timedelta(days=DEFAULT_DAYS - 1)
        last = dt.date.fromisoformat(self.end[:10]) if self.end else today
        begin = dt.datetime.combine(first, dt.time(), zone).timestamp()
        stop = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone).timestamp()
        return queries.EventFilter(self.rooms, self.kinds, begin, stop)


def _today(svc: Services) -> dt.date:
    return dt.datetime.fromtimestamp(svc.clock(), ZoneInfo(svc.tz)).date()


def event_rows(svc: Services, frame: pd.DataFrame) -> pd.DataFrame:
    """Warehouse security events as a human table (home time, room name, what happened, mode, gateway)."""
    rooms = {r.id: r.name for r in svc.home.rooms}
    labels = svc.labels()
    return pd.DataFrame({
        "time": [local_time(t, svc.tz, "%Y-%m-%d %H:%M:%S") for t in frame["t"]],
        "room": [rooms.get(r, r or "") for r in frame["room"]],
        "device": [labels.get(d, d) for d in frame["device"]],
        "type": frame["kind"],
        "event": [VALUE_WORDS.get(k, ("off", "on"))[bool(v)]
                  for k, v in zip(frame["kind"], frame["value"], strict=True)],
        "alarm mode": frame["mode"].fillna("unknown"),
        "gateway": ["online" if g else "OFFLINE" for g in frame["gateway_online"]],
    }, columns=["time", "room", "device", "type", "event", "alarm mode", "gateway"])


def events_view(svc: Services, form: Form, page: int) -> tuple[Node, int]:
    """One page of the filtered log, and how many pages there are."""
    flt = form.filter(svc.tz, _today(svc))
    try:
        total = queries.security_count(svc.reader, svc.home_id, flt)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        page = min(max(1, page), pages)
        frame = queries.security_log(svc.reader, svc.home_id, flt, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    except WarehouseError as exc:
        return problem(exc), 1
    if frame.empty:
        return notice("No security events match these filters (the ETL writes the log after each run)."), 1
    table = dbc.Table.from_dataframe(event_rows(svc, frame), size="sm", striped=True, hover=True, id="events")
    return html.Div([html.Div(f"{total} event(s), page {page} of {pages}", className="small text-muted mb-1"),
                     table]), pages


def neutralise(cell: object) -> object:
    """Defuse a text cell a spreadsheet would run as a formula (CSV injection)."""
    if isinstance(cell, str) and cell.startswith(FORMULA_START):
        return "'" + cell
    return cell


def to_csv(frame: pd.DataFrame) -> str:
    """The table as CSV, every text cell neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([neutralise(c) for c in frame.columns])
    for row in frame.itertuples(index=False):
        writer.writerow([neutralise(c) for c in row])
    return out.getvalue()


def export(svc: Services, form: Form) -> dict[str, Any] | None:
    """The filtered log as a CSV download (up to EXPORT_LIMIT rows), or None when the warehouse cannot answer."""
    flt = form.filter(svc.tz, _today(svc))
    try:
        frame = queries.security_log(svc.reader, svc.home_id, flt, limit=EXPORT_LIMIT)
    except WarehouseError:
        return None
    first = local_time(flt.start, svc.tz, "%Y%m%d")
    last = local_time(flt.end - 1, svc.tz, "%Y%m%d")
    return {"content": to_csv(event_rows(svc, frame)), "filename": f"security-{first}-{last}.csv", "type": "text/csv"}


def register(app: Dash, svc: Services) -> None:
    """Wire the page's callbacks to `svc`."""
    filters = (Input(ids.FILTER_ROOM, "value"), Input(ids.FILTER_TYPE, "value"),
               Input(ids.FILTER_DATES, "start_date"), Input(ids.FILTER_DATES, "end_date"))

    @app.callback(Output(ids.SECURITY_MODE, "children"), Output(ids.CLIMATE, "children"),
                  Input(ids.SECURITY_TICK, "n_intervals"))
    def _live(_n: int | None) -> tuple[Node, Node]:
        return mode_view(svc), climate_view(svc)

    @app.callback(Output(ids.EVENTS, "children"), Output(ids.EVENTS_PAGE, "max_value"),
                  *filters, Input(ids.EVENTS_PAGE, "active_page"))
    def _events(rooms: list[str] | None, kinds: list[str] | None, start: str | None, end: str | None,
                page: int | None) -> tuple[Node, int]:
        return events_view(svc, Form(tuple(rooms or ()), tuple(kinds or ()), start, end), page or 1)

    @app.callback(Output(ids.EXPORT, "data"), Input(ids.EXPORT_BUTTON, "n_clicks"),
                  *(State(i.component_id, i.component_property) for i in filters), prevent_initial_call=True)
    def _export(_clicks: int | None, rooms: list[str] | None, kinds: list[str] | None, start: str | None,
                end: str | None) -> Any:
        return export(svc, Form(tuple(rooms or ()), tuple(kinds or ()), start, end)) or no_update
