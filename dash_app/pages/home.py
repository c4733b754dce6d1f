"""Home: a card per room (climate, last motion), switches that command devices, and the alarm mode."""

from __future__ import annotations

import json
import math
from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update

from dash_app import ids, queries
from dash_app.auth import current_user
from dash_app.commands import CommandError, mode_message, switch_message
from dash_app.services import Services
from dash_app.views import Node, ago, local_time, notice, problem
from dash_app.warehouse import WarehouseError
from protocol import AlarmMode, ModeState
from protocol.config import Device

PATH = "/"
TITLE = "Home"
CLIMATE_KINDS = (("temperature", "°C", "{:.1f}"), ("humidity", "%", "{:.0f}"), ("light", "lx", "{:.0f}"))
PENDING_S = 15.0  # a device that has not answered a command within this long is shown as silent
MODE_COLORS = {"disarmed": "secondary", "home": "info", "away": "danger", "night": "primary"}


def layout(svc: Services) -> Node:
    """The page: rooms, switches, alarm mode; filled by the callbacks on each tick."""
    rooms = {r.id: r.name for r in svc.home.rooms}
    switches = [_switch_row(d.id, d.label, rooms.get(d.room, d.room)) for d in svc.home.devices if d.switchable]
    return html.Div([
        dcc.Interval(id=ids.HOME_TICK, interval=int(svc.config.refresh_s * 1000)),
        dcc.Store(id=ids.SWITCH_PENDING, data={}),
        html.H2("Home", className="h4 mb-3"),
        dbc.Card(dbc.CardBody([
            html.Div([html.Span("Alarm ", className="me-2 fw-semibold"), html.Span(id=ids.MODE_BADGE)],
                     className="mb-2"),
            dbc.ButtonGroup([dbc.Button(m.value.capitalize(), id={"type": ids.MODE_BUTTON, "mode": m.value},
                                        outline=True, color=MODE_COLORS[m.value], size="sm") for m in AlarmMode]),
            html.Div(id=ids.MODE_FEEDBACK, className="small mt-2"),
        ]), className="mb-3"),
        html.Div(id=ids.ROOMS),
        html.H3("Switches", className="h5 mt-3"),
        html.Div(id=ids.SWITCH_FEEDBACK, className="small mb-2"),
        dbc.ListGroup(switches or [dbc.ListGroupItem("No switchable devices in the home config.")], id=ids.SWITCHES),
    ])


def _switch_row(device: str, label: str, room: str) -> dbc.ListGroupItem:
    return dbc.ListGroupItem(dbc.Row([
        dbc.Col([html.Div(label, className="fw-semibold"), html.Div(room, className="small text-muted")]),
        dbc.Col(html.Span("…", id={"type": ids.SWITCH_STATE, "device": device}), width="auto"),
        dbc.Col(dbc.Button("Toggle", id={"type": ids.SWITCH_BUTTON, "device": device}, size="sm", color="primary",
                           outline=True), width="auto"),
    ], align="center"))


def _value(frame: pd.DataFrame, device: str, kind: str) -> tuple[Any, float | None, str | None]:
    """(value, time, error) of the latest reading of (device, kind), or (None, None, None)."""
    rows = frame[(frame["device"] == device) & (frame["kind"] == kind)]
    if rows.empty:
        return None, None, None
    row = rows.iloc[0]
    value = row["value"]
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    err = row["err"] if isinstance(row["err"], str) else None
    return (None if missing else value), float(row["t"]), err


def room_cards(svc: Services) -> Node:
    """One card per room with a climate or motion sensor: latest values with their age, last motion."""
    now = svc.clock()
    climate = svc.devices_of("climate")
    motion = svc.devices_of("motion")
    try:
        latest = queries.latest(svc.reader, svc.home_id, [(d.id, k) for d in climate for k, _, _ in CLIMATE_KINDS])
        moved = queries.last_true(svc.reader, svc.home_id, [d.id for d in motion], "motion", now - 3600)
    except WarehouseError as exc:
        return problem(exc)
    cards = []
    for room in svc.home.rooms:
        sensors = [d for d in climate if d.room == room.id]
        movers = [d for d in motion if d.room == room.id]
        if sensors or movers:
            body = _climate_lines(latest, sensors, now) + _motion_line(svc, moved, movers, now)
            card = dbc.Card([dbc.CardHeader(room.name), dbc.CardBody(body)], id=f"room-{room.id}", className="h-100")
            cards.append(dbc.Col(card, md=4, className="mb-3"))
    return dbc.Row(cards) if cards else notice("No rooms with sensors in the home config.")


