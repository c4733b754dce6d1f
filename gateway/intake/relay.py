"""A Committer for the gateway as it is: publish each HTTP/CoAP message on the edge broker as its device would,
then wait for the gateway's durable watermark (`iot/{home}/{device}/ack`) to pass it. So the extra intakes feed
the very same pipeline as MQTT, and 202 means "in the outbox".

The watermark counts "stored with none missing below", so a device posting over HTTP numbers its messages from
0 or 1 per boot, like every device (DESIGN.md, Delivery guarantees); the gateway publishes it about once a second,
which bounds how long an answer takes."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import paho.mqtt.client as mqtt

from gateway.intake.body import CommitError
from protocol import Channel, ProtocolError, Telemetry, decode_watermark, encode, topics


class WatermarkRelay:
    """Publish, then wait until every message's (boot, seq) is at or below its device's watermark."""

    def __init__(self, client: mqtt.Client, home: str, timeout_s: float = 5.0) -> None:
        self.client, self.home, self.timeout_s = client, home, timeout_s
        self._marks: dict[str, tuple[str, int]] = {}
        self._changed = threading.Condition()

    def on_watermark(self, device: str, payload: bytes) -> None:
        """Feed a message from `iot/{home}/{device}/ack` (the runner subscribes to them)."""
        try:
            mark = decode_watermark(payload)
        except ProtocolError:
            return
        with self._changed:
            self._marks[device] = (mark.boot, mark.seq)
            self._changed.notify_all()

    def commit(self, messages: Sequence[Telemetry], received_at: float, source: str) -> None:
        """Publish with QoS 1 and wait for the watermark; CommitError after `timeout_s`."""
        if not self.client.is_connected():
            raise CommitError("the edge broker is not connected")
        for msg in messages:
            self.client.publish(topics.edge(self.home, msg.device, Channel.TELEMETRY), encode(msg), qos=1)
        deadline = time.monotonic() + self.timeout_s
        with self._changed:
            while not all(self._stored(m) for m in messages):
                left = deadline - time.monotonic()
                if left <= 0 or not self._changed.wait(left):
                    raise CommitError(f"the gateway did not confirm storage within {self.timeout_s:.0f} s")

    def _stored(self, msg: Telemetry) -> bool:
        mark = self._marks.get(msg.device)
        return mark is not None and mark[0] == msg.boot and mark[1] >= msg.seq
