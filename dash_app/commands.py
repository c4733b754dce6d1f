"""Everything the dashboard says over MQTT: switch commands, alarm mode, alert acknowledgements (one module)."""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt

from protocol import GATEWAY, AlarmMode, AlertAck, Channel, Command, ModeChange, ModeState, ProtocolError, encode
from protocol.codec import decode_mode_state
from protocol.endpoint import BrokerURL, make_client
from protocol.topics import edge

logger = logging.getLogger(__name__)
Message = tuple[str, bytes]


class CommandError(Exception):
    """A command could not be handed to the broker; the message is fit for the page."""


def switch_message(home: str, device: str, on: bool) -> Message:
    """`{"switch": on}` on the device's `set` topic."""
    return edge(home, device, Channel.SET), encode(Command(switch=on, id=uuid.uuid4().hex[:12]))


def mode_message(home: str, mode: AlarmMode, by: str | None) -> Message:
    """A mode change request on `gateway/mode/set`."""
    return edge(home, GATEWAY, Channel.MODE_SET), encode(ModeChange(mode=mode, by=by))


def ack_message(home: str, alert_id: str, by: str) -> Message:
    """An acknowledgement of an alert on `gateway/alerts/ack`; the gateway records who and when."""
    return edge(home, GATEWAY, Channel.ALERTS_ACK), encode(AlertAck(id=alert_id, by=by))


class Commander:
    """One edge-broker connection: publishes commands (QoS 1) and follows the retained alarm mode."""

    def __init__(self, url: BrokerURL, home: str) -> None:
        self.home = home
        self.mode: ModeState | None = None
        self.connected = False
        self._lost = False
        self._lock = threading.Lock()
        self._mode_topic = edge(home, GATEWAY, Channel.MODE)
        self.client = make_client(url, f"dash-{home}-{uuid.uuid4().hex[:8]}")
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_connect_fail = self._on_connect_fail
        self.url = url

    def start(self) -> None:
        """Connect in the background; paho reconnects by itself after a loss."""
        self.client.connect_async(self.url.host, self.url.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        with self._lock:
            self.connected = False  # a stop is not a loss: nothing to warn about
        self.client.disconnect()
        self.client.loop_stop()

    def send(self, message: Message) -> None:
        """Publish one command with QoS 1; CommandError when the broker is not connected."""
        topic, payload = message
        if not self.connected:
            raise CommandError("not connected to the home's broker; try again in a moment")
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise CommandError(f"the broker refused the command ({mqtt.error_string(info.rc)})")
        logger.info("command sent topic=%s", topic)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            logger.warning("edge broker refused the dashboard: %s", reason)
            return
        client.subscribe(self._mode_topic, qos=1)
        with self._lock:
            self.connected = True
        logger.info("edge broker %s at %s", "reconnected" if self._lost else "connected", self.url)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._lock:
            if self.connected:
                logger.warning("edge broker connection lost: %s", reason)
            self.connected, self._lost = False, True

    def _on_connect_fail(self, _c: mqtt.Client, _u: Any) -> None:
        with self._lock:
            if not self._lost:
                logger.warning("edge broker %s not reachable; commands are off until it is", self.url)
            self._lost = True

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self.mode = decode_mode_state(bytes(msg.payload))
        except ProtocolError as exc:
            logger.warning("ignored a bad alarm mode on %s: %s", msg.topic, exc.reason.value)
