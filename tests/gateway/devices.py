"""Test-side devices and cloud: a publisher that honours the watermark, and a subscriber of the uplink."""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from protocol import Uplink, decode_uplink, decode_uplink_batch, decode_watermark


def reading(seq: int, kind: str = "temperature") -> dict[str, Any]:
    """A valid reading whose value tells the seq apart."""
    if kind == "contact":
        return {"kind": "contact", "value": seq % 2 == 0}
    return {"kind": "temperature", "value": round(20 + (seq % 100) / 10, 1), "unit": "°C"}


class TestDevice:
    """A device as DESIGN.md describes it: QoS 1, an outbox freed only by the gateway's watermark, resends on
    reconnect (or when asked to, standing in for the resend timer) with the same key."""

    __test__ = False  # not a pytest class

    def __init__(self, url_host: str, port: int, home: str, device: str, kind: str = "temperature") -> None:
        self.home, self.device, self.kind = home, device, kind
        self.boot = secrets.token_hex(4)
        self.seq = 0
        self.outbox: dict[int, bytes] = {}
        self.watermark = 0
        self._lock = threading.Lock()
        self._connects = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{home}-{device}", protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(0)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]  # paho sleeps float seconds
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.connect_async(url_host, port)
        self.client.loop_start()

    @property
    def topic(self) -> str:
        """The device's telemetry topic."""
        return f"iot/{self.home}/{self.device}/telemetry"

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            return
        client.subscribe(f"iot/{self.home}/{self.device}/ack", qos=1)
        self._connects += 1
        if self._connects > 1:
            self.resend()

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        mark = decode_watermark(bytes(message.payload))
        if mark.boot != self.boot:
            return
        with self._lock:
            self.watermark = max(self.watermark, mark.seq)
            for seq in [s for s in self.outbox if s <= mark.seq]:
                del self.outbox[seq]

    def payload(self, seq: int) -> bytes:
        """The telemetry message of `seq`."""
        body = {
            "v": 1,
            "device": self.device,
            "boot": self.boot,
            "seq": seq,
            "ts": time.time(),
            "readings": [reading(seq, self.kind)],
        }
        return msgspec.json.encode(body)

    def send(self, count: int = 1) -> list[int]:
        """Publish `count` new readings (QoS 1); they stay in the outbox until the watermark passes them."""
        sent = []
        for _ in range(count):
            with self._lock:
                self.seq += 1
                payload = self.outbox[self.seq] = self.payload(self.seq)
            self.client.publish(self.topic, payload, qos=1)
            sent.append(self.seq)
        return sent

    def resend(self) -> int:
        """Send again, in order and with the same key, everything the watermark has not passed."""
        with self._lock:
            pending = sorted(self.outbox.items())
        for _, payload in pending:
            self.client.publish(self.topic, payload, qos=1)
        return len(pending)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


class CloudSubscriber:
    """A cloud-side reader of `up/{home}/#` with a persistent session, keeping every uplink message in order."""

    def __init__(self, host: str, port: int, home: str) -> None:
        self.home = home
        self.uplinks: list[Uplink] = []
        self.other: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"cloud-{home}"[:60], protocol=mqtt.MQTTv5)
        self.client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]  # paho sleeps float seconds
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 3600
        self.client.connect_async(host, port, clean_start=False, properties=properties)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise AssertionError("cloud subscriber could not subscribe")

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            client.subscribe(f"up/{self.home}/#", qos=1)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        topic, payload = message.topic, bytes(message.payload)
        with self._lock:
            if topic.endswith("/batch"):
                self.uplinks.extend(decode_uplink_batch(payload))
            elif topic.endswith("/telemetry"):
                self.uplinks.append(decode_uplink(payload))
            else:
                self.other.append((topic, payload))

    def received(self) -> list[tuple[str, str, int]]:
        """Identity keys of every uplink received, repeats included, in arrival order."""
        with self._lock:
            return [u.key for u in self.uplinks]

    def on(self, suffix: str) -> list[bytes]:
        """Payloads of non-telemetry messages on topics ending with `suffix`."""
        with self._lock:
            return [p for t, p in self.other if t.endswith(suffix)]

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()
