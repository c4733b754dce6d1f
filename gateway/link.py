"""One broker connection: paho's network thread, reconnect with exponential backoff and jitter, state logged once."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.fastsock import BufferedClient
from protocol.endpoint import BrokerURL, make_client

logger = logging.getLogger(__name__)


class Backoff:
    """Exponential delays with "equal jitter": half the step fixed, half random, so peers do not retry in step."""

    def __init__(self, minimum: float, maximum: float, rng: random.Random | None = None) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.attempt = 0
        self.rng = rng or random.Random()

    def next(self) -> float:
        """The delay before the next attempt."""
        step = min(self.maximum, self.minimum * (1 << self.attempt))
        self.attempt = min(self.attempt + 1, 32)
        return step / 2 + self.rng.uniform(0, step / 2)

    def reset(self) -> None:
        """Connected: start again from the minimum."""
        self.attempt = 0


class Link:
    """A paho client kept connected by its own thread; `on_up(generation)` runs on every (re)connect."""

    def __init__(
        self,
        name: str,
        url: BrokerURL,
        client_id: str,
        *,
        backoff: Backoff,
        keepalive: int,
        clean_start: bool = True,
        session_expiry: int = 0,
        receive_maximum: int | None = None,
        manual_ack: bool = False,
        on_up: Callable[[int], None] | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.backoff = backoff
        self.on_up = on_up
        self.generation = 0
        self.connected = threading.Event()
        self._was_up = False
        self._down_logged = False
        self._stopping = False
        self.client = make_client(
            url, client_id, clean_start=clean_start, manual_ack=manual_ack, client_class=BufferedClient
        )
        self.client.max_inflight_messages_set(0)  # the caller bounds what is in flight; 0 = no paho limit
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = session_expiry
        if receive_maximum:
            # MQTT 5 flow control: the broker sends no more than this many unacknowledged messages.
            properties.ReceiveMaximum = receive_maximum
        self.client.connect_async(
            url.host, url.port, keepalive=keepalive, clean_start=clean_start, properties=properties
        )
        self._schedule()

    def will(self, topic: str, payload: bytes) -> None:
        """Set the last will (retained, QoS 1); call before `start`."""
        self.client.will_set(topic, payload, qos=1, retain=True)

    def start(self) -> None:
        """Start the network thread; it connects and reconnects on its own."""
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect cleanly (queued packets go out first) and stop the network thread."""
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()
        self.connected.clear()

    def _schedule(self) -> None:
        # paho sleeps min_delay before its next attempt; setting both bounds to our delay puts the policy here.
        delay = self.backoff.next()
        self.client.reconnect_delay_set(min_delay=delay, max_delay=delay)  # type: ignore[arg-type]

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._went_down(f"refused: {reason}")
            return
        self.generation += 1
        self.backoff.reset()
        self._schedule()
        if self._down_logged:
            logger.info("%s broker connection recovered url=%s", self.name, self.url)
        elif not self._was_up:
            logger.info("%s broker connected url=%s", self.name, self.url)
        self._was_up, self._down_logged = True, False
        self.connected.set()
        if self.on_up is not None:
            self.on_up(self.generation)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connected.clear()
        if not self._stopping:
            self._went_down(str(reason))

    def _on_connect_fail(self, _c: mqtt.Client, _u: Any) -> None:
        self._went_down("cannot connect")

    def _went_down(self, why: str) -> None:
        """Log the loss once (not every retry) and pick the next delay."""
        if not self._down_logged:
            logger.warning("%s broker connection lost url=%s reason=%s; retrying", self.name, self.url, why)
            self._down_logged = True
        self._schedule()
