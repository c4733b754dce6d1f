"""`iotpipe certs` and `iotpipe provision device|service|acl`: a private CA, broker accounts, device configs."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from iotpipe.certs import LEAF_DAYS, ca_paths, default_hosts, ensure_ca, issue_client, issue_server
from iotpipe.context import Context, pass_context
from iotpipe.provision import (
    SERVICES,
    DeviceRequest,
    Files,
    RefusedError,
    check_name,
    provision_device,
    provision_service,
    write_acls,
)
from protocol.config import DeviceType

EX_USAGE = 2  # a refused argument (bad name, unknown room, duplicate) is the caller's mistake, like a usage error


class Refused(click.ClickException):
    """A refused request, shown as one `Error: ...` line with exit code 2."""

    exit_code = EX_USAGE


def _var(ctx: Context) -> Path:
    """The data folder from --var / IOTPIPE_VAR, without loading (and so requiring) the home config."""
    return Path(ctx.options.get("var") or os.environ.get("IOTPIPE_VAR") or "var").absolute()


def _refusals(func: Callable[..., None]) -> Callable[..., None]:
    """Turn provisioning's RefusedError into a one-line click error with exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            func(*args, **kwargs)
        except RefusedError as exc:
            raise Refused(str(exc)) from exc

    return wrapper


