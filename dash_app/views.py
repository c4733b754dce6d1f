"""Small view pieces every page uses: notices for empty or unreachable states, times in the home's zone."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
from dash import html

from dash_app.warehouse import WarehouseDownError, WarehouseEmptyError, WarehouseError

Node: TypeAlias = Any  # a Dash component: dash-bootstrap-components ships no type hints, so mypy sees Any


def notice(text: str, color: str = "secondary") -> dbc.Alert:
    """A one-line, visible explanation in place of missing content."""
    return dbc.Alert(text, color=color, className="py-2 mb-2 state-notice")


def problem(exc: WarehouseError) -> dbc.Alert:
    """The notice for a warehouse that is empty ("no data yet") or unreachable ("reconnecting")."""
    if isinstance(exc, WarehouseEmptyError):
        return notice("No data yet: nothing has reached the warehouse. Start the pipeline and wait a moment.", "info")
    if isinstance(exc, WarehouseDownError):
        return notice("Reconnecting to the warehouse… the page updates as soon as it answers.", "warning")
    return notice(str(exc), "warning")


def local_time(t: float | None, tz: str, fmt: str = "%H:%M:%S") -> str:
    """An epoch time as text in the home's zone; "—" for none."""
    if t is None or (isinstance(t, float) and math.isnan(t)):
        return "—"
    return dt.datetime.fromtimestamp(t, ZoneInfo(tz)).strftime(fmt)


def ago(t: float | None, now: float) -> str:
    """How long ago, in words a glance can read ("12 s ago", "3 min ago", "2 h ago")."""
    if t is None or (isinstance(t, float) and math.isnan(t)):
        return "never"
    seconds = max(0.0, now - t)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def stat(title: str, value: str, note: str = "", ident: str | None = None) -> dbc.Card:
    """A small card with a big number."""
    body = [html.Div(title, className="text-muted small"), html.Div(value, className="fs-3 fw-semibold")]
    if note:
        body.append(html.Div(note, className="small text-muted"))
    return dbc.Card(dbc.CardBody(body), className="h-100", id=ident or f"stat-{title.lower().replace(' ', '-')}")
