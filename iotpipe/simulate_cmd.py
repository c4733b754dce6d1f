"""`iotpipe simulate`: the simulated home, live over MQTT (`live`) or as sample logs (`backfill`)."""

from __future__ import annotations

import datetime as dt
import signal
import threading
import zoneinfo
from pathlib import Path
from typing import Any

import click

from iotpipe.context import Context, pass_context
from simulator import Faults, SimulatorError, run_backfill, run_live, simulator_section

common = [
    click.option("--seed", type=int, default=None, help="model seed (default: [simulator] seed, else 42)"),
    click.option("--intruder", is_flag=True, help="inject an intruder (live: 10 s after start; backfill: day 1 11:00)"),
]


def _with_common(func: Any) -> Any:
    for option in reversed(common):
        func = option(func)
    return func


@click.group("simulate")
def simulate() -> None:
    """Simulated devices of the home: `live` over MQTT, or `backfill` sample logs."""


@simulate.command("live")
@_with_common
@click.option("--interval", type=float, default=5.0, show_default=True, help="heartbeat: seconds between reports")
@click.option("--speed", type=float, default=1.0, show_default=True, help="simulated seconds per real second")
@click.option("--homes", type=int, default=1, show_default=True, help="run N copies of the home, ids HOME-1..HOME-N")
@click.option("--ledger", type=click.Path(path_type=Path), help="append every generated key to this CSV file")
@click.option("--faults", default=None,
              help='rates, e.g. "duplicate=0.01,reorder=0.01,malformed=0.001,late=0.01,dropout=0.001"')
@click.option("--exclude", multiple=True, help="a device played by something else (e.g. a firmware node)")
@pass_context
def live(ctx: Context, /, *, seed: int | None, intruder: bool, interval: float, speed: float, homes: int,
         ledger: Path | None, faults: str | None, exclude: tuple[str, ...]) -> None:
    """Run the home's devices as MQTT clients until interrupted (SIGINT/SIGTERM)."""
    settings = ctx.settings
    parsed = Faults.parse(faults)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stats = run_live(settings, interval=interval, speed=speed, homes=homes, ledger=ledger, faults=parsed,
                         stop=stop, seed=seed, intruder=intruder, exclude=frozenset(exclude))
    except SimulatorError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"generated={stats.generated} published={stats.published} resent={stats.resent} "
               f"late_ticks={stats.late_ticks}/{stats.ticks}")


@simulate.command("backfill")
@_with_common
@click.option("--days", type=float, default=1.0, show_default=True, help="days of history")
@click.option("--start", "start_date", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="first local day (default: DAYS before today)")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="output stem: writes OUT.parquet and OUT.csv.gz")
@click.option("--format", "formats", type=click.Choice(["parquet", "csv"]), multiple=True,
              help="which files (default both)")
@click.option("--interval", type=float, default=5.0, show_default=True, help="heartbeat: seconds between reports")
@click.option("--step", type=float, default=5.0, show_default=True, help="model resolution in seconds")
@pass_context
def backfill(ctx: Context, /, *, seed: int | None, intruder: bool, days: float, start_date: dt.datetime | None,
             out: Path, formats: tuple[str, ...], interval: float, step: float) -> None:
    """Write DAYS of the home's history as sample logs in the reading-row layout ETL reads."""
    settings = ctx.settings
    tz = zoneinfo.ZoneInfo(settings.home.home.timezone)
    day = start_date.date() if start_date else dt.date.today() - dt.timedelta(days=int(days))
    start = dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()
    if days <= 0 or step <= 0 or interval < step:
        raise click.BadParameter("need --days > 0 and 0 < --step <= --interval")
    section = simulator_section(settings.home, str(settings.config_path))
    intrusions = [start + 11 * 3600.0] if intruder else []
    rows = run_backfill(settings.home, start, days, out, seed=section.seed if seed is None else seed,
                        interval=interval, step=step, formats=formats or ("parquet", "csv"), intrusions=intrusions,
                        base_load_w=section.base_load_w)
    click.echo(f"{rows} rows -> {out}.parquet / {out}.csv.gz")
