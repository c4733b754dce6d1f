"""`iotpipe cloud ingest|migrate`, `iotpipe etl` and `iotpipe alerts`: thin calls into `cloud/`."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from iotpipe.context import Context, pass_context


def _stop_on_signals() -> threading.Event:
    """An event set by SIGTERM (systemd, the demo launcher) or SIGINT, so services finish what they hold."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


@click.group()
def cloud() -> None:
    """The cloud tier: ingest workers and the warehouse."""


@cloud.command()
@click.option("--group", help="shared-subscription group (default: [cloud] group, 'ingest')")
@click.option("--client-id", help="MQTT client id; keep it stable per worker (persistent session)")
@pass_context
def ingest(ctx: Context, group: str | None, client_id: str | None) -> None:
    """Consume the gateways' uplink into the warehouse and the Parquet lake until SIGTERM."""
    from cloud.ingest.worker import run

    stats = run(ctx.settings, stop=_stop_on_signals(), group=group, client_id=client_id)
    click.echo(f"ingest: {stats.messages} messages, {stats.readings} readings, {stats.rejected} rejected")


@cloud.command()
@pass_context
def migrate(ctx: Context) -> None:
    """Create or upgrade the warehouse schema (what every service does on start)."""
    from cloud.warehouse.db import make_engine
    from cloud.warehouse.db import migrate as upgrade

    engine = make_engine(ctx.settings.db_url)
    upgrade(engine)
    engine.dispose()
    click.echo("warehouse at the latest schema")


@click.command()
@click.option("--from", "source", type=click.Path(path_type=Path), help="load a sample log (CSV/Parquet) first")
@click.option("--events", type=click.Path(path_type=Path), help="gateway events (JSON lines), e.g. mode changes")
@click.option("--full", is_flag=True, help="recompute every partition, not just those new data touched")
@click.option("--every", type=click.FloatRange(min=1.0), help="run again every this many seconds until SIGTERM")
@click.option("--progress/--no-progress", default=True, show_default=True, help="show a progress bar")
@pass_context
def etl(  # noqa: PLR0917 - one parameter per click option
    ctx: Context, source: Path | None, events: Path | None, full: bool, every: float | None, progress: bool
) -> None:
    """Batch ETL: clean, flag, aggregate and summarise the warehouse (incrementally, idempotently)."""
    from cloud.errors import EtlInputError
    from cloud.etl.run import run

    stop = _stop_on_signals()
    try:
        while True:
            result = run(ctx.settings, source=source, events=events, full=full, progress=progress)
            click.echo(f"etl run {result.run_id}: loaded {result.rows_loaded}, read {result.rows_in}, "
                       f"touched {result.touched} device-days, wrote {result.counts}")
            source, events, full = None, None, False
            if every is None or stop.wait(every):
                return
    except EtlInputError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@click.option("--client-id", help="MQTT client id (persistent session)")
@pass_context
def alerts(ctx: Context, client_id: str | None) -> None:
    """Streaming alerts over the live uplink, sent through Apprise, until SIGTERM."""
    from cloud.alerts.service import run

    fired = run(ctx.settings, stop=_stop_on_signals(), client_id=client_id)
    click.echo(f"alerts: {fired} fired")
