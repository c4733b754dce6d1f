"""`iotpipe demo`: private brokers plus every service of `deploy/demo.procfile`, supervised, on one machine."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import click

from iotpipe.broker import BrokerError, Mosquitto, free_port
from iotpipe.cli import EX_UNAVAILABLE
from iotpipe.context import Context, pass_context
from protocol.settings import REPO_ROOT

PROCFILE = REPO_ROOT / "deploy" / "demo.procfile"


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the procfile: a name and the iotpipe arguments it runs."""

    name: str
    args: tuple[str, ...]


def read_procfile(path: Path, **values: object) -> list[Entry]:
    """Parse `name: iotpipe args...` lines, filling `{placeholders}` from `values`."""
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, command = line.partition(":")
        words = shlex.split(command.format(**values))
        if not words or words[0] != "iotpipe":
            raise click.ClickException(f"{path}:{number}: a demo command must start with `iotpipe`")
        entries.append(Entry(name.strip(), tuple(words[1:])))
    return entries


def _pump(name: str, stream: object, width: int) -> None:
    """Copy a child's output line by line, prefixed with its name."""
    for raw in stream:  # type: ignore[attr-defined]
        sys.stdout.write(f"{name:<{width}} | {raw.decode(errors='replace')}")
        sys.stdout.flush()


class Supervisor:
    """Start the demo's processes, report any that stops, stop them all on exit."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, entry: Entry, width: int) -> None:
        """Start one entry as `python -m iotpipe ...` with the demo's environment."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "iotpipe", *entry.args],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.procs[entry.name] = proc
        threading.Thread(target=_pump, args=(entry.name, proc.stdout, width), daemon=True).start()

    def failed(self) -> str | None:
        """The name of a process that stopped on its own (other than 'not built yet'), if any."""
        for name, proc in list(self.procs.items()):
            code = proc.poll()
            if code == EX_UNAVAILABLE:
                del self.procs[name]
            elif code is not None:
                return f"{name} exited with code {code}"
        return None

    def stop(self) -> None:
        """SIGTERM every process group, wait up to 10 s, then SIGKILL the stragglers."""
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)  # the group: a service's own children stop with it
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _broker(name: str, given: str | None, var: Path, preferred: int) -> tuple[str, Mosquitto | None]:
    """Use the broker the user pointed at, or start a private one (on `preferred` when that port is free)."""
    if given:
        return given, None
    server = Mosquitto(var / "brokers" / name, config=name, port=free_port(preferred))
    server.start()
    return server.url, server


@click.command()
@click.option("--interval", default=5.0, show_default=True, help="simulated devices report at least this often (s)")
@click.option("--speed", default=1.0, show_default=True, help="simulated time runs this many times faster")
@click.option("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
@click.option("--dash-port", default=8050, show_default=True, help="the dashboard's port on 127.0.0.1")
@click.option("--procfile", type=click.Path(exists=True, path_type=Path), default=PROCFILE, show_default=True)
@pass_context
def demo(ctx: Context, /, *, interval: float, speed: float, duration: float | None, dash_port: int,
         procfile: Path) -> None:
    """Run the whole pipeline on this machine: brokers, simulator, gateway, cloud, dashboard."""
    settings = ctx.settings
    entries = read_procfile(procfile, interval=interval, speed=speed, dash_port=dash_port)
    var = settings.var.resolve()
    brokers: list[Mosquitto] = []
    supervisor: Supervisor | None = None
    try:
        edge_url, edge = _broker("edge", ctx.options.get("edge_url") or os.environ.get("IOTPIPE_EDGE_URL"), var, 1883)
        cloud_url, cloud = _broker(
            "cloud", ctx.options.get("cloud_url") or os.environ.get("IOTPIPE_CLOUD_URL"), var, 1884
        )
        brokers = [b for b in (edge, cloud) if b]
        env = {**os.environ, "IOTPIPE_EDGE_URL": edge_url, "IOTPIPE_CLOUD_URL": cloud_url,
               "IOTPIPE_DB_URL": settings.db_url, "IOTPIPE_VAR": str(var),
               "IOTPIPE_HOME_CONFIG": str(settings.config_path.resolve()), "PYTHONUNBUFFERED": "1"}
        _banner(settings.home_id, edge_url=edge_url, cloud_url=cloud_url, db_url=settings.db_url, procfile=procfile,
                dash_url=f"http://127.0.0.1:{dash_port}")
        supervisor = Supervisor(env)
        width = max(len(e.name) for e in entries)
        for entry in entries:
            supervisor.start(entry, width)
        _watch(supervisor, duration)
    except BrokerError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if supervisor:
            supervisor.stop()
        for server in brokers:
            server.stop()


def _banner(home: str, *, edge_url: str, cloud_url: str, db_url: str, procfile: Path, dash_url: str) -> None:
    """Tell the user where everything is."""
    port = edge_url.rsplit(":", 1)[-1]
    click.echo(
        f"iotpipe demo — home {home!r}\n"
        f"  edge broker:  {edge_url}   watch it: mosquitto_sub -h 127.0.0.1 -p {port} -v -t 'iot/#'\n"
        f"  cloud broker: {cloud_url}\n"
        f"  warehouse:    {db_url}\n"
        f"  dashboard:    {dash_url}\n"
        f"  services from {procfile}; Ctrl-C stops everything\n"
    )


def _watch(supervisor: Supervisor, duration: float | None) -> None:
    """Wait for Ctrl-C, the duration, or a service that stops on its own."""
    deadline = None if duration is None else time.monotonic() + duration
    while deadline is None or time.monotonic() < deadline:
        problem = supervisor.failed()
        if problem:
            raise click.ClickException(f"demo stopped: {problem}")
        time.sleep(0.5)
