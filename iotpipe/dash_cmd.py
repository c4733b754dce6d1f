"""`iotpipe dash`: serve the dashboard (login required off loopback), or make a password hash for it."""

from __future__ import annotations

import click
from werkzeug.security import generate_password_hash

from iotpipe.context import Context, pass_context


@click.command("dash")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on (off loopback: login)")
@click.option("--port", default=8050, show_default=True, type=click.IntRange(1, 65535), help="port to listen on")
@click.option("--debug", is_flag=True, help="Dash dev tools and reloader (loopback only)")
@click.option("--hash-password", is_flag=True, help="read a password and print its hash for [dashboard.users]")
@pass_context
def dash(ctx: Context, host: str, port: int, debug: bool, hash_password: bool) -> None:
    """Serve the dashboard: Home, Energy, Security, System."""
    if hash_password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        click.echo(generate_password_hash(password))
        return
    from dash_app.app import serve

    serve(ctx.settings, host, port, debug=debug)
