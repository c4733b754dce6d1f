"""`iotpipe dash`: serve the dashboard (login required off loopback), or make a password hash for it."""

from __future__ import annotations

import contextlib
import ctypes
import sys

import click

from iotpipe.context import Context, pass_context

M_ARENA_MAX = -8  # glibc's mallopt parameter, as the MALLOC_ARENA_MAX environment variable sets it


def _lean_process() -> None:
    """Trim the dashboard server's memory before anything heavy is imported (the issue's budget is 150 MiB).

    pandas 3 imports pyarrow eagerly (~50 MiB) for its string dtype; the dashboard reads no Parquet and pandas
    supports running without it, so this process makes `import pyarrow` fail. And each request thread would get a
    glibc malloc arena of its own (~8 MiB more here); two arenas serve a dashboard's handful of requests.
    """
    if "pandas" not in sys.modules:
        sys.modules.setdefault("pyarrow", None)  # type: ignore[arg-type]  # None makes `import pyarrow` fail
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 2)


@click.command("dash")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on (off loopback: login)")
@click.option("--port", default=8050, show_default=True, type=click.IntRange(1, 65535), help="port to listen on")
@click.option("--debug", is_flag=True, help="Dash dev tools and reloader (loopback only)")
@click.option("--hash-password", is_flag=True, help="read a password and print its hash for [dashboard.users]")
@pass_context
def dash(ctx: Context, host: str, port: int, debug: bool, hash_password: bool) -> None:
    """Serve the dashboard: Home, Energy, Security, System."""
    if hash_password:
        from dash_app.auth import hash_password as make_hash

        click.echo(make_hash(click.prompt("Password", hide_input=True, confirmation_prompt=True)))
        return
    _lean_process()
    from dash_app.app import serve

    serve(ctx.settings, host, port, debug=debug)
