"""`iotpipe rules`: the edge rules service (alarm, buzzer, notifications, HTTP/CoAP intake, HA discovery)."""

from __future__ import annotations

import click

from iotpipe.context import Context, pass_context


@click.group(invoke_without_command=True)
@click.pass_context
def rules(click_ctx: click.Context) -> None:
    """Edge rules and the alarm (runs the service without a subcommand)."""
    if click_ctx.invoked_subcommand is None:
        click_ctx.invoke(run)


@rules.command("run")
@pass_context
def run(ctx: Context) -> None:
    """Run the edge rules service until SIGTERM; alerts work with or without the cloud."""
    from gateway.rules.service import run as run_service

    run_service(ctx.settings)


@rules.command("check")
@pass_context
def check(ctx: Context) -> None:
    """Validate `[[rules]]` and `[alarm]` of the home config and list the rules."""
    from gateway.rules.config import parse_alarm, parse_rules, rule_type

    parsed = parse_rules(ctx.settings.home)
    alarm = parse_alarm(ctx.settings.home)
    for rule in parsed:
        click.echo(f"{rule.id}: {rule_type(rule)} ({rule.severity.value})")
    click.echo(f"alarm: exit delay {alarm.exit_delay_s:g} s, door entry delay {alarm.door_entry_delay_s:g} s")


@rules.command("discovery")
@pass_context
def discovery(ctx: Context) -> None:
    """Print the Home Assistant discovery configs (topic, then JSON) without publishing them."""
    from gateway.discovery import discovery_configs
    from gateway.rules.config import parse_alarm
    from protocol import encode

    home = ctx.settings.home
    for topic, config in discovery_configs(home, parse_alarm(home).discovery_prefix):
        click.echo(f"{topic} {encode(config).decode()}")
