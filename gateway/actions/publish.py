"""Alerts and the alarm mode on the edge broker, and (through a callback the spine gives) on the cloud uplink."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt

from protocol import GATEWAY, Alert, Channel, ModeState, encode, topics

logger = logging.getLogger(__name__)


class AlertPublisher:
    """Publishes each alert on `iot/{home}/gateway/alerts` (QoS 1) and the mode, retained, on `gateway/mode`."""

    def __init__(self, client: mqtt.Client, home: str) -> None:
        self.client = client
        self.alerts_topic = topics.edge(home, GATEWAY, Channel.ALERTS)
        self.mode_topic = topics.edge(home, GATEWAY, Channel.MODE)

    def on_alert(self, alert: Alert) -> None:
        """Publish an alert state (paho queues it while the broker is away)."""
        self.client.publish(self.alerts_topic, encode(alert), qos=1)
        if threading.current_thread() is getattr(self.client, "_thread", None):
            # On paho's own network thread (the rules run in its callback) the packet would wait until every
            # other action returned; write it now. Safe: this thread is the only one that writes the socket.
            self.client.loop_write()

    def on_mode(self, state: ModeState) -> None:
        """Publish the mode, retained, so every client (and the gateway after a restart) knows it."""
        self.client.publish(self.mode_topic, encode(state), qos=1, retain=True)


Enqueue = Callable[[Channel, bytes], None]


class UplinkSink:
    """Hands alerts and mode changes to the outbox (`enqueue(channel, payload)`), which must never drop them."""

    def __init__(self, enqueue: Enqueue) -> None:
        self.enqueue = enqueue

    def on_alert(self, alert: Alert) -> None:
        """Alerts go to `up/{home}/gateway/alerts`."""
        self.enqueue(Channel.ALERTS, encode(alert))

    def on_mode(self, state: ModeState) -> None:
        """Mode changes are events: `up/{home}/gateway/events`."""
        self.enqueue(Channel.EVENTS, encode(state))
