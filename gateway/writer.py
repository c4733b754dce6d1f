"""The writer thread: runs the pipeline over a batch, commits it to the outbox, then acks and publishes watermarks."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from gateway import pipeline
from gateway.events import EventKind, GatewayEvent, encode_event
from gateway.marks import Marks
from gateway.metrics import GatewayMetrics
from gateway.pipeline import Incoming
from gateway.rejects import RejectLog
from gateway.settings import GatewayConfig
from gateway.store import Store
from gateway.watermarks import WatermarkSchedule
from protocol import GATEWAY, Channel, ProtocolError, Watermark, encode, topics
from protocol.config import HomeConfig

logger = logging.getLogger(__name__)
STOP = None  # put on the inbox to end the writer after what is queued before it


class Edge(Protocol):
    """What the writer needs of the edge connection."""

    @property
    def generation(self) -> int:
        """Which connection is current."""

    def ack(self, mid: int, qos: int) -> None:
        """Send the PUBACK of a message."""

    def publish(self, topic: str, payload: bytes, retain: bool) -> None:
        """Publish with QoS 1."""


class Depth:
    """Rows in the outbox, counted by the writer (+) and the forwarder (-) instead of `count(*)` on each batch."""

    def __init__(self, rows: int) -> None:
        self._rows = rows
        self._lock = threading.Lock()

    def add(self, delta: int) -> None:
        """Count rows stored (positive) or deleted (negative)."""
        with self._lock:
            self._rows += delta

    def set(self, rows: int) -> None:
        """Reset to an exact count."""
        with self._lock:
            self._rows = rows

    @property
    def rows(self) -> int:
        """The current count."""
        return self._rows


@dataclass(slots=True)
class Batch:
    """What one batch produced, written in one transaction."""

    rows: list[tuple[str, bytes, int, int, float]] = field(default_factory=list)
    rejected: list[tuple[float, str, bytes, str, str]] = field(default_factory=list)
    dead_letters: list[bytes] = field(default_factory=list)
    replayed: list[int] = field(default_factory=list)  # kept rejections run again: forgotten in the same commit
    accepted: int = 0
    duplicates: int = 0
    statuses: int = 0


class Writer:
    """Owns the intake side of the database; everything here runs on its one thread."""

    def __init__(
        self,
        home: HomeConfig,
        config: GatewayConfig,
        store: Store,
        edge: Edge,
        *,
        metrics: GatewayMetrics,
        depth: Depth,
        wake: threading.Event,
        inbox: queue.SimpleQueue[Incoming | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.home, self.config, self.store, self.edge = home, config, store, edge
        self.metrics, self.depth, self.wake, self.clock = metrics, depth, wake, clock
        self.home_id = home.home.id
        self.inbox = inbox
        self.resend_watermarks = False  # set by the edge connection after a reconnect
        self.topics = pipeline.TopicCache(self.home_id)
        self.marks = Marks(config.dedup_boots)
        store.load_marks(self.marks)
        self.schedule = WatermarkSchedule(config.watermark_interval_s)
        self.rejects = RejectLog(config.reject_log_interval_s, clock)
        self.statuses: dict[str, bytes] = {}
        self.heartbeat = time.monotonic()
        self._uplink_topics: dict[str, str] = {}
        self._thread = threading.Thread(target=self._run, name="gateway-writer", daemon=True)

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Process and commit what is queued, then end the thread."""
        self.inbox.put(STOP)
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while True:
                batch, stop = self._collect()
                if batch:
                    self.process(batch)
                self.tick()
                if stop:
                    return
        except Exception:
            logger.exception("writer stopped: nothing more is stored or acknowledged")
            raise

    def _collect(self) -> tuple[list[Incoming], bool]:
        """Block for the first message (or a tick), then take what arrives within batch_wait_ms."""
        try:
            first = self.inbox.get(timeout=0.25)
        except queue.Empty:
            return [], False
        if first is STOP:
            return [], True
        batch = [first]
        deadline = time.monotonic() + self.config.batch_wait_ms / 1000
        while len(batch) < self.config.batch_size:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self.inbox.get(timeout=remaining)
                except queue.Empty:
                    break
            if item is STOP:
                self.inbox.put(STOP)
                break
            batch.append(item)
        return batch, False

    def process(self, messages: list[Incoming], replayed: list[int] | None = None) -> None:
        """Run the pipeline over a batch, commit it, then acknowledge every message and publish watermarks."""
        batch = Batch(replayed=replayed or [])
        self.metrics.received.inc(len(messages))
        for message in messages:
            self._handle(message, batch)
        self._commit(batch)
        generation = self.edge.generation
        for message in messages:
            if message.qos and message.generation == generation:
                self.edge.ack(message.mid, message.qos)
        self._count(batch)
        for payload in batch.dead_letters:
            self.edge.publish(topics.edge(self.home_id, GATEWAY, Channel.REJECTED), payload, False)
        self.publish_watermarks()

    def _handle(self, message: Incoming, batch: Batch) -> None:
        """One message through the pipeline: a stored row, a repeat, a status change or a rejection."""
        if message.local:  # the gateway's own alerts and events: kept whatever the outbox's size (keep=1)
            batch.rows.append((message.topic, message.payload, 1, 0, message.received_at))
            return
        try:
            topic = self.topics.parse(message.topic)
            if topic.channel is Channel.STATUS:
                self._status(topic.device, message, batch)
                return
            telemetry = pipeline.validate(topic, message.payload, message.received_at)
            device = pipeline.lookup(self.home, telemetry.device, self.config.register_unknown)
        except ProtocolError as error:
            self._reject(error, message, batch)
            return
        if not self.marks.observe(telemetry.device, telemetry.boot, telemetry.seq, message.received_at):
            batch.duplicates += 1
            return
        uplink = pipeline.enrich(telemetry, message.received_at, device)
        keep = pipeline.is_security(telemetry)
        batch.rows.append((self._uplink_topic(telemetry.device), encode(uplink), keep, 1, message.received_at))
        batch.accepted += 1

    def _uplink_topic(self, device: str) -> str:
        found = self._uplink_topics.get(device)
        if found is None:
            found = self._uplink_topics[device] = topics.uplink(self.home_id, device, Channel.TELEMETRY)
        return found

    def _status(self, device: str, message: Incoming, batch: Batch) -> None:
        """Forward a device's status when it differs from the last one seen."""
        status = pipeline.validate_status(message.payload)
        pipeline.lookup(self.home, device, self.config.register_unknown)
        if device == GATEWAY or self.statuses.get(device) == message.payload:
            return
        self.statuses[device] = message.payload
        event = GatewayEvent(EventKind.STATUS, message.received_at, device=device, status=status)
        self._event(event, batch)
        batch.statuses += 1

    def _event(self, event: GatewayEvent, batch: Batch) -> None:
        topic = topics.uplink(self.home_id, GATEWAY, Channel.EVENTS)
        batch.rows.append((topic, encode_event(event), 1, 0, event.ts))

    def _reject(self, error: ProtocolError, message: Incoming, batch: Batch) -> None:
        rejection = pipeline.rejection(error, message)
        self.rejects.record(rejection)
        self.metrics.rejected.labels(error.reason.value).inc()
        if self.config.rejected_keep:
            row = (message.received_at, message.topic, message.payload, error.reason.value, error.detail)
            batch.rejected.append(row)
        batch.dead_letters.append(encode(rejection))

    def _commit(self, batch: Batch) -> None:
        """One durable transaction for the batch and the dedup marks it moved; an error here is fatal (systemd
        restarts us, nothing was acked). Marks go with every commit so that a published watermark is always
        backed by saved marks, and a restart never takes a seq the devices already freed for missing."""
        started = time.perf_counter()
        saved, forget = self.marks.take_dirty(), self.marks.stale_boots()
        self.store.commit(batch.rows, saved, forget, batch.rejected, batch.replayed)
        self.metrics.commit_seconds.observe(time.perf_counter() - started)
        if batch.rows:
            self.depth.add(len(batch.rows))
            self.wake.set()
        if batch.rejected and self.store.trim_rejected(self.config.rejected_keep):
            logger.info("kept rejections trimmed to the newest %d", self.config.rejected_keep)

    def _count(self, batch: Batch) -> None:
        self.metrics.accepted.inc(batch.accepted)
        if batch.duplicates:
            self.metrics.duplicates.inc(batch.duplicates)
        if batch.statuses:
            self.metrics.status_changes.inc(batch.statuses)

    def publish_watermarks(self) -> None:
        """Publish the watermarks that are due, retained.

        Retained because of reconnects: a device that comes back (after a Wi-Fi drop, or a gateway restart
        that happened while it was away) gets its watermark the moment it subscribes, frees what is already
        stored and resends only the rest, instead of resending everything until the next reading moves the
        mark. It carries the boot, so a rebooted device ignores its previous life's mark, and a stale one
        only ever understates what is stored (after a broker crash loses it, every mark is sent again).
        """
        if self.resend_watermarks:
            self.resend_watermarks = False
            self.schedule.resend_all()
        for device in list(self.marks.latest):
            found = self.marks.watermark(device)
            if found is not None:
                self.schedule.update(device, *found)
        due = self.schedule.due(time.monotonic())
        for device, boot, seq in due:
            payload = encode(Watermark(boot=boot, seq=seq))
            self.edge.publish(topics.edge(self.home_id, device, Channel.ACK), payload, True)
        if due:
            self.metrics.watermarks.inc(len(due))

    def tick(self) -> None:
        """Periodic work between batches: give up old gaps, bound the outbox, publish due watermarks."""
        self.heartbeat = time.monotonic()
        lost = self.marks.expire(self.clock(), self.config.gap_timeout_s)
        batch = Batch()
        for device, boot, first, last in lost:
            count = last - first + 1
            logger.warning("lost device=%s boot=%s seq=%d..%d (%d readings)", device, boot, first, last, count)
            self.metrics.lost.inc(count)
            self.metrics.lost_gaps.inc()
            self._event(GatewayEvent(EventKind.LOST, self.clock(), device, boot, first, last, count), batch)
        if lost:
            self._commit(batch)
        self._replay()
        self._bound_outbox()
        self.publish_watermarks()

    def _replay(self) -> None:
        """Run kept rejections flagged by `replay-rejected` through the pipeline again, with today's config."""
        rows = self.store.replays(self.config.batch_size)
        if rows:
            self.process([Incoming(topic, payload, at) for _, topic, payload, at in rows], [i for i, *_ in rows])
            logger.info("replayed %d kept rejections", len(rows))

    def _bound_outbox(self) -> None:
        """Over the configured size, drop the oldest routine telemetry (1% at a time); never alerts or security."""
        excess = self.depth.rows - self.config.outbox_max_rows
        if excess <= 0:
            return
        dropped, _ = self.store.drop_oldest(excess + max(1, self.config.outbox_max_rows // 100))
        self.depth.add(-dropped)
        if not dropped:
            return
        self.metrics.dropped.inc(dropped)
        logger.warning("outbox full (%d rows): dropped the %d oldest routine readings", self.depth.rows, dropped)
        batch = Batch()
        self._event(GatewayEvent(EventKind.DROPPED, self.clock(), count=dropped), batch)
        self._commit(batch)
