"""Gateway fixtures: a home.toml per test, settings pointing at the test brokers, a running gateway."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.service import Gateway
from iotpipe.broker import Mosquitto
from protocol.settings import Settings, load_settings

DEVICES = """
[[devices]]
id = "climate-a"
type = "climate"
room = "living"

[[devices]]
id = "plug-a"
type = "plug"
room = "kitchen"
appliance = "kettle"
rated_power_w = 2200

[[devices]]
id = "door-a"
type = "contact"
room = "living"
opening = "door"
"""

GATEWAY = """
[gateway]
metrics_port = 0
batch_wait_ms = 1
backoff_min_s = 0.05
backoff_max_s = 0.5
keepalive_s = 5
"""


def write_home(path: Path, home_id: str, gateway: str = GATEWAY, devices: str = DEVICES) -> Path:
    """Write a small home.toml for `home_id` with the given [gateway] section."""
    path.write_text(
        f'[home]\nid = "{home_id}"\nname = "Test home"\n\n'
        '[[rooms]]\nid = "living"\nname = "Living"\n\n[[rooms]]\nid = "kitchen"\nname = "Kitchen"\n'
        f"{devices}\n{gateway}\n"
    )
    return path


@pytest.fixture
def make_settings(tmp_path: Path, home_id: str) -> Callable[..., Settings]:
    """Settings for this test's home against the given brokers (default gateway section unless `gateway` given)."""

    def make(edge: Mosquitto, cloud: Mosquitto, gateway: str = GATEWAY, devices: str = DEVICES) -> Settings:
        path = write_home(tmp_path / "home.toml", home_id, gateway, devices)
        return load_settings(path, edge_url=edge.url, cloud_url=cloud.url, var=tmp_path / "var", env={})

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings], broker: Mosquitto, cloud_broker: Mosquitto) -> Settings:
    """Settings against the session brokers."""
    return make_settings(broker, cloud_broker)


@pytest.fixture
def gateway(settings: Settings) -> Iterator[Gateway]:
    """A gateway running in this process, drained at the end."""
    with Gateway(settings) as running:
        assert running.wait_ready(), "gateway did not subscribe"
        yield running
