"""The demo as a new user runs it: private brokers, and a simulated home whose every kind reaches the broker."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import protocol
import protocol.config
from iotpipe.broker import free_port
from protocol import decode_status
from protocol.settings import EXAMPLE_CONFIG
from tests.support import Recorder, wait_for


class Demo:
    """`iotpipe demo` in a child process, its output collected."""

    def __init__(self, var: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IOTPIPE_")}
        env["IOTPIPE_VAR"] = str(var)
        self.var = var
        self.dash_port = free_port()
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "iotpipe", "demo", "--interval", "1", "--duration", "170",
             "--dash-port", str(self.dash_port)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def url(self, name: str) -> tuple[str, int]:
        """Host and port of the broker the demo printed."""
        pattern = re.compile(rf"{name} broker:\s+mqtt://([\d.]+):(\d+)")

        def find() -> re.Match[str] | None:
            return next((m for line in self.lines if (m := pattern.search(line))), None)

        match = self.wait(find, 30, f"the demo to print its {name} broker")
        return match.group(1), int(match.group(2))

    def wait(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        """`wait_for`, with the demo's last output in the failure message."""
        try:
            return wait_for(predicate, timeout, what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; demo output:\n{''.join(self.lines[-40:])}") from None

    def stop(self) -> int:
        """Ctrl-C the demo as a user would; its exit code."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            code = self.proc.wait()
        self.reader.join(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    running = Demo(tmp_path / "var")
    yield running
    running.stop()


def test_demo_publishes_every_kind_and_status_of_every_device(demo: Demo) -> None:
    host, port = demo.url("edge")
    rec = Recorder(host, port, "iot/#")
    home = protocol.config.load_home_config(EXAMPLE_CONFIG)
    wanted_kinds = {k for d in home.devices for k in d.kinds}
    devices = {d.id for d in home.devices}

    def kinds_seen() -> set[protocol.Kind]:
        seen = set()
        for payload in rec.on("/telemetry"):
            seen.update(r.kind for r in protocol.decode_telemetry(payload).readings)
        return seen

    demo.wait(lambda: kinds_seen() >= wanted_kinds, 60, "telemetry of every kind")
    statuses = {t.split("/")[2] for t, p, _ in rec.messages if t.endswith("/status") and decode_status(p).online}
    assert devices <= statuses
    rec.close()
    warehouse = demo.var / "warehouse.db"
    demo.wait(lambda: stored_devices(warehouse) >= devices, 60, "every device's readings in the warehouse")
    demo.wait(lambda: etl_runs(warehouse) >= 1, 90, "a periodic ETL run")
    demo.wait(lambda: dashboard_answers(demo.dash_port), 60, "the dashboard to answer")
    assert demo.stop() in (0, 130), "".join(demo.lines[-30:])


def stored_devices(warehouse: Path) -> set[str]:
    """Devices with readings in the demo's warehouse (read-only; it may not exist yet)."""
    if not warehouse.exists():
        return set()
    with sqlite3.connect(f"file:{warehouse}?mode=ro", uri=True) as conn:
        try:
            return {d for (d,) in conn.execute("SELECT DISTINCT device FROM readings")}
        except sqlite3.OperationalError:  # not migrated yet
            return set()


def etl_runs(warehouse: Path) -> int:
    """Finished ETL runs recorded in the warehouse."""
    with sqlite3.connect(f"file:{warehouse}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM etl_runs WHERE finished_at IS NOT NULL").fetchone()[0])


def dashboard_answers(port: int) -> bool:
    """True when the dashboard serves its page."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            return response.status == 200 and b"react-entry-point" in response.read()
    except OSError:
        return False
