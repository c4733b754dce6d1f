"""The forwarder: drains the outbox in order to the cloud broker, QoS 1, bounded in flight, rows deleted on PUBACK."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from gateway.link import Link
from gateway.metrics import GatewayMetrics
from gateway.settings import GatewayConfig
from gateway.store import OutboxReader, Row
from gateway.writer import Depth
from protocol import topics

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One uplink message covering the outbox rows `first`..`last` (ids in order, none between left out)."""

    topic: str
    payload: bytes
    first: int
    last: int


def pack(rows: list[Row], batch_topic: str, batch_size: int) -> list[Outgoing]:
    """Group consecutive telemetry rows into JSON arrays of up to `batch_size`; events travel alone."""
    out: list[Outgoing] = []
    run: list[Row] = []

    def flush() -> None:
        if len(run) == 1:
            out.append(Outgoing(run[0].topic, run[0].payload, run[0].id, run[0].id))
        elif run:
            out.append(Outgoing(batch_topic, b"[" + b",".join(r.payload for r in run) + b"]", run[0].id, run[-1].id))
        run.clear()

    for row in rows:
        if not row.batchable or batch_size == 1:
            flush()
            out.append(Outgoing(row.topic, row.payload, row.id, row.id))
            continue
        run.append(row)
        if len(run) >= batch_size:
            flush()
    flush()
    return out


class Forwarder:
    """Owns the delete side of the outbox; its thread publishes, and settles PUBACKs the network thread reports."""

    def __init__(
        self,
        home_id: str,
        config: GatewayConfig,
        reader: OutboxReader,
        link: Link,
        *,
        metrics: GatewayMetrics,
        depth: Depth,
        wake: threading.Event,
    ) -> None:
        self.config, self.reader, self.link, self.metrics = config, reader, link, metrics
        self.depth, self.wake = depth, wake
        self.batch_topic = topics.uplink_batch(home_id)
        self.cursor = 0  # highest row id handed to paho; after a restart everything left is sent again
        self.inflight: dict[int, Outgoing] = {}
        self.done: queue.SimpleQueue[tuple[int, bool]] = queue.SimpleQueue()
        self.retry: list[tuple[float, Outgoing]] = []
        self._stopping = threading.Event()
        link.client.on_publish = self._on_publish
        self._thread = threading.Thread(target=self._run, name="gateway-forwarder", daemon=True)

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        # Runs on paho's network thread: hand on, nothing more (the dict belongs to the forwarder thread).
        self.done.put((mid, not reason.is_failure))
        self.wake.set()

    def start(self) -> None:
        """Start the forwarder thread."""
        self._thread.start()

    def stop(self, timeout: float) -> int:
        """Stop sending new rows, wait up to `timeout` s for PUBACKs of those in flight; returns how many remain."""
        self._stopping.set()
        self.wake.set()
        self._thread.join()
        deadline = time.monotonic() + timeout
        while self.inflight and time.monotonic() < deadline:
            self._settle(block=0.05)
        return len(self.inflight)

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self.wake.wait(0.5)
                self.wake.clear()
                self._settle()
                self._send()
        except Exception:
            logger.exception("forwarder stopped: nothing more goes to the cloud")
            raise

    def _settle(self, block: float = 0.0) -> None:
        """Delete the rows of every message the cloud broker acknowledged; schedule refused ones again."""
        ranges: list[tuple[int, int]] = []
        try:
            mid, ok = self.done.get(timeout=block) if block else self.done.get_nowait()
            while True:
                message = self.inflight.pop(mid, None)
                if message is not None and ok:
                    ranges.append((message.first, message.last))
                elif message is not None:
                    logger.error("cloud broker refused an uplink message topic=%s; retrying", message.topic)
                    self.retry.append((time.monotonic() + self.config.backoff_max_s, message))
                mid, ok = self.done.get_nowait()
        except queue.Empty:
            pass
        if ranges:
            deleted = self.reader.delete(ranges)
            self.depth.add(-deleted)
            self.metrics.forwarded.inc(deleted)

    def _send(self) -> None:
        """Publish rows after the cursor while fewer than max_inflight messages await their PUBACK."""
        now = time.monotonic()
        for item in [r for r in self.retry if r[0] <= now]:
            self.retry.remove(item)
            self._publish(item[1])
        if not self.link.connected.is_set():
            return  # the outbox is the buffer; paho re-sends what is already in flight after a reconnect
        room = self.config.max_inflight - len(self.inflight)
        while room > 0 and not self._stopping.is_set():
            # A few messages' worth per read: reading all that may fly at once costs memory for nothing.
            rows = self.reader.fetch(self.cursor, min(room, 8) * self.config.uplink_batch)
            if not rows:
                return
            messages = pack(rows, self.batch_topic, self.config.uplink_batch)[:room]
            for message in messages:
                self._publish(message)
            self.cursor = messages[-1].last
            room = self.config.max_inflight - len(self.inflight)

    def _publish(self, message: Outgoing) -> None:
        info = self.link.client.publish(message.topic, message.payload, qos=1)
        # paho queues QoS 1 messages while disconnected and sends them on reconnect; any other code is a bug here.
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise RuntimeError(f"paho refused to queue an uplink message: {mqtt.error_string(info.rc)}")
        self.inflight[info.mid] = message
        self.metrics.uplink_messages.inc()
