"""The gateway service: wires intake, writer, forwarder and metrics together; `run()` is what systemd starts."""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
import sdnotify
from paho.mqtt.subscribeoptions import SubscribeOptions

from gateway.forward import Forwarder
from gateway.link import Backoff, Link
from gateway.metrics import GatewayMetrics, HttpServer
from gateway.pipeline import Incoming
from gateway.rules.service import EdgeService
from gateway.settings import GatewayConfig, gateway_config
from gateway.store import OutboxReader, Store
from gateway.writer import Depth, Writer
from protocol import GATEWAY, Channel, Status, encode, topics
from protocol.settings import Settings

logger = logging.getLogger(__name__)
VERSION = "0.1.0"
STALL_S = 30.0  # a writer that has not ticked for this long is stuck: stop feeding the watchdog


class GatewayError(RuntimeError):
    """The gateway cannot go on (a worker thread died)."""


def database_path(settings: Settings) -> Path:
    """Where the outbox lives: `$IOTPIPE_VAR/gateway/gateway.db` (systemd's StateDirectory on a Pi)."""
    return settings.var / "gateway" / "gateway.db"


class EdgeIntake:
    """The edge broker connection: persistent session, QoS 1, manual acks; callbacks only hand messages on."""

    def __init__(
        self,
        settings: Settings,
        config: GatewayConfig,
        inbox: queue.SimpleQueue[Incoming | None],
        clock: Callable[[], float],
    ) -> None:
        self.home = settings.home_id
        self.clock = clock
        self.inbox = inbox
        self.open = True
        self.on_reconnect: list[Callable[[], None]] = []
        self.link = Link(
            "edge",
            settings.edge_url,
            f"gateway-{self.home}",
            backoff=Backoff(config.backoff_min_s, config.backoff_max_s),
            keepalive=config.keepalive_s,
            clean_start=False,
            session_expiry=config.session_expiry_s,
            receive_maximum=config.receive_maximum,
            manual_ack=True,
            on_up=self._subscribe,
        )
        self.link.client.on_message = self._on_message
        self.subscribed = threading.Event()
        self.link.client.on_subscribe = lambda *_: self.subscribed.set()

    @property
    def generation(self) -> int:
        """Counts connections; a message is acked only on the connection that delivered it."""
        return self.link.generation

    def _subscribe(self, generation: int) -> None:
        # Subscribe on every connect: a broker that crashed may have lost our session.
        telemetry = f"iot/{self.home}/+/{Channel.TELEMETRY.value}"
        status = f"iot/{self.home}/+/{Channel.STATUS.value}"
        self.link.client.subscribe(
            [
                (telemetry, SubscribeOptions(qos=1)),
                (status, SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)),
            ]
        )
        for callback in self.on_reconnect:
            callback()

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        if self.open:
            payload = bytes(message.payload)
            self.inbox.put(Incoming(message.topic, payload, self.clock(), message.mid, message.qos, self.generation))

    def ack(self, mid: int, qos: int) -> None:
        """PUBACK a message after it is committed."""
        self.link.client.ack(mid, qos)

    def publish(self, topic: str, payload: bytes, retain: bool) -> None:
        """Publish to the edge broker with QoS 1."""
        self.link.client.publish(topic, payload, qos=1, retain=retain)