def _climate_lines(latest: pd.DataFrame, sensors: list[Device], now: float) -> list[Node]:
    lines: list[Node] = []
    for device in sensors:
        for kind, unit, fmt in CLIMATE_KINDS:
            value, t, err = _value(latest, device.id, kind)
            text = f"{fmt.format(value)} {unit}" if value is not None else (f"sensor error: {err}" if err else "")
            lines.append(html.Div([html.Span(kind.capitalize(), className="text-muted me-2"),
                                   html.Span(text or "no data yet", className="reading"),
                                   html.Span(f" · {ago(t, now)}" if t else "", className="small text-muted")]))
    return lines


def _motion_line(svc: Services, moved: pd.DataFrame, movers: list[Device], now: float) -> list[Node]:
    if not movers:
        return []
    times = moved[moved["device"].isin([d.id for d in movers])]["t"] if len(moved) else pd.Series(dtype=float)
    last = float(times.max()) if len(times) else None
    text = f"{local_time(last, svc.tz, '%a %H:%M:%S')} ({ago(last, now)})" if last else "none recorded"
    return [html.Div([html.Span("Last motion", className="text-muted me-2"), html.Span(text)])]


def switch_view(svc: Services, pending: dict[str, Any], order: list[str]) -> tuple[list[Node], list[str]]:
    """Per switch (in `order`): the state the device reported, and the button's label."""
    now = svc.clock()
    try:
        latest = queries.latest(svc.reader, svc.home_id, [(d, k) for d in order for k in ("switch", "power")])
    except WarehouseError as exc:
        text = str(problem(exc).children)
        return [html.Span(text, className="text-warning small") for _ in order], ["Toggle"] * len(order)
    states, labels = [], []
    for device in order:
        on, t, _ = _value(latest, device, "switch")
        power, _, _ = _value(latest, device, "power")
        states.append(_state_badge(on, t, power, pending.get(device), now))
        labels.append("Turn off" if on else "Turn on")
    return states, labels


def _state_badge(on: Any, t: float | None, power: Any, wait: dict[str, Any] | None, now: float) -> Node:
    if t is None:
        badge = dbc.Badge("no data yet", color="light", text_color="dark")
    else:
        badge = dbc.Badge("ON" if on else "OFF", color="success" if on else "secondary", className="state")
    extra = f" {power:.0f} W" if power is not None else ""
    note = ""
    if wait and bool(on) != wait["target"]:
        waited = now - wait["at"]
        note = " · waiting for the device…" if waited < PENDING_S else " · the device did not answer"
    return html.Span([badge, html.Span(extra + note, className="small text-muted ms-1")])


def toggle(svc: Services, device: str, user: str | None) -> tuple[dict[str, Any], Node]:
    """Send the command that flips what the device last reported; returns the pending entry and a message."""
    try:
        latest = queries.latest(svc.reader, svc.home_id, [(device, "switch")])
        on, _, _ = _value(latest, device, "switch")
    except WarehouseError:
        on = None
    target = not bool(on)
    if svc.commander is None:
        return {}, notice("Commands are off: no broker is configured.", "warning")
    try:
        svc.commander.send(switch_message(svc.home_id, device, target))
    except CommandError as exc:
        return {}, notice(str(exc), "warning")
    label = svc.labels().get(device, device)
    return {"target": target, "at": svc.clock()}, html.Span(
        f"Sent: {label} {'on' if target else 'off'} (by {user or 'local user'}).", className="text-muted")


