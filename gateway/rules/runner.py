"""The edge rules as their own MQTT client on the edge broker, independent of the outbox and the cloud:
telemetry, status, `gateway/mode/set` and `gateway/alerts/ack` in; alerts and the retained mode out."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from gateway.actions.publish import AlertPublisher
from gateway.pipeline import enrich, validate
from gateway.rules.config import AlarmSettings, Rule
from gateway.rules.edge import AlertSink, EdgeRules
from protocol import (
    GATEWAY,
    Channel,
    ProtocolError,
    Topic,
    decode_alert_ack,
    decode_mode_change,
    decode_mode_state,
    decode_status,
    topics,
)
from protocol.config import HomeConfig
from protocol.endpoint import BrokerURL, make_client

logger = logging.getLogger(__name__)
Clock = Callable[[], float]


def _no_delay(_c: mqtt.Client, _u: Any, sock: Any) -> None:
    """Alerts are small and urgent: without TCP_NODELAY, Nagle holds one back for the broker's delayed ACK (40 ms)."""
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class RulesRunner:
    """Feeds EdgeRules from the edge broker.

    Unlike the spine (whose callback only queues), the rules run inside paho's callback: they cost ~30 us a
    message (~75 us with an alert), less than a hand-off to another thread, and an alert published from the
    network thread leaves without waking anyone (bench/bench_alerts.py). Slow actions (Apprise) queue their work."""

    def __init__(
        self,
        home: HomeConfig,
        edge_url: BrokerURL,
        *,
        sinks: Sequence[AlertSink] = (),
        clock: Clock = time.time,
        tick_s: float | None = 0.1,
        settings: AlarmSettings | None = None,
        rules: Iterable[Rule] | None = None,
        client_id: str | None = None,
    ) -> None:
        self.home_id = home.home.id
        self.clock = clock
        self.tick_s = tick_s
        self.client = make_client(edge_url, client_id or f"gateway-{self.home_id}-rules")
        self.publisher = AlertPublisher(self.client, self.home_id)
        self.rules = EdgeRules(home, [self.publisher, *sinks], clock, settings=settings, rules=rules)
        self.home = home
        self._url = edge_url
        self._subscribed = threading.Event()
        self._stop = threading.Event()
        self._connected = False
        self.on_connected: list[Callable[[], None]] = []  # e.g. publish Home Assistant discovery
        self.on_watermark: list[Callable[[str, bytes], None]] = []  # the HTTP/CoAP relay waits on these
        self._ticker = threading.Thread(target=self._tick, name="rules-tick", daemon=True) if tick_s else None
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.on_socket_open = _no_delay

    def start(self, timeout: float = 10.0) -> None:
        """Connect (retrying in the background) and start ticking; waits for the first subscription."""
        if self._ticker is not None:
            self._ticker.start()
        self.client.reconnect_delay_set(1, 30)
        self.client.connect_async(self._url.host, self._url.port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            logger.warning("rules: edge broker %s not reachable yet; retrying in the background", self._url)

    def stop(self) -> None:
        """Stop ticking, disconnect."""
        self._stop.set()
        if self._ticker is not None and self._ticker.is_alive():
            self._ticker.join(10)
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        if reason.is_failure:
            return
        if not self._connected:
            self._connected = True
            logger.info("rules: edge broker connected %s", self._url)
        home = self.home_id
        client.subscribe(
            [
                (f"iot/{home}/+/{Channel.TELEMETRY.value}", SubscribeOptions(qos=1)),
                (f"iot/{home}/+/{Channel.STATUS.value}", SubscribeOptions(qos=1)),
                (topics.edge(home, GATEWAY, Channel.MODE_SET), SubscribeOptions(qos=1)),
                (topics.edge(home, GATEWAY, Channel.ALERTS_ACK), SubscribeOptions(qos=1)),
                # noLocal: our own retained publishes must not come back and overwrite a newer state.
                (topics.edge(home, GATEWAY, Channel.MODE), SubscribeOptions(qos=1, noLocal=True)),
                *([(f"iot/{home}/+/{Channel.ACK.value}", SubscribeOptions(qos=0))] if self.on_watermark else []),
            ]
        )
        for callback in self.on_connected:
            callback()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        if self._connected and not self._stop.is_set():
            logger.warning("rules: edge broker connection lost (%s); alerts resume on reconnect", reason)
        self._connected = False

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            self.handle(message.topic, bytes(message.payload), bool(message.retain), self.clock())
        except ProtocolError as exc:
            logger.debug("rules: ignored %s: %s", message.topic, exc)  # the spine dead-letters bad telemetry

    def _tick(self) -> None:
        assert self.tick_s is not None
        while not self._stop.wait(self.tick_s):
            self.rules.tick()

    def handle(self, topic: str, payload: bytes, retained: bool, received_at: float) -> None:
        """One message from the edge broker (public so tests and the bench can drive it directly)."""
        parsed = topics.parse(topic)
        if parsed.channel is Channel.TELEMETRY:
            self._telemetry(parsed, payload, received_at)
        elif parsed.channel is Channel.STATUS and parsed.device != GATEWAY:
            status = decode_status(payload)
            self.rules.on_status(parsed.device, status.online, status.interval)
        elif parsed.channel is Channel.MODE_SET:
            change = decode_mode_change(payload)
            self.rules.set_mode(change.mode, "mqtt", change.by)
        elif parsed.channel is Channel.ALERTS_ACK:
            self.rules.acknowledge(decode_alert_ack(payload))
        elif parsed.channel is Channel.MODE and retained:
            self.rules.restore_mode(decode_mode_state(payload))
        elif parsed.channel is Channel.ACK:
            for callback in self.on_watermark:
                callback(parsed.device, payload)

    def _telemetry(self, topic: Topic, payload: bytes, received_at: float) -> None:
        telemetry = validate(topic, payload, received_at)
        device = self.home.device(telemetry.device)
        if device is not None:  # rules only know configured devices
            self.rules.on_telemetry(enrich(telemetry, received_at, device))
