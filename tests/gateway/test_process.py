"""The gateway as systemd runs it, a process of its own: SIGKILL mid-stream, SIGTERM drain, bad config, HTTP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from iotpipe.broker import Mosquitto, free_port
from protocol.settings import REPO_ROOT
from tests.gateway.conftest import GATEWAY, write_home
from tests.gateway.devices import CloudSubscriber, TestDevice
from tests.support import wait_for


class GatewayProcess:
    """`python -m gateway` with its own home.toml, state folder and metrics port; output kept in a log file."""

    def __init__(self, tmp: Path, home: str, edge: Mosquitto, cloud: Mosquitto, gateway: str = GATEWAY) -> None:
        self.config = write_home(tmp / "home.toml", home, gateway)
        self.log = tmp / "gateway.log"
        self.port = free_port()
        self.env = {
            **os.environ,
            "IOTPIPE_EDGE_URL": edge.url,
            "IOTPIPE_CLOUD_URL": cloud.url,
            "IOTPIPE_VAR": str(tmp / "var"),
            "PYTHONPATH": str(REPO_ROOT),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "--config", str(self.config), "--metrics-port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
            )
        wait_for(lambda: self.health().get("subscribed"), timeout=20, what=f"gateway ready: {self.tail()}")

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            assert self.proc is not None and self.proc.poll() is None, f"gateway died: {self.tail()}"
            return 0, b""

    def health(self) -> dict[str, Any]:
        status, body = self.get("/healthz")
        return json.loads(body) if status else {}

    def metric(self, name: str) -> float:
        _, body = self.get("/metrics")
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"{name} not in /metrics")

    def signal(self, sig: signal.Signals) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(30)

    def tail(self) -> str:
        return " | ".join(self.log.read_text(errors="replace").splitlines()[-15:]) if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def make_process(tmp_path: Path, home_id: str) -> Iterator[Callable[..., GatewayProcess]]:
    made: list[GatewayProcess] = []

    def make(edge: Mosquitto, cloud: Mosquitto, gateway: str = GATEWAY) -> GatewayProcess:
        made.append(GatewayProcess(tmp_path, home_id, edge, cloud, gateway))
        return made[-1]

    yield make
    for process in made:
        process.stop()


def test_sigkill_mid_stream_every_acknowledged_reading_forwarded_once(
    make_process: Callable[..., GatewayProcess], broker: Mosquitto, cloud_broker: Mosquitto, home_id: str
) -> None:
    cloud = CloudSubscriber(cloud_broker.host, cloud_broker.port, home_id)
    gateway = make_process(broker, cloud_broker)
    gateway.start()
    device = TestDevice(broker.host, broker.port, home_id, "climate-a")
    wait_for(device.subscribed.is_set)
    device.send(5000)
    wait_for(lambda: len(cloud.received()) >= 2000, what="forwarding under way")
    assert gateway.signal(signal.SIGKILL) == -signal.SIGKILL
    device.send(5000)  # the rest of the stream waits in the broker for the gateway's persistent session
    gateway.start()
    wanted = {("climate-a", device.boot, seq) for seq in range(1, 10_001)}
    wait_for(lambda: set(cloud.received()) == wanted, timeout=60, what="all 10,000 readings at the cloud")
    wait_for(lambda: not device.outbox, what="every reading under the watermark")
    keys = cloud.received()
    repeats = len(keys) - len(set(keys))
    # At-least-once on the wire: only rows in flight to the cloud at the kill may come twice; the key makes them once.
    assert repeats <= 64 * 200, repeats
    assert gateway.metric("gateway_outbox_rows") == 0
    assert gateway.signal(signal.SIGTERM) == 0
    device.close()
    cloud.close()


def test_sigterm_drains_and_exits_cleanly(
    make_process: Callable[..., GatewayProcess], broker: Mosquitto, cloud_broker: Mosquitto, home_id: str
) -> None:
    cloud = CloudSubscriber(cloud_broker.host, cloud_broker.port, home_id)
    gateway = make_process(broker, cloud_broker)
    gateway.start()
    device = TestDevice(broker.host, broker.port, home_id, "plug-a")
    wait_for(device.subscribed.is_set)
    device.send(3000)
    wait_for(lambda: len(cloud.received()) >= 300, what="forwarding under way")
    assert gateway.signal(signal.SIGTERM) == 0, gateway.tail()
    assert "gateway stopped" in gateway.tail() and "uplink_unacknowledged=0" in gateway.tail()
    assert any(b'"online":false' in p for p in cloud.on("/gateway/status"))
    gateway.start()
    wanted = {("plug-a", device.boot, seq) for seq in range(1, 3001)}
    wait_for(lambda: set(cloud.received()) == wanted, timeout=30, what="the rest after a restart")
    assert len(cloud.received()) == 3000, "a drained stop sends nothing twice"
    device.close()
    cloud.close()


def test_metrics_and_health_over_http(
    make_process: Callable[..., GatewayProcess], broker: Mosquitto, cloud_broker: Mosquitto, home_id: str
) -> None:
    gateway = make_process(broker, cloud_broker)
    gateway.start()
    health = gateway.health()
    assert health["ok"] and health["edge"] and health["subscribed"]
    _, body = gateway.get("/metrics")
    for name in (
        "gateway_messages_received_total",
        "gateway_outbox_rows",
        "gateway_outbox_oldest_age_seconds",
        "gateway_uplink_connected",
        "gateway_duplicates_total",
        "gateway_outbox_dropped_total",
        "gateway_lost_readings_total",
        "gateway_commit_seconds_bucket",
    ):
        assert name.encode() in body, name
    assert gateway.signal(signal.SIGTERM) == 0


def test_systemd_notify_ready_then_watchdog(
    make_process: Callable[..., GatewayProcess], broker: Mosquitto, cloud_broker: Mosquitto
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="sd", dir="/tmp"))  # AF_UNIX paths must stay under 108 bytes
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(folder / "notify"))
        notify.settimeout(20)
        gateway = make_process(broker, cloud_broker)
        gateway.env |= {"NOTIFY_SOCKET": str(folder / "notify"), "WATCHDOG_USEC": "1000000"}
        gateway.start()
        first, second = notify.recv(256), notify.recv(256)
        assert (first, second) == (b"READY=1", b"WATCHDOG=1")
        assert gateway.signal(signal.SIGTERM) == 0
        while notify.recv(256) != b"STOPPING=1":  # more WATCHDOG=1 may come first; a timeout fails the test
            pass
    shutil.rmtree(folder)


def test_bad_gateway_section_exits_78_with_one_line_naming_file_and_key(
    make_process: Callable[..., GatewayProcess], broker: Mosquitto, cloud_broker: Mosquitto
) -> None:
    gateway = make_process(broker, cloud_broker, GATEWAY + "batch_size = 0\n")
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(gateway.config)],
        env=gateway.env,
        capture_output=True,
        cwd=REPO_ROOT,
        timeout=30,
        check=False,
    )
    assert result.returncode == 78
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "home.toml: gateway.batch_size" in lines[0], lines