def mode_view(svc: Services) -> Node:
    """The alarm mode: live from the retained topic, else the warehouse's last mode event; exit delay countdown."""
    state = svc.commander.mode if svc.commander else None
    if state is None:
        state = _mode_from_warehouse(svc)
    if state is None:
        return dbc.Badge("unknown (no mode reported yet)", color="light", text_color="dark", id="mode-value")
    parts: list[Node] = [dbc.Badge(state.mode.value, color=MODE_COLORS[state.mode.value], id="mode-value")]
    now = svc.clock()
    if state.armed_at and state.armed_at > now:
        parts.append(html.Span(f" arming in {math.ceil(state.armed_at - now)} s (exit delay)",
                               className="text-danger small ms-2", id="mode-countdown"))
    parts.append(html.Span(f" since {local_time(state.since, svc.tz, '%a %H:%M')}"
                           + (f" by {state.by}" if state.by else ""), className="small text-muted ms-2"))
    return html.Span(parts)


def _mode_from_warehouse(svc: Services) -> ModeState | None:
    try:
        rows = queries.latest_mode_event(svc.reader, svc.home_id)
    except WarehouseError:
        return None
    if rows.empty:
        return None
    try:
        data = json.loads(rows.iloc[0]["payload"])
        data = data["mode"] if isinstance(data.get("mode"), dict) else data  # a ModeState, or its fields inline
        return ModeState(mode=AlarmMode(data["mode"]), since=float(data.get("since", rows.iloc[0]["ts"])),
                         source=str(data.get("source", "warehouse")), by=data.get("by"))
    except (ValueError, KeyError, TypeError):
        return None


def set_mode(svc: Services, mode: str, user: str | None) -> Node:
    """Ask the gateway to change the alarm mode; the badge follows what the gateway then reports."""
    if svc.commander is None:
        return notice("Commands are off: no broker is configured.", "warning")
    try:
        svc.commander.send(mode_message(svc.home_id, AlarmMode(mode), user or "dashboard"))
    except CommandError as exc:
        return notice(str(exc), "warning")
    return html.Span(f"Asked the gateway for mode {mode}.", className="text-muted")


def register(app: Dash, svc: Services) -> None:
    """Wire the page's callbacks to `svc`."""

    @app.callback(Output(ids.ROOMS, "children"), Input(ids.HOME_TICK, "n_intervals"))
    def _rooms(_n: int | None) -> Node:
        return room_cards(svc)

    @app.callback(
        Output({"type": ids.SWITCH_STATE, "device": ALL}, "children"),
        Output({"type": ids.SWITCH_BUTTON, "device": ALL}, "children"),
        Input(ids.HOME_TICK, "n_intervals"), Input(ids.SWITCH_PENDING, "data"),
    )
    def _switches(_n: int | None, pending: dict[str, Any] | None) -> tuple[list[Node], list[str]]:
        order = [o["id"]["device"] for o in ctx.outputs_list[0]]
        return switch_view(svc, pending or {}, order)

    @app.callback(
        Output(ids.SWITCH_PENDING, "data"), Output(ids.SWITCH_FEEDBACK, "children"),
        Input({"type": ids.SWITCH_BUTTON, "device": ALL}, "n_clicks"), State(ids.SWITCH_PENDING, "data"),
        prevent_initial_call=True,
    )
    def _toggle(clicks: list[int | None], pending: dict[str, Any] | None) -> tuple[Any, Node]:
        if not ctx.triggered_id or not any(clicks):
            return no_update, no_update
        device = ctx.triggered_id["device"]
        entry, message = toggle(svc, device, current_user())
        return ({**(pending or {}), device: entry} if entry else no_update), message

    @app.callback(Output(ids.MODE_BADGE, "children"), Input(ids.HOME_TICK, "n_intervals"))
    def _mode(_n: int | None) -> Node:
        return mode_view(svc)

    @app.callback(
        Output(ids.MODE_FEEDBACK, "children"), Input({"type": ids.MODE_BUTTON, "mode": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    def _set_mode(clicks: list[int | None]) -> Node:
        if not ctx.triggered_id or not any(clicks):
            return no_update
        return set_mode(svc, ctx.triggered_id["mode"], current_user())
