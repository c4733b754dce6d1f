"""`iotpipe`: one command line, a subcommand per job, each a thin call into its folder."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import Any

import click

from iotpipe import logs
from iotpipe.context import Context
from protocol import ConfigError

EX_UNAVAILABLE = 69  # sysexits.h: a service or part is not available
EX_CONFIG = 78  # sysexits.h: bad configuration; systemd's RestartPreventExitStatus=78 stops a restart loop

# name -> "module:attribute" of a click command, or the issue that will bring it.
COMMANDS: dict[str, str] = {
    "demo": "iotpipe.demo:demo",
    "simulate": "iotpipe.simulate_cmd:simulate",
    "gateway": "iotpipe.gateway_cmd:gateway",
    "rules": "iotpipe.rules_cmd:rules",
    "cloud": "iotpipe.cloud_cmd:cloud",
    "etl": "iotpipe.cloud_cmd:etl",
    "alerts": "iotpipe.cloud_cmd:alerts",
    "dash": "iotpipe.dash_cmd:dash",
    "report": "iotpipe.report_cmd:report",
    "bench": "iotpipe.bench_cmd:bench",
    "firmware": "iotpipe.firmware_cmd:firmware",
    "config": "iotpipe.config_cmd:config",
    "certs": "iotpipe.security_cmd:certs",
    "provision": "iotpipe.security_cmd:provision",
}


class LazyGroup(click.Group):
    """Import a subcommand's module only when it runs, so `iotpipe --help` stays fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every subcommand, built or not."""
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Load the command, or one that explains which issue brings it."""
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        if ":" not in target:
            return _not_built(cmd_name, target)
        module, attr = target.split(":")
        try:
            command: click.Command = getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            return _not_built(cmd_name, "a later issue")
        return command


def _not_built(name: str, brought_by: str) -> click.Command:
    """A placeholder that says honestly that `name` does not exist yet."""

    @click.command(
        name, help=f"Not built yet: {brought_by} brings it.", context_settings={"ignore_unknown_options": True}
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def placeholder(args: tuple[str, ...]) -> None:
        click.echo(f"iotpipe {name}: not built yet; {brought_by} brings it.", err=True)
        sys.exit(EX_UNAVAILABLE)

    return placeholder


@click.group(cls=LazyGroup)
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="home config (env IOTPIPE_HOME_CONFIG)")
@click.option("--edge-url", help="edge broker, mqtt[s]://user:pass@host:port (env IOTPIPE_EDGE_URL)")
@click.option("--cloud-url", help="cloud broker URL (env IOTPIPE_CLOUD_URL)")
@click.option("--db-url", help="warehouse, sqlite:///path or postgresql://... (env IOTPIPE_DB_URL)")
@click.option("--var", type=click.Path(path_type=Path), help="data folder (env IOTPIPE_VAR, default ./var)")
@click.option("-v", "--verbose", is_flag=True, help="debug logging")
@click.version_option(package_name="iotpipe")
@click.pass_context
def cli(ctx: click.Context, /, verbose: bool, **options: Any) -> None:
    """A real-time IoT data pipeline for the home."""
    logs.setup(logging.DEBUG if verbose else logging.INFO)
    ctx.obj = Context(**options)


def main() -> None:
    """Entry point: run the CLI, turning configuration errors into one line and exit code 78."""
    try:
        code = cli.main(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        click.echo(f"iotpipe: config error: {exc}", err=True)
        sys.exit(EX_CONFIG)
    except KeyboardInterrupt:
        sys.exit(130)
