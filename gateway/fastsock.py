"""A read-buffered socket for paho: one recv() per burst of packets instead of three or more per packet.

paho-mqtt 2.2 reads each packet with separate recv() calls (command byte, each length byte, then the body) and
polls select() before every packet, which at thousands of QoS 1 messages a second is most of the gateway's CPU.
paho already skips select() while an SSL socket reports `pending()` bytes; this wrapper reports its own buffer
the same way, so buffered packets are read without waiting. Everything but recv() goes to the real socket.
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

CHUNK = 256 * 1024


class BufferedSocket:
    """Wraps a (TLS or plain) socket: `recv` serves from a buffer filled 256 KiB at a time."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buffer = b""
        self._pos = 0

    def recv(self, size: int) -> bytes:
        """Up to `size` bytes, from the buffer when it has any (a short read is fine: paho loops)."""
        if self._pos >= len(self._buffer):
            self._buffer, self._pos = self._sock.recv(max(size, CHUNK)), 0
            if not self._buffer:
                return b""
        end = self._pos + size
        data = self._buffer[self._pos : end]
        self._pos = min(end, len(self._buffer))
        return data

    @property
    def buffered(self) -> int:
        """Bytes received and not yet handed to paho."""
        return len(self._buffer) - self._pos

    def pending(self) -> int:
        """Bytes readable without touching the network (paho skips select() while this is > 0)."""
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buffer) - self._pos + int(inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


MAX_PACKETS_PER_READ = 1000  # then paho's loop gets to write (PUBACKs, publishes) before reading on


class BufferedClient(mqtt.Client):
    """A paho client whose socket reads are buffered (see the module docstring)."""

    def _create_socket(self) -> Any:
        return BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """paho reads one packet per select(); go on while whole packets wait in the buffer."""
        rc = super().loop_read(max_packets)
        for _ in range(MAX_PACKETS_PER_READ):
            sock = self._sock
            if rc != mqtt.MQTT_ERR_SUCCESS or not isinstance(sock, BufferedSocket) or not sock.buffered:
                break
            rc = super().loop_read(max_packets)
        return rc
