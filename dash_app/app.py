"""The Dash app: a shell (navigation, the critical-alert banner, a router) around the four pages, and `serve`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update
from plotly.utils import PlotlyJSONEncoder

from dash_app import ids, queries
from dash_app.auth import Auth, Throttle, current_user, is_loopback, needs_login
from dash_app.commands import Commander, CommandError, ack_message
from dash_app.config import DashboardConfig, dashboard_config
from dash_app.pages import energy, home, security, system
from dash_app.services import Services
from dash_app.views import Node, local_time, notice
from dash_app.warehouse import Reader, WarehouseError
from protocol import ConfigError
from protocol.settings import Settings

logger = logging.getLogger(__name__)
PAGES = (home, energy, security, system)
ASSETS = Path(__file__).parent / "assets"
BANNER_HORIZON_S = 7 * 86400  # an unacknowledged critical alert older than this is history, not a banner


def shell(svc: Services, login: bool) -> Node:
    """The frame around every page; a function, so nothing touches the warehouse at import."""
    links = [dbc.NavItem(dbc.NavLink(p.TITLE, href=p.PATH, active="exact", id=f"nav-{p.TITLE.lower()}"))
             for p in PAGES]
    if login:
        links.append(dbc.NavItem(dbc.NavLink("Sign out", href="/logout", external_link=True, id=ids.NAV_USER)))
    return html.Div([
        dcc.Location(id=ids.URL),
        dcc.Interval(id=ids.BANNER_TICK, interval=int(svc.config.refresh_s * 1000)),
        dcc.Store(id=ids.ACK_SENT, data={}),
        dbc.NavbarSimple(links, brand=svc.home.home.name, color="dark", dark=True, className="mb-3"),
        dbc.Container([html.Div(id=ids.BANNER), html.Div(id=ids.PAGE)], fluid="lg", className="pb-5"),
    ])


def route(svc: Services, path: str | None) -> Node:
    """The page for a path, or a polite 404."""
    for page in PAGES:
        if path == page.PATH:
            return page.layout(svc)
    return notice(f"No page at {path}. Pick one from the menu.", "warning")


def banner(svc: Services, acked: dict[str, float]) -> tuple[list[Node], list[str]]:
    """One red banner per active critical alert, with an Acknowledge button; and the alerts' ids."""
    try:
        active = queries.active_critical(svc.reader, svc.home_id, svc.clock() - BANNER_HORIZON_S)
    except WarehouseError:
        return [], []
    items = []
    for alert in active.itertuples():
        sent = alert.alert_id in acked
        button = dbc.Button("Acknowledgement sent…" if sent else "Acknowledge", disabled=sent, color="light",
                            size="sm", id={"type": ids.ACK_BUTTON, "alert": alert.alert_id}, className="ms-3")
        room = svc.home.room(alert.room) if isinstance(alert.room, str) else None
        where = f" · {room.name if room else alert.room}" if isinstance(alert.room, str) else ""
        items.append(dbc.Alert([html.Strong("ALARM", className="me-2"),
                                html.Span(f"{local_time(alert.ts, svc.tz)}{where} · {alert.message}"), button],
                               color="danger", className="d-flex align-items-center critical-banner"))
    return items, [str(a) for a in active["alert_id"]] if len(active) else []


def acknowledge(svc: Services, alert_id: str, user: str | None) -> str | None:
    """Send the acknowledgement to the gateway; None when sent, else why not."""
    if svc.commander is None:
        return "commands are off: no broker configured"
    try:
        svc.commander.send(ack_message(svc.home_id, alert_id, user or "dashboard"))
    except CommandError as exc:
        return str(exc)
    return None


def _register_shell(app: Dash, svc: Services) -> None:
    @app.callback(Output(ids.PAGE, "children"), Input(ids.URL, "pathname"))
    def _route(path: str | None) -> Node:
        return route(svc, path)

    @app.callback(Output(ids.BANNER, "children"), Input(ids.BANNER_TICK, "n_intervals"), Input(ids.ACK_SENT, "data"),
                  State(ids.BANNER, "children"))
    def _banner(_n: int | None, acked: dict[str, float] | None, shown: Any) -> Any:
        items, _ = banner(svc, acked or {})
        rendered = [i.to_plotly_json() for i in items]
        return no_update if _same(rendered, shown) else items

    @app.callback(Output(ids.ACK_SENT, "data"), Input({"type": ids.ACK_BUTTON, "alert": ALL}, "n_clicks"),
                  State(ids.ACK_SENT, "data"), prevent_initial_call=True)
    def _ack(clicks: list[int | None], acked: dict[str, float] | None) -> Any:
        if not ctx.triggered_id or not any(clicks):
            return no_update
        alert_id = ctx.triggered_id["alert"]
        if acknowledge(svc, alert_id, current_user()) is not None:
            return no_update
        return {**(acked or {}), alert_id: svc.clock()}


def _same(rendered: list[dict[str, Any]], shown: Any) -> bool:
    """True when the banner on the page already says the same (so a click on it is never lost to a redraw)."""

    def norm(value: Any) -> str:
        """Canonical JSON of a component tree."""
        return json.dumps(value or [], cls=PlotlyJSONEncoder, sort_keys=True)

    return norm(rendered) == norm(shown)


def create_app(svc: Services, *, login: bool, secret: str | None = None) -> Dash:
    """Build the Dash app around `svc`; with `login`, every route needs a signed-in user."""
    app = Dash(__name__, title=svc.home.home.name, assets_folder=str(ASSETS), suppress_callback_exceptions=True,
               update_title="", serve_locally=True)
    app.layout = lambda: shell(svc, login)
    if login:
        throttle = Throttle(svc.config.login_max_failures, svc.config.login_lockout_s)
        Auth(svc.config.users, throttle, svc.home.home.name).install(app.server, secret, svc.config.session_hours)
    _register_shell(app, svc)
    for page in PAGES:
        page.register(app, svc)
    return app


def check_bind(host: str, config: DashboardConfig, debug: bool) -> bool:
    """Decide whether a login is needed on `host`; refuse an open or debuggable dashboard off loopback."""
    login = needs_login(host)
    if login and not config.users:
        raise ConfigError(f"dashboard.users: listening on {host} needs at least one user (set [dashboard.users] or "
                          "IOTPIPE_DASH_USERS; make a hash with `iotpipe dash --hash-password`)")
    if debug and not is_loopback(host):
        raise ConfigError(f"--debug: the debugger runs code for whoever reaches it; refused on {host}")
    return login


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8050, *, debug: bool = False) -> None:
    """Run the dashboard until interrupted: read-only warehouse, commands to the edge broker."""
    config = dashboard_config(settings)
    login = check_bind(host, config, debug)
    commander = Commander(settings.edge_url, settings.home_id)
    svc = Services(settings.home, config, Reader(settings.db_url), commander)
    app = create_app(svc, login=login, secret=config.secret)
    commander.start()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request, every second: noise
    logger.info("dashboard on http://%s:%d (login %s)", host, port, "required" if login else "off: loopback only")
    try:
        app.run(host=host, port=port, debug=debug, dev_tools_ui=debug, dev_tools_props_check=debug)
    finally:
        commander.stop()
        svc.reader.close()
