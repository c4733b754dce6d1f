"""The PDF report of the period on screen, as a download: a button and its callback, hooked into the Energy page.

The report is built by `cloud.report.build.render_url` from the dashboard's own read-only warehouse URL, so its
numbers are the warehouse's, as on the page. It runs in a short-lived child process: matplotlib and fpdf2 (~60 MiB,
more while drawing) never enter the dashboard server, which has a 150 MiB budget.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, dcc, html, no_update

from cloud.report import perf
from cloud.report.errors import ReportInputError
from cloud.report.period import Period
from dash_app import figures, ids
from dash_app.services import Services
from dash_app.views import Node
from protocol.config import HomeConfig

logger = logging.getLogger(__name__)
BUTTON = "report-download-button"
DOWNLOAD = "report-download"
STATUS = "report-download-status"
TIMEOUT_S = 180.0


def control() -> Node:
    """The button, its download target and a line for what went wrong."""
    return html.Div([
        dbc.Button("Report (PDF)", id=BUTTON, color="secondary", outline=True, size="sm",
                   title="The PDF report for the period shown in the history chart"),
        dcc.Loading(dcc.Download(id=DOWNLOAD), type="circle"),
        html.Span(id=STATUS, className="small text-muted ms-2"),
    ], className="d-flex align-items-center")


def period_on_screen(svc: Services, period: str | None) -> tuple[dt.date, dt.date]:
    """The days the history chart shows for `period` (day, week or month view): the same span the page reads."""
    today = dt.datetime.fromtimestamp(svc.clock(), ZoneInfo(svc.tz)).date()
    return today - dt.timedelta(days=figures.PERIOD_SPAN.get(period or "day", figures.PERIOD_SPAN["day"])), today


def _bench() -> dict[str, Any]:
    """The latest bench results, where `iotpipe bench` writes them by default, when there are any."""
    path = Path(os.environ.get("IOTPIPE_VAR") or "var") / "bench" / "results.json"
    try:
        return perf.load(path) if path.exists() else {}
    except ReportInputError as exc:
        logger.warning("report download: bench results ignored: %s", exc)
        return {}


def _render(url: str, home: HomeConfig, period: Period, bench: dict[str, Any], now: float) -> tuple[bytes, int, bool]:
    """In the child process: the PDF bytes, its pages, and whether the period was empty (plain values: unpickling
    the report's own types would import its modules into the server after all)."""
    from cloud.report.build import render_url

    pdf, built = render_url(url, home, period, bench, now)
    return pdf, built.pages, built.empty


def report_file(svc: Services, period: str | None) -> tuple[dict[str, Any] | None, str]:
    """The download (a dcc.Download payload) and a status line; no payload when the warehouse cannot answer."""
    first, last = period_on_screen(svc, period)
    url = svc.reader.engine.url.render_as_string(hide_password=False)
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of the server's threads or memory
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            pdf, pages, empty = pool.submit(_render, url, svc.home, Period(first, last, svc.tz), _bench(),
                                     svc.clock()).result(timeout=TIMEOUT_S)
    except ReportInputError as exc:
        logger.warning("report download failed: %s", exc)
        return None, f"No report: {exc}"
    name = f"report-{svc.home_id}-{first:%Y%m%d}-{last:%Y%m%d}.pdf"
    state = "no data for these days" if empty else f"{pages} pages"
    payload = {"content": base64.b64encode(pdf).decode(), "filename": name, "type": "application/pdf", "base64": True}
    return payload, f"{name}: {state}"


def register(app: Dash, svc: Services) -> None:
    """Wire the button to the report of the history chart's period."""

    @app.callback(Output(DOWNLOAD, "data"), Output(STATUS, "children"), Input(BUTTON, "n_clicks"),
                  State(ids.PERIOD, "value"), prevent_initial_call=True)
    def _download(_clicks: int | None, period: str | None) -> tuple[Any, str]:
        payload, status = report_file(svc, period)
        return payload or no_update, status
