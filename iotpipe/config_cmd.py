"""`iotpipe config check`: validate the home config and show what it describes."""

from __future__ import annotations

import click

from iotpipe.context import Context, pass_context


@click.group()
def config() -> None:
    """Inspect the home config."""


@config.command("check")
@pass_context
def check(ctx: Context) -> None:
    """Validate the home config and the endpoints; print a summary (exit 78 with the bad key if wrong)."""
    s = ctx.settings
    home = s.home
    click.echo(f"{s.config_path}: ok — home {home.home.id!r} ({home.home.name}), time zone {home.home.timezone}")
    click.echo(f"  {len(home.rooms)} rooms, {len(home.devices)} devices")
    for device in home.devices:
        kinds = ", ".join(k.value for k in device.kinds)
        click.echo(f"  {device.id:<18} {device.type.value:<8} {device.room:<10} {kinds}")
    click.echo(f"edge broker {s.edge_url}, cloud broker {s.cloud_url}, warehouse {s.db_url}, data {s.var}")
