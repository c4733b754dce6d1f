"""`iotpipe report`: the PDF report of a period, from the warehouse and the latest bench results."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from iotpipe.context import Context, pass_context

DATE = click.DateTime(formats=["%Y-%m-%d"])


@click.command("report")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("report.pdf"),
              show_default=True, help="where to write the PDF")
@click.option("--from", "first", type=DATE, help="first day (YYYY-MM-DD, the home's time zone)")
@click.option("--to", "last", type=DATE, help="last day, included (default: today, or --from + --days - 1)")
@click.option("--days", type=click.IntRange(min=1), help="period length in days (default 7, ending today)")
@click.option("--bench", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="bench results (default: <var>/bench/results.json when present)")
@click.option("--progress/--no-progress", default=True, show_default=True, help="show a progress bar")
@pass_context
def report(  # noqa: PLR0917 - one parameter per click option
    ctx: Context, out: Path, first: dt.datetime | None, last: dt.datetime | None, days: int | None,
    bench: Path | None, progress: bool,
) -> None:
    """Build the PDF report: energy, security, climate, availability and system performance for a period."""
    from cloud.report.build import build
    from cloud.report.errors import ReportInputError
    from cloud.report.period import choose

    settings = ctx.settings
    default_bench = settings.var / "bench" / "results.json"
    try:
        period = choose(settings.home.home.timezone, first and first.date(), last and last.date(), days)
        built = build(settings, period, out, bench=bench or (default_bench if default_bench.exists() else None),
                      progress=progress)
    except ReportInputError as exc:
        raise click.ClickException(str(exc)) from exc
    state = "no data for the period" if built.empty else f"{len(built.summary)} findings"
    click.echo(f"report: {out} ({built.pages} pages, {period.label()}, {state})")
