"""`iotpipe gateway [run]` runs the gateway service; `iotpipe gateway replay-rejected` re-runs kept rejections."""

from __future__ import annotations

import click

from iotpipe.context import Context, pass_context

EX_TEMPFAIL = 75  # sysexits.h: try again later (the gateway has not processed the replay yet)
METRICS_PORT = click.option(
    "--metrics-port", type=click.IntRange(0, 65535), help="serve /metrics and /healthz here (default: config)"
)


@click.group(invoke_without_command=True)
@METRICS_PORT
@click.pass_context
def gateway(click_ctx: click.Context, metrics_port: int | None) -> None:
    """The edge gateway: validate, deduplicate, store and forward (runs the service without a subcommand)."""
    if click_ctx.invoked_subcommand is None:
        click_ctx.invoke(run, metrics_port=metrics_port)


@gateway.command("run")
@METRICS_PORT
@pass_context
def run(ctx: Context, metrics_port: int | None) -> None:
    """Run the gateway until SIGTERM (systemd: Type=notify with a watchdog)."""
    from gateway.service import run as run_service

    run_service(ctx.settings, metrics_port=metrics_port)


@gateway.command("replay-rejected")
@click.option("--reason", help="only rejections of this reason (e.g. unknown_device)")
@click.option("--wait", default=30.0, show_default=True, help="seconds to wait for the running gateway")
@pass_context
def replay_rejected(ctx: Context, reason: str | None, wait: float) -> None:
    """Run kept rejections through the pipeline again, after a fix to home.toml (restart the gateway first)."""
    from gateway.replay import replay_rejected as replay

    result = replay(ctx.settings, reason=reason, wait=wait)
    if not result.queued:
        click.echo("no kept rejections to replay")
        return
    again = ", ".join(f"{r}={n}" for r, n in sorted(result.rejected_again.items())) or "none"
    click.echo(f"replay: {result.queued} queued, {result.waiting} not yet processed, rejected again: {again}")
    if result.waiting:
        click.echo("the gateway is not running or busy: it replays the rest when it gets to them", err=True)
        raise SystemExit(EX_TEMPFAIL)