def _file_options(func: Callable[..., None]) -> Callable[..., None]:
    """The options naming the password files and the CA folder (defaults under the data folder)."""
    options = [
        click.option("--edge-passwd", type=click.Path(path_type=Path), envvar="IOTPIPE_EDGE_PASSWD",
                     help="edge broker password file (default VAR/mosquitto/edge.passwd)"),
        click.option("--cloud-passwd", type=click.Path(path_type=Path), envvar="IOTPIPE_CLOUD_PASSWD",
                     help="cloud broker password file (default VAR/mosquitto/cloud.passwd)"),
        click.option("--certs", "certs_dir", type=click.Path(path_type=Path), envvar="IOTPIPE_CERTS",
                     help="CA folder made by `iotpipe certs` (default VAR/certs)"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _files(ctx: Context, edge_passwd: Path | None, cloud_passwd: Path | None, certs_dir: Path | None) -> Files:
    base = Files.under(_var(ctx))
    return Files(base.var, edge_passwd or base.edge_passwd, cloud_passwd or base.cloud_passwd,
                 certs_dir or base.certs)


@click.command("certs")
@click.option("--out", type=click.Path(path_type=Path), envvar="IOTPIPE_CERTS",
              help="CA folder (env IOTPIPE_CERTS, default VAR/certs)")
@click.option("--host", "hosts", multiple=True, help="a name or address the server certificate is valid for "
              "(repeat; default: this host's name, name.local, LAN address, localhost)")
@click.option("--name", default="server", show_default=True, help="file name of the server certificate")
@click.option("--server/--no-server", default=True, show_default=True, help="issue a server certificate")
@click.option("--client", "clients", multiple=True, help="also issue a client certificate with this name (repeat)")
@click.option("--days", type=click.FloatRange(min=1), default=LEAF_DAYS, show_default=True)
@pass_context
@_refusals
def certs(ctx: Context, *, out: Path | None, hosts: tuple[str, ...], name: str, server: bool,
          clients: tuple[str, ...], days: float) -> None:
    """Create the CA once, then issue the broker's server certificate and any client certificates."""
    folder = out or _var(ctx) / "certs"
    check_name(name, "certificate name")
    ca = ensure_ca(folder)
    click.echo(f"CA          {ca.cert} (key {ca.key}: keep it off the broker if you can)")
    if server:
        issued = issue_server(folder, list(hosts) or default_hosts(), name=name, days=days)
        click.echo(f"server      {issued.cert} + {issued.key}")
    for client in clients:
        issued = issue_client(folder, check_name(client, "client name"), days=days)
        click.echo(f"client      {issued.cert} + {issued.key}")


@click.group("provision")
def provision() -> None:
    """Broker accounts for devices and services, the ACLs, and each device's config.json."""


@provision.command("device")
@click.argument("name")
@click.option("--room", required=True, help="a room id of the home config")
@click.option("--kind", required=True, type=click.Choice([t.value for t in DeviceType]), help="the device type")
@click.option("--name", "label", help="a human name for the dashboard")
@click.option("--broker", help="broker URL for config.json (default mqtts://LAN-ADDRESS:8883, with our CA)")
@click.option("--wifi-ssid", default="", envvar="IOTPIPE_WIFI_SSID", help="(env IOTPIPE_WIFI_SSID)")
@click.option("--wifi-password", default="", envvar="IOTPIPE_WIFI_PASSWORD", help="(env IOTPIPE_WIFI_PASSWORD)")
@_file_options
@pass_context
@_refusals
def device(ctx: Context, *, name: str, room: str, kind: str, label: str | None, broker: str | None,
           wifi_ssid: str, wifi_password: str, **paths: Path | None) -> None:
    """Add a device: its broker account, its `[[devices]]` entry in home.toml and its config.json."""
    check_name(name)  # before the config is even read: a bad name is refused the same way everywhere
    files = _files(ctx, **paths)
    request = DeviceRequest(name, room, DeviceType(kind), label, broker, (wifi_ssid, wifi_password))
    target = provision_device(ctx.settings.config_path, files, request)
    click.echo(f"{name}: account added to {files.edge_passwd}, device added to {ctx.settings.config_path}")
    click.echo(f"{name}: firmware config (holds the password) in {target}")
    _pin_note(target)
    click.echo("next: reload the broker (sudo systemctl reload mosquitto), restart the gateway, then "
               f"iotpipe firmware flash --config {target}")


def _pin_note(target: Path) -> None:
    """Say what the user still has to fill in: the pins, which only the wiring knows."""
    written = json.loads(target.read_text())
    role = written.get("role")
    if role is None:
        click.echo(f"note: no firmware role for this kind; {target} carries the credentials for your own device")
    elif not written[role]:
        click.echo(f"note: set the pins in the {role!r} section of {target} (firmware/lib/config.py checks them)")
    else:
        click.echo(f"note: the {role!r} pins are those of firmware/config.example.json (hardware/pinmap.md); "
                   "edit them if your wiring differs")


@provision.command("service")
@click.argument("service", type=click.Choice(SERVICES))
@click.option("--edge", default="127.0.0.1:1883", show_default=True, help="edge broker host:port for the URL")
@click.option("--cloud", default="localhost:8883", show_default=True, help="cloud broker TLS host:port for the URL")
@click.option("--worker", type=click.IntRange(min=1), default=1, show_default=True, help="ingest worker number")
@click.option("--systemd-unit", "unit", help="read TLS files as this unit's systemd credentials "
              "(e.g. iotpipe-gateway.service); writes a drop-in for it")
@_file_options
@pass_context
@_refusals
def service(ctx: Context, *, service: str, edge: str, cloud: str, worker: int, unit: str | None,
            **paths: Path | None) -> None:
    """Create a service's broker account(s); its URLs go to VAR/provision/services/USER.env."""
    files = _files(ctx, **paths)
    target = provision_service(service, ctx.settings.home_id, files, edge=edge, cloud=cloud, worker=worker,
                               unit=unit)
    if service == "gateway":
        click.echo(f"gateway: client certificate issued, CA {ca_paths(files.certs).cert}")
        if unit:
            click.echo(f"gateway: install {target.parent / (unit + '.d')} as /etc/systemd/system/{unit}.d")
    click.echo(f"{service}: broker URL(s) with the password in {target} (a systemd EnvironmentFile)")


@provision.command("acl")
@click.option("--out", type=click.Path(path_type=Path), help="folder of edge.acl, cloud.acl (default VAR/mosquitto)")
@click.option("--cloud-home", "cloud_homes", multiple=True, help="another home the cloud broker serves (repeat)")
@click.option("--ingest-workers", type=click.IntRange(min=1), default=1, show_default=True)
@pass_context
@_refusals
def acl(ctx: Context, *, out: Path | None, cloud_homes: tuple[str, ...], ingest_workers: int) -> None:
    """Write the edge and cloud brokers' ACL files for this home."""
    for home in cloud_homes:
        check_name(home, "home id")
    edge, cloud = write_acls(ctx.settings.home, out or _var(ctx) / "mosquitto", cloud_homes, ingest_workers)
    click.echo(f"wrote {edge} and {cloud}; reload the brokers to apply them")
