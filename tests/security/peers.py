"""MQTT clients for the security tests, built the way our services build theirs: from a URL with `make_client`."""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from protocol.endpoint import BrokerURL, make_client
from tests.support import wait_for


def attempt(url: str, client_id: str = "probe", timeout: float = 10.0) -> str:
    """Try to log in; "connected", or how it failed (refused with a reason, TLS error, dropped)."""
    return _attempt(url, client_id, timeout)


def _close_sockets(exc: BaseException) -> None:
    """paho 2.2 leaves the socket of a failed TLS handshake open: close it (found in the traceback's frames)."""
    tb = exc.__traceback__
    while tb is not None:
        for value in list(tb.tb_frame.f_locals.values()):
            if isinstance(value, socket.socket):
                value.close()
        tb = tb.tb_next


def _attempt(url: str, client_id: str, timeout: float) -> str:
    parsed = BrokerURL.parse(url)
    client = make_client(parsed, client_id)
    outcome: list[str] = []
    client.on_connect = lambda _c, _u, _f, rc, _p: outcome.append(f"refused: {rc}" if rc.is_failure else "connected")
    client.on_disconnect = lambda _c, _u, _f, rc, _p: outcome.append(f"dropped: {rc}")
    client.on_connect_fail = lambda _c, _u: outcome.append("connect failed")
    try:
        client.connect(parsed.host, parsed.port, keepalive=30)
    except (ssl.SSLError, OSError) as exc:
        _close_sockets(exc)
        return f"tls error: {exc}"

    def answered() -> list[str]:
        # Driven by hand rather than by loop_start: after a refusal paho's thread sleeps a second before it stops.
        client.loop(timeout=0.05)
        return outcome

    wait_for(answered, timeout, f"an answer from {parsed}")
    client.disconnect()
    client.socket() and client.socket().close()  # type: ignore[union-attr]
    return outcome[0]


class Peer:
    """A logged-in client that records what it receives; subscribe and publish wait for the broker's answer."""

    def __init__(self, url: str, client_id: str | None = None) -> None:
        parsed = BrokerURL.parse(url)
        self.client = make_client(parsed, client_id if client_id is not None else parsed.username or "")
        self.messages: list[tuple[str, bytes]] = []
        self.granted: dict[int, list[ReasonCode]] = {}
        self.connects: list[ReasonCode] = []
        self.drops: list[ReasonCode] = []
        self._lock = threading.Lock()
        # A dropped peer must stay dropped: paho's automatic reconnect (after 1 s) would retake a session.
        self.client.reconnect_delay_set(min_delay=3600, max_delay=3600)
        self.client.on_connect = lambda _c, _u, _f, rc, _p: self.connects.append(rc)
        self.client.on_disconnect = lambda _c, _u, _f, rc, _p: self.drops.append(rc)
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.connect(parsed.host, parsed.port, keepalive=30)
        self.client.loop_start()
        wait_for(lambda: self.connects, what=f"CONNACK for {parsed}")
        assert not self.connects[0].is_failure, f"{parsed} refused: {self.connects[0]}"

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, mid: int, codes: list[ReasonCode], _p: Any) -> None:
        self.granted[mid] = codes

    def subscribe(self, *topics: str) -> list[bool]:
        """Subscribe at QoS 1; for each topic, whether the broker granted it."""
        _, mid = self.client.subscribe([(t, 1) for t in topics])
        assert mid is not None
        codes = wait_for(lambda: self.granted.get(mid), what=f"SUBACK for {topics}")
        return [not code.is_failure for code in codes]

    def publish(self, topic: str, payload: bytes = b"{}", retain: bool = False) -> None:
        """Publish at QoS 1 and wait for the PUBACK (which Mosquitto also sends for a publish it denied)."""
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def on(self, topic: str) -> list[bytes]:
        """Payloads received on exactly `topic`."""
        with self._lock:
            return [p for t, p in self.messages if t == topic]

    def topics(self) -> set[str]:
        """Every topic something arrived on."""
        with self._lock:
            return {t for t, _ in self.messages}

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()
