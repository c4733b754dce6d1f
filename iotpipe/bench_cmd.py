"""`iotpipe bench`: run the benchmarks of bench/, write their figures to one results file, print a table."""

from __future__ import annotations

from pathlib import Path

import click

from iotpipe.context import Context, pass_context


@click.command("bench")
@click.argument("names", nargs=-1)
@click.option("--quick", is_flag=True, help="short runs: smaller loads and windows (a check, not a measurement)")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="results file (default <var>/bench/results.json); other benches' entries are kept")
@click.option("--timeout", type=click.FloatRange(min=1.0), help="seconds per benchmark (default 900 quick, 3600)")
@click.option("--list", "list_only", is_flag=True, help="list the benchmarks and exit")
@pass_context
def bench(  # noqa: PLR0917 - one parameter per click option
    ctx: Context, names: tuple[str, ...], quick: bool, out: Path | None, timeout: float | None, list_only: bool
) -> None:
    """Run the benchmarks (all, or the NAMES given) and show their figures beside each other."""
    from bench.runner import BENCHES, run
    from cloud.report.perf import table

    if list_only:
        for name, spec in BENCHES.items():
            click.echo(f"{name:<10} bench/{spec.script}")
        return
    target = out or ctx.settings.var / "bench" / "results.json"
    try:
        results = run(names, quick=quick, out=target, timeout_s=timeout, echo=click.echo)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="NAMES") from exc
    click.echo(f"\n{table(results)}\n\nresults: {target}")
    failed = [n for n in (names or BENCHES) if "error" in results["benches"][n]]
    if failed:
        raise click.ClickException(f"no figures or a failure from: {', '.join(failed)} (see 'output' in {target})")
