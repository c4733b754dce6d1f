"""Live-mode helpers: the example home under a test's own id, the simulator in a thread, a durable subscriber."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocol.config import parse_home_config
from protocol.endpoint import BrokerURL
from protocol.settings import EXAMPLE_CONFIG, Settings
from simulator import LiveStats, run_live


def example_text(home: str, simulator_section: str | None = None) -> str:
    """The example home.toml with `home` as its id (and another `[simulator]` section when given)."""
    text = EXAMPLE_CONFIG.read_text().replace('id = "demo"', f'id = "{home}"', 1)
    if simulator_section is not None:
        before, _, after = text.partition("\n[simulator]\n")
        rest = after.split("\n[", 1)  # keep any section that follows ours
        text = before + "\n[simulator]\n" + simulator_section + ("\n[" + rest[1] if len(rest) > 1 else "\n")
    return text


def settings_for(url: str, home: str, simulator_section: str | None = None) -> Settings:
    """Settings for the example home under id `home` on the broker at `url`."""
    broker = BrokerURL.parse(url)
    config = parse_home_config(example_text(home, simulator_section))
    return Settings(EXAMPLE_CONFIG, config, broker, broker, "sqlite://", Path("var"))


@contextmanager
def simulator(settings: Settings, **options: Any) -> Iterator[LiveStats]:
    """Run `run_live` in a thread for the block; errors in the thread fail the test."""
    stop, stats, errors = threading.Event(), LiveStats(), []

    def run() -> None:
        try:
            run_live(settings, stop=stop, stats=stats, **options)
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield stats
    finally:
        stop.set()
        thread.join(15)
        assert not thread.is_alive(), "the simulator did not stop"
    if errors:
        raise errors[0]


class Subscriber:
    """A QoS 1 subscriber with a persistent session (it keeps its queue across a broker restart)."""

    def __init__(self, port: int, pattern: str, client_id: str | None = None) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or "",
                                  clean_session=client_id is None, protocol=mqtt.MQTTv311)
        self.client.on_connect = lambda c, *_: c.subscribe(pattern, 1)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def on(self, suffix: str) -> list[tuple[str, bytes]]:
        """(topic, payload) of messages on topics ending with `suffix`."""
        with self._lock:
            return [(t, p) for t, p, _ in self.messages if t.endswith(suffix)]

    def json(self, suffix: str) -> list[tuple[str, dict[str, Any]]]:
        """Decoded JSON of messages on topics ending with `suffix` (undecodable ones skipped)."""
        out = []
        for topic, payload in self.on(suffix):
            try:
                out.append((topic, json.loads(payload)))
            except ValueError:
                continue
        return out

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()