class Gateway:
    """The running gateway; a context manager: `start()` on enter, `close()` (drain) on exit."""

    def __init__(
        self,
        settings: Settings,
        config: GatewayConfig | None = None,
        *,
        metrics_port: int | None = None,
        db_path: Path | None = None,
        clock: Callable[[], float] = time.time,
        rules: bool = False,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.config = config = config or gateway_config(settings)
        self.db_path = db_path or database_path(settings)
        self.metrics = GatewayMetrics()
        self.store = Store(self.db_path)
        self.reader = OutboxReader(self.db_path)
        self.depth = Depth(self.store.count())
        wake = threading.Event()
        inbox: queue.SimpleQueue[Incoming | None] = queue.SimpleQueue()
        self.inbox = inbox
        self.edge = EdgeIntake(settings, config, inbox, clock)
        self.writer = Writer(
            settings.home,
            config,
            self.store,
            self.edge,
            metrics=self.metrics,
            depth=self.depth,
            wake=wake,
            inbox=inbox,
            clock=clock,
        )
        self.edge.on_reconnect.append(self._edge_up)
        self.cloud = Link(
            "cloud",
            settings.cloud_url,
            f"gateway-{settings.home_id}",
            backoff=Backoff(config.backoff_min_s, config.backoff_max_s),
            keepalive=config.keepalive_s,
            on_up=self._cloud_up,
        )
        self.status_topic = topics.uplink(settings.home_id, GATEWAY, Channel.STATUS)
        self.cloud.will(self.status_topic, encode(Status(online=False, fw=VERSION)))
        self.forwarder = Forwarder(
            settings.home_id, config, self.reader, self.cloud, metrics=self.metrics, depth=self.depth, wake=wake
        )
        self._wire_gauges()
        port = config.metrics_port if metrics_port is None else metrics_port
        self.http = HttpServer(self.metrics, self.health, config.metrics_host, port) if config.metrics else None
        # The edge rules subscribe on a connection of their own and act at once: an alert never waits for the
        # outbox; it reaches the cloud through it (enqueue_local), kept whatever the outbox's size.
        self.rules = EdgeService(settings, clock=clock, uplink=self.enqueue_local) if rules else None

    def enqueue_local(self, channel: Channel, payload: bytes) -> None:
        """Queue one of the gateway's own messages (alert, mode change) for `up/{home}/gateway/{channel}`."""
        topic = topics.uplink(self.settings.home_id, GATEWAY, channel)
        self.inbox.put(Incoming(topic, payload, self.clock(), local=True))

    def _wire_gauges(self) -> None:
        m = self.metrics
        m.outbox_rows.set_function(lambda: self.depth.rows)
        m.outbox_oldest_age.set_function(self._oldest_age)
        m.edge_up.set_function(self.edge.link.connected.is_set)
        m.uplink_up.set_function(self.cloud.connected.is_set)

    def _oldest_age(self) -> float:
        oldest = self.reader.oldest()
        return 0.0 if oldest is None else max(0.0, time.time() - oldest)

    def _edge_up(self) -> None:
        self.writer.resend_watermarks = True

    def _cloud_up(self, _generation: int) -> None:
        payload = encode(Status(online=True, fw=VERSION, ts=time.time()))
        self.cloud.client.publish(self.status_topic, payload, qos=1, retain=True)
        self.forwarder.wake.set()

    @property
    def metrics_port(self) -> int | None:
        """The port `/metrics` is served on (useful when configured as 0)."""
        return self.http.port if self.http else None

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy while the writer and forwarder threads run and the writer ticked recently."""
        stalled = time.monotonic() - self.writer.heartbeat > STALL_S
        ok = self.writer.alive and self.forwarder.alive and not stalled
        return ok, {
            "ok": ok,
            "edge": self.edge.link.connected.is_set(),
            "uplink": self.cloud.connected.is_set(),
            "subscribed": self.edge.subscribed.is_set(),
            "outbox_rows": self.depth.rows,
            "writer_stalled": stalled,
        }

    def start(self) -> None:
        """Start every thread; connections come up in the background and retry on their own."""
        logger.info(
            "gateway starting home=%s edge=%s cloud=%s db=%s outbox_rows=%d",
            self.settings.home_id,
            self.settings.edge_url,
            self.settings.cloud_url,
            self.db_path,
            self.depth.rows,
        )
        if self.http:
            self.http.start()
        self.writer.start()
        self.forwarder.start()
        self.cloud.start()
        self.edge.link.start()
        if self.rules:
            self.rules.start()

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Wait until the edge subscriptions are in place (tests and the demo start publishing after this)."""
        return self.edge.subscribed.wait(timeout)

    def close(self) -> None:
        """Drain: stop intake, commit and ack what was received, wait for uplink PUBACKs, then disconnect."""
        if self.rules:
            self.rules.stop()
        self.edge.open = False
        self.writer.stop()
        left = self.forwarder.stop(self.config.drain_timeout_s)
        offline = encode(Status(online=False, fw=VERSION, ts=time.time()))
        info = self.cloud.client.publish(self.status_topic, offline, qos=1, retain=True)
        if self.cloud.connected.is_set():
            info.wait_for_publish(timeout=2.0)
        self.cloud.stop()
        self.edge.link.stop()
        if self.http:
            self.http.stop()
        self.reader.close()
        self.store.close()
        logger.info("gateway stopped outbox_rows=%d uplink_unacknowledged=%d", self.depth.rows, left)

    def __enter__(self) -> Gateway:
        self.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def _watchdog_interval() -> float:
    """Half of systemd's WatchdogSec (from WATCHDOG_USEC), else 5 s."""
    usec = os.environ.get("WATCHDOG_USEC")
    return int(usec) / 2e6 if usec and usec.isdigit() else 5.0


def run(
    settings: Settings,
    *,
    metrics_port: int | None = None,
    stop: threading.Event | None = None,
    db_path: Path | None = None,
) -> None:
    """Run the gateway until `stop` is set (or SIGTERM/SIGINT when called from the main thread without one)."""
    config = gateway_config(settings)
    if stop is None:
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
    notifier = sdnotify.SystemdNotifier()
    with Gateway(settings, config, metrics_port=metrics_port, db_path=db_path, rules=config.rules) as gateway:
        notifier.notify("READY=1")
        interval = _watchdog_interval()
        while not stop.wait(min(interval, 1.0)):
            if not (gateway.writer.alive and gateway.forwarder.alive):
                # A dead thread (e.g. the disk is full) cannot heal itself: exit non-zero, systemd restarts us.
                raise GatewayError("a gateway thread died (see the error above); exiting for a restart")
            if gateway.health()[0]:
                notifier.notify("WATCHDOG=1")
        notifier.notify("STOPPING=1")
        logger.info("gateway stopping: draining")
